//! `sovra audit`: verify a decision log, replay it, or show its records.

use super::*;

#[derive(Subcommand)]
pub(super) enum Cmd {
    /// Check the chain, hashes, sequence and stored objects of a decision
    /// log, or (--state) the history of a state store: exit 0 clean, 1
    /// tampered, 2 error.
    #[command(after_help = "Examples:
  sovra audit verify decisions/
  sovra audit verify --state sqlite:state.db")]
    Verify {
        /// The decision log folder.
        #[arg(required_unless_present = "state")]
        dir: Option<PathBuf>,
        /// A state store whose history to verify instead (`sqlite:PATH` or `postgres://…`).
        #[arg(long, value_name = "URL", conflicts_with = "dir")]
        state: Option<String>,
    },
    /// Decide every record again from its stored policy and documents (exit 1
    /// on any difference); with --policies, show which decisions a new policy would change.
    #[command(after_help = "Examples:
  sovra audit replay decisions/
  sovra audit replay decisions/ --policies new-policies/ --examples 5")]
    Replay {
        /// The decision log folder.
        dir: PathBuf,
        #[command(flatten)]
        policy: PolicyArgs,
        /// Examples to show per rule and direction.
        #[arg(long, default_value = "3")]
        examples: usize,
    },
    /// Print the records that match every filter given.
    #[command(after_help = "Examples:
  sovra audit show decisions/ --decision deny --since 2026-11-01T00:00:00Z
  sovra audit show decisions/ --principal alice --format json")]
    Show {
        /// The decision log folder (it must verify, unless --unverified).
        dir: PathBuf,
        #[command(flatten)]
        filter: FilterArgs,
        /// `text`: each record explained; `json`: the records as written.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Show records even when the log does not verify (with a banner).
        #[arg(long)]
        unverified: bool,
    },
}

pub(super) fn run(cmd: Cmd) -> Result<u8, Fail> {
    match cmd {
        Cmd::Verify {
            state: Some(url), ..
        } => verify_state(&url),
        Cmd::Verify { dir: None, .. } => Err(Fail("give the log folder, or --state URL".into())),
        Cmd::Verify { dir: Some(dir), .. } => match sovra::audit::verify(&dir)? {
            sovra::audit::Verdict::Clean { records, head } => {
                outln!(
                    "ok: {records} records, chain and objects intact ({}); head {head}",
                    dir.display()
                );
                Ok(0)
            }
            sovra::audit::Verdict::Tampered { record, line, why } => {
                outln!(
                    "tampered: record {record} (line {line} of {}): {why}",
                    sovra::audit::LOG
                );
                Ok(1)
            }
        },
        Cmd::Replay {
            dir,
            policy,
            examples,
        } => {
            let new = if policy.policies.is_empty() {
                None
            } else {
                Some(program(&policy)?)
            };
            let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let results = sovra::audit::replay(&dir, new.as_ref(), |done, total| {
                if tty && total > 10_000 {
                    eprint!("\rreplayed {done} of {total}");
                    if done == total {
                        eprintln!();
                    }
                }
            })?;
            let changed: Vec<&sovra::audit::Redecided> =
                results.iter().filter(|r| r.was != r.now).collect();
            match new {
                None => {
                    let masked = changed.iter().filter(|r| r.masked).count();
                    let changed: Vec<_> = changed.into_iter().filter(|r| !r.masked).collect();
                    if masked > 0 {
                        outln!("note: {masked} decisions read masked fields and cannot be replayed exactly");
                    }
                    if changed.is_empty() {
                        outln!(
                            "ok: all {} logged decisions replay identically",
                            results.len()
                        );
                        Ok(0)
                    } else {
                        outln!(
                            "{} of {} logged decisions decide differently on replay (a defect):",
                            changed.len(),
                            results.len()
                        );
                        for r in changed.iter().take(20) {
                            outln!(
                                "  record {}: logged {} {:?}, replayed {} {:?}",
                                r.seq,
                                r.was.0,
                                r.was.1,
                                r.now.0,
                                r.now.1
                            );
                        }
                        Ok(1)
                    }
                }
                Some(p) => {
                    outln!(
                        "impact of policy {} on {} logged decisions: {} would change",
                        p.hash(),
                        results.len(),
                        changed.len()
                    );
                    let groups = sovra::audit::impact(&changed);
                    for ((direction, rule), seqs) in &groups {
                        let ex: Vec<String> =
                            seqs.iter().take(examples).map(|s| s.to_string()).collect();
                        outln!(
                            "  {direction}  {rule}: {} (records {})",
                            seqs.len(),
                            ex.join(", ")
                        );
                    }
                    Ok(0)
                }
            }
        }
        Cmd::Show {
            dir,
            filter,
            format,
            unverified,
        } => {
            let Some(checked) = verify_first(&dir, unverified)? else {
                return Ok(1);
            };
            let banner = checked
                .defect
                .as_ref()
                .map(|why| format!("UNVERIFIED LOG ({why}): this record cannot be relied on"));
            let filter = filter.into_filter()?;
            let timed = filter.since.is_some() || filter.until.is_some();
            let mut objects = sovra::audit::Objects::new(&dir);
            let mut shown = 0;
            let log = sovra::audit::read(&dir)?;
            for (line, why) in &log.unreadable {
                eprintln!(
                    "sovra: warning: line {line} of the log is not a record ({why}); it is not shown"
                );
            }
            for rec in log.records {
                if rec.logged_at().is_none() && timed {
                    // Never dropped silently: a record that cannot be placed
                    // in time is shown, flagged.
                    eprintln!(
                        "sovra: warning: record {} has no readable time; it is shown whatever --since/--until say",
                        rec.seq
                    );
                }
                if !filter.matches(&dir, &mut objects, &rec) {
                    continue;
                }
                shown += 1;
                match format {
                    Format::Json => match &banner {
                        Some(b) => {
                            outln!("{}", serde_json::json!({"unverified": b, "record": rec}))
                        }
                        None => outln!("{}", serde_json::to_string(&rec)?),
                    },
                    Format::Text => {
                        if let Some(b) = &banner {
                            outln!("!!! {b}");
                        }
                        outln!("--- record {} ---", rec.seq);
                        out!("{}", sovra::explain::render(&rec.as_decision()));
                    }
                }
            }
            if format == Format::Text {
                outln!("{shown} record{} shown", if shown == 1 { "" } else { "s" });
            }
            Ok(0)
        }
    }
}

