//! `sovra verify`: assertions about a policy set, proved over every
//! request or refuted with a counterexample (docs/analysis.md).

use super::*;
use sovra::analysis::verify::{parse, verify};

/// The verification's options.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  sovra verify policies/guarantees.assert
  sovra verify --policies policies/ --any-grants policies/guarantees.assert
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
    /// one assertion as text.
    #[arg(required = true, value_name = "ASSERTIONS")]
    assertions: Vec<String>,
}

pub(super) fn run(a: Args) -> Result<u8, Fail> {
    let mut list = Vec::new();
    for arg in &a.assertions {
        let path = Path::new(arg);
        let (label, text) = if arg.trim_start().starts_with("assert ") && !path.exists() {
            ("(command line)".to_string(), arg.clone())
        } else {
            (name(path), read(path)?)
        };
        list.extend(parse(&label, &text).map_err(Fail)?);
    }
    if list.is_empty() {
        return Err(Fail(
            "no assertions: write `assert NAME: never allow when CONDITION` in the files given"
                .into(),
        ));
    }
    let e = engine(&a.policy, &a.docs)?;
    let time = instant(&a.time)?;
    let outcomes = verify(
        &sources(&a.policy)?,
        &list,
        e.regions(),
        e.grants(),
        time,
        a.any_grants,
    )
    .map_err(Fail)?;
    let failed = outcomes.iter().filter(|o| !o.holds).count();
    match a.format {
        Format::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "assertions": outcomes }))?
        ),
        Format::Text => {
            for o in &outcomes {
                let kind = serde_json::to_value(o.kind)?;
                let kind = kind.as_str().unwrap_or_default();
                if o.holds {
                    outln!(
                        "holds   {} ({kind} allow; {} classes of requests)",
                        o.name,
                        o.classes
                    );
                } else {
                    outln!("FAILS   {} ({kind} allow), {}", o.name, o.at);
                    if let Some(c) = &o.counterexample {
                        outln!("        counterexample: {c}");
                    }
                    for g in &o.grants_assumed {
                        outln!("        with a grant such that {g}");
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
                            "        the policy says {}: {}",
                            d["decision"].as_str().unwrap_or(""),
                            reasons.join("; ")
                        );
                    }
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
