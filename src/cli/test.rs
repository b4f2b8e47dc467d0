//! `sovra test`: run case files against a policy set, and prove the
//! assertions its policy files make.

use super::*;
use sovra::testing::{Coverage, Suite};

/// The test run's options.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  sovra test                                   # the bundled library's own tests
  sovra test --policies policies/ --coverage   # every *.test.json under policies/, with coverage
  sovra test --policies my-policies/ cases/transfers.test.json --threshold 90")]
pub(super) struct Args {
    #[command(flatten)]
    policy: PolicyArgs,
    /// Case files (`*.test.json`) or folders holding them. Absent: every
    /// `*.test.json` under the --policies folders, or the bundled library's
    /// own tests.
    #[arg(value_name = "CASES")]
    cases: Vec<PathBuf>,
    /// Report how often each rule was considered and applied, and each
    /// condition seen true and false.
    #[arg(long)]
    coverage: bool,
    /// The coverage report's format.
    #[arg(long, value_enum, default_value = "text", requires = "coverage")]
    coverage_format: CoverageFormat,
    /// Fail (exit 1) when fewer than this percentage of rules applied at
    /// least once.
    #[arg(long, value_name = "PERCENT", requires = "coverage")]
    threshold: Option<f64>,
}

/// How coverage is printed.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum CoverageFormat {
    /// For a person.
    Text,
    /// For tools.
    Json,
}

/// A case file: its name, text, and where its documents are read from.
struct File {
    name: String,
    text: String,
    dir: Option<PathBuf>,
}

pub(super) fn run(a: Args) -> Result<u8, Fail> {
    let program = program(&a.policy)?;
    let files: Vec<File> = if !a.cases.is_empty() || !a.policy.policies.is_empty() {
        let roots = if a.cases.is_empty() {
            &a.policy.policies
        } else {
            &a.cases
        };
        let found = sovra::testing::discover(roots);
        if found.is_empty() && (!a.cases.is_empty() || program.assertions.is_empty()) {
            return Err(Fail(format!(
                "no `*.test.json` case files under {}",
                roots
                    .iter()
                    .map(|p| format!("`{}`", p.display()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        found
            .into_iter()
            .map(|p| {
                Ok(File {
                    name: name(&p),
                    text: read(&p)?,
                    dir: Some(p.parent().map_or_else(PathBuf::new, Path::to_path_buf)),
                })
            })
            .collect::<Result<_, Fail>>()?
    } else {
        sovra::policy::BUNDLED_TESTS
            .iter()
            .map(|(n, t)| File {
                name: n.to_string(),
                text: t.to_string(),
                dir: None,
            })
            .collect()
    };
    let mut coverage = Coverage::new(&program);
    let (mut passed, mut failed) = (0usize, 0usize);
    for f in &files {
        let suite = Suite::from_json(&f.text, &f.name)?;
        let prepared = match &f.dir {
            Some(dir) => suite.prepare(dir, &f.name, &program)?,
            None => {
                let read = |n: &str| {
                    sovra::policy::bundled_test_document(n)
                        .map(str::to_string)
                        .ok_or_else(|| "not a bundled document".to_string())
                };
                suite.prepare_with(Path::new(""), &f.name, &program, &read)?
            }
        };
        for result in prepared.run() {
            if let Some(d) = &result.decision {
                coverage.add(d);
            }
            match &result.failure {
                None => passed += 1,
                Some(why) => {
                    failed += 1;
                    outln!("FAIL {}: {}", f.name, result.name);
                    outln!("  {why}");
                    if let Some(d) = &result.decision {
                        for line in sovra::explain::render(d).lines() {
                            outln!("  | {line}");
                        }
                    }
                    outln!();
                }
            }
        }
    }
    // The policy files' own assertions, proved over every request on the
    // bundled catalog and no grants (`under any grants`: whatever grants).
    if !program.assertions.is_empty() {
        let outcomes = sovra::analysis::verify::verify(
            &sources(&a.policy)?,
            &[],
            &sovra::documents::bundled_regions(),
            &sovra::documents::Grants::default(),
            chrono::Utc::now(),
            false,
        )
        .map_err(Fail)?;
        for o in outcomes {
            if o.holds {
                passed += 1;
                continue;
            }
            failed += 1;
            outln!("FAIL assertion {} ({})", o.name, o.at);
            super::verify::refutation(&o, "  ");
            outln!();
        }
    }
    let mut below = false;
    if a.coverage {
        match a.coverage_format {
            CoverageFormat::Text => out!("{}", coverage.render()),
            CoverageFormat::Json => {
                let mut v = serde_json::to_value(&coverage)?;
                if let Some(o) = v.as_object_mut() {
                    o.insert(
                        "applied_percent".into(),
                        serde_json::json!(coverage.applied_percent()),
                    );
                }
                outln!("{v}");
            }
        }
        if let Some(t) = a.threshold {
            below = coverage.applied_percent() < t;
            if below {
                eprintln!(
                    "sovra: coverage {:.1}% is below the threshold {t}%",
                    coverage.applied_percent()
                );
            }
        }
    }
    outln!("{passed} passed, {failed} failed");
    Ok(if failed > 0 || below { 1 } else { 0 })
}