/// The filters of `audit show`: every one given must hold.
#[derive(clap::Args)]
pub(super) struct FilterArgs {
    /// allow or deny.
    #[arg(long)]
    decision: Option<String>,
    /// A determining rule.
    #[arg(long)]
    rule: Option<String>,
    /// The principal's id (a masked one is found by the keyed hash of this).
    #[arg(long)]
    principal: Option<String>,
    /// The resource's id.
    #[arg(long)]
    resource: Option<String>,
    /// A source or target region id.
    #[arg(long)]
    region: Option<String>,
    /// The principal's country or the country of a region of the request.
    #[arg(long)]
    country: Option<String>,
    /// Records at or after this time (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Records written before this time (RFC 3339).
    #[arg(long)]
    until: Option<String>,
}

impl FilterArgs {
    fn into_filter(self) -> Result<sovra::audit::Filter, Fail> {
        let decision = match self.decision.as_deref() {
            None => None,
            Some("allow") => Some(sovra::eval::Outcome::Allow),
            Some("deny") => Some(sovra::eval::Outcome::Deny),
            Some(o) => return Err(Fail(format!("--decision `{o}`: allow or deny"))),
        };
        Ok(sovra::audit::Filter {
            decision,
            rule: self.rule,
            principal: self.principal,
            resource: self.resource,
            region: self.region,
            country: self.country,
            since: rfc3339(self.since)?,
            until: rfc3339(self.until)?,
        })
    }
}

pub(super) fn rfc3339(
    t: Option<String>,
) -> Result<Option<chrono::DateTime<chrono::FixedOffset>>, Fail> {
    t.as_deref()
        .map(|s| {
            chrono::DateTime::parse_from_rfc3339(s)
                .map_err(|_| Fail(format!("`{s}` is not an RFC 3339 time")))
        })
        .transpose()
}

/// What `audit verify` found, before a log is read for a person.
pub(super) struct Verified {
    pub(super) records: u64,
    pub(super) head: String,
    /// What is wrong, when the log does not verify and `--unverified` was given.
    pub(super) defect: Option<String>,
}

/// Verifies a log before anything is read from it. A defect ends the
/// command (`None`: exit 1, said on standard error) unless `unverified`.
pub(super) fn verify_first(dir: &Path, unverified: bool) -> Result<Option<Verified>, Fail> {
    match sovra::audit::verify(dir)? {
        sovra::audit::Verdict::Clean { records, head } => Ok(Some(Verified {
            records,
            head,
            defect: None,
        })),
        sovra::audit::Verdict::Tampered { record, line, why } => {
            let defect = format!("record {record} (line {line}): {why}");
            if !unverified {
                eprintln!(
                    "sovra: the log does not verify: {defect}\nsovra: nothing was read from it; run `sovra audit verify {}`, or pass --unverified to read it anyway",
                    dir.display()
                );
                return Ok(None);
            }
            Ok(Some(Verified {
                records: 0,
                head: "(unverified)".into(),
                defect: Some(defect),
            }))
        }
    }
}

/// Verifies a state store's history: exit 0 when the chain holds, 1 (naming
/// the first entry that fails) when it does not.
pub(super) fn verify_state(url: &str) -> Result<u8, Fail> {
    match sovra::state::Store::open(url)?.verify() {
        Ok(n) => {
            outln!("ok: {n} changes in the state store's history, the chain holds");
            Ok(0)
        }
        Err(sovra::state::StateError::Refused(why)) => {
            outln!("tampered: {why}");
            Ok(1)
        }
        Err(e) => Err(e.into()),
    }
}
