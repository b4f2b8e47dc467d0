//! `sovra verify`: assertions about a policy set, proved over every
//! request or refuted with a counterexample (docs/analysis.md).

use super::*;
use sovra::analysis::verify::verify;

/// The verification's options.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  sovra verify                                 # the bundled library's own assertions
  sovra verify --policies policies/ --any-grants review.assert
  sovra verify 'assert no_us: never allow when action == store and target.country == US'

Exit status: 0 when every assertion holds, 1 when one does not (with a
counterexample and the policy's decision on it), 2 on an error.")]
pub(super) struct Args {
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    docs: DocArgs,
    /// Whatever grants anyone is given: every `exists grant` condition may
    /// hold or not, independently (instead of the grants document).
    #[arg(long)]
    any_grants: bool,
    /// The instant to decide at (RFC 3339). Absent: now.
    #[arg(long, value_name = "TIME")]
    time: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Files of assertions (`assert NAME: never allow when CONDITION`), or
    /// one assertion as text, proved with those the policy files make.
    #[arg(value_name = "ASSERTIONS")]
    assertions: Vec<String>,
}

pub(super) fn run(a: Args) -> Result<u8, Fail> {
    let mut files = Vec::new();
    for arg in &a.assertions {
        let path = Path::new(arg);
        files.push(
            if arg.trim_start().starts_with("assert ") && !path.exists() {
                ("(command line)".to_string(), arg.clone())
            } else {
                (name(path), read(path)?)
            },
        );
    }
    let e = engine(&a.policy, &a.docs)?;
    let time = instant(&a.time)?;
    let outcomes = verify(
        &sources(&a.policy)?,
        &files,
        e.regions(),
        e.grants(),
        time,
        a.any_grants,
    )
    .map_err(Fail)?;
    if outcomes.is_empty() {
        return Err(Fail(
            "no assertions: the policies make none and none were given; write `assert NAME: never allow when CONDITION` in a policy file or a file given here"
                .into(),
        ));
    }
    let failed = outcomes.iter().filter(|o| !o.holds).count();
    match a.format {
        Format::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "assertions": outcomes }))?
        ),
        Format::Text => {
            for o in &outcomes {
                let kind = serde_json::to_value(o.kind)?;
                let kind = format!(
                    "{} allow{}",
                    kind.as_str().unwrap_or_default(),
                    if o.any_grants {
                        " under any grants"
                    } else {
                        ""
                    }
                );
                if o.holds {
                    outln!(
                        "holds   {} ({kind}; {} classes of requests)",
                        o.name,
                        o.classes
                    );
                } else {
                    outln!("FAILS   {} ({kind}), {}", o.name, o.at);
                    refutation(o, "        ");
                }
            }
            outln!(
                "{} of {} assertions hold",
                outcomes.len() - failed,
                outcomes.len()
            );
        }
    }
    Ok(u8::from(failed > 0))
}

/// Why an assertion fails: its counterexample, the grants it assumes and
/// the policy's decision on it with the reasons, each line indented.
pub(super) fn refutation(o: &sovra::analysis::verify::Outcome, indent: &str) {
    if let Some(c) = &o.counterexample {
        outln!("{indent}counterexample: {c}");
    }
    for g in &o.grants_assumed {
        outln!("{indent}with a grant such that {g}");
    }
    if let Some(d) = &o.decision {
        let reasons: Vec<String> = d["reasons"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                format!(
                    "{}: {}",
                    r["rule"].as_str().unwrap_or(""),
                    r["message"].as_str().unwrap_or("")
                )
            })
            .collect();
        outln!(
            "{indent}the policy says {}: {}",
            d["decision"].as_str().unwrap_or(""),
            reasons.join("; ")
        );
    }
}
