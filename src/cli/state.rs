//! `sovra state` and `sovra grants`: the state store from the command line.

use super::*;
use sovra::state::{GrantRequest, GrantState, Store};

/// The store to act on.
#[derive(clap::Args)]
pub(super) struct StoreArg {
    /// The state store: `sqlite:PATH` or `postgres://USER@HOST/DATABASE`.
    #[arg(long = "state", value_name = "URL")]
    url: String,
}

/// Who makes a change: recorded in the history, never taken from a document.
#[derive(clap::Args)]
pub(super) struct Who {
    /// The identity making the change (an approver is never the requester).
    #[arg(long = "as", value_name = "IDENTITY")]
    identity: String,
}

#[derive(Subcommand)]
pub(super) enum Cmd {
    /// Seed a new store with a regions and a grants document.
    #[command(after_help = "Examples:
  sovra state init --state sqlite:state.db --as ops                     # the bundled catalog, no grants
  sovra state init --state sqlite:state.db --as ops --from-regions regions.json --from-grants grants.json")]
    Init {
        #[command(flatten)]
        store: StoreArg,
        #[command(flatten)]
        who: Who,
        /// The regions document to start from. Absent: the bundled catalog.
        #[arg(long, value_name = "FILE")]
        from_regions: Option<PathBuf>,
        /// The grants document to start from. Absent: no grants.
        #[arg(long, value_name = "FILE")]
        from_grants: Option<PathBuf>,
    },
    /// Write today's regions and grants documents (what `--regions` and
    /// `--grants` read, so the offline commands, the Rego bridge and replay
    /// work unchanged).
    #[command(after_help = "Examples:
  sovra state export --state sqlite:state.db --regions regions.json --grants grants.json")]
    Export {
        #[command(flatten)]
        store: StoreArg,
        /// Write the regions document here. Absent: standard output.
        #[arg(long, value_name = "FILE")]
        regions: Option<PathBuf>,
        /// Write the grants document here. Absent: not written.
        #[arg(long, value_name = "FILE")]
        grants: Option<PathBuf>,
    },
    /// Set a region's status (active, degraded, draining, offline), saying why.
    #[command(after_help = "Examples:
  sovra state region eu-central-1 offline --reason \"power loss\" --state sqlite:state.db --as monitor")]
    Region {
        /// The region's id.
        id: String,
        /// Its new status.
        status: String,
        /// Why.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        store: StoreArg,
        #[command(flatten)]
        who: Who,
    },
    /// Add a region the provider opened to the store's catalog (one region
    /// object, as in the regions document).
    #[command(after_help = "Examples:
  sovra state add-region new-region.json --state sqlite:state.db --as ops")]
    AddRegion {
        /// The region, as JSON (`-` for standard input).
        file: PathBuf,
        #[command(flatten)]
        store: StoreArg,
        #[command(flatten)]
        who: Who,
    },
    /// Print the history of changes, oldest first, as JSON Lines.
    #[command(after_help = "Examples:
  sovra state history --state sqlite:state.db")]
    History {
        #[command(flatten)]
        store: StoreArg,
    },
    /// Check the history's hash chain: exit 0 when it holds, 1 when an
    /// entry was changed, removed or moved (naming it).
    #[command(after_help = "Examples:
  sovra state verify --state sqlite:state.db")]
    Verify {
        #[command(flatten)]
        store: StoreArg,
    },
}

#[derive(Subcommand)]
pub(super) enum GrantsCmd {
    /// Ask for a grant; prints its id. The requester is --as.
    #[command(after_help = "Examples:
  sovra grants request --state sqlite:state.db --as alice --principal alice \\
      --resource ds-customers --to-country US --purpose support --mechanism scc --duration 90d")]
    Request {
        #[command(flatten)]
        store: StoreArg,
        #[command(flatten)]
        who: Who,
        /// The policies whose bounds on grants apply. Absent: the bundled library.
        #[command(flatten)]
        policy: PolicyArgs,
        /// Whose exception it is.
        #[arg(long)]
        principal: String,
        /// The one resource it covers.
        #[arg(long)]
        resource: Option<String>,
        /// A classification it covers; repeatable.
        #[arg(long = "classification", value_name = "NAME")]
        classifications: Vec<String>,
        /// The country the data may go to or be reached from.
        #[arg(long)]
        to_country: String,
        /// The purpose it is for.
        #[arg(long)]
        purpose: Option<String>,
        /// The legal mechanism (scc, bcr, dpf, …).
        #[arg(long)]
        mechanism: Option<String>,
        /// How long it lasts from now (`90d`); or give --expires-at.
        #[arg(long)]
        duration: Option<String>,
        /// When it ends (RFC 3339); or give --duration.
        #[arg(long, value_name = "TIME")]
        expires_at: Option<String>,
        /// Why it is needed.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Approve a pending request (--as is never its requester).
    #[command(after_help = "Examples:
  sovra grants approve g-000001 --state sqlite:state.db --as dpo-ben")]
    Approve {
        /// The grant's id.
        id: String,
        #[command(flatten)]
        store: StoreArg,
        #[command(flatten)]
        who: Who,
        /// A role the approver holds (`dpo`), for the policy's approver roles; repeatable.
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
        /// The policies whose approver roles apply. Absent: the bundled library.
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Reject a pending request, saying why.
    #[command(after_help = "Examples:
  sovra grants reject g-000002 --reason \"no mechanism\" --state sqlite:state.db --as dpo-ben")]
    Reject {
        /// The grant's id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        store: StoreArg,
        #[command(flatten)]
        who: Who,
    },
    /// Revoke an approved grant, effective at once.
    #[command(after_help = "Examples:
  sovra grants revoke g-000001 --reason \"ticket closed\" --state sqlite:state.db --as dpo-ben")]
    Revoke {
        /// The grant's id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        store: StoreArg,
        #[command(flatten)]
        who: Who,
    },
    /// List grants with their state now, as JSON Lines.
    #[command(after_help = "Examples:
  sovra grants list --state sqlite:state.db --only pending")]
    List {
        #[command(flatten)]
        store: StoreArg,
        /// Only those in this state: pending, active, expired, rejected or revoked.
        #[arg(long, value_name = "STATE")]
        only: Option<String>,
    },
    /// Show one grant, its state now and its whole history.
    #[command(after_help = "Examples:
  sovra grants show g-000001 --state sqlite:state.db")]
    Show {
        /// The grant's id.
        id: String,
        #[command(flatten)]
        store: StoreArg,
    },
}

fn open(s: &StoreArg) -> Result<Store, Fail> {
    Ok(Store::open(&s.url)?)
}

pub(super) fn run(cmd: Cmd) -> Result<u8, Fail> {
    let now = chrono::Utc::now();
    match cmd {
        Cmd::Init {
            store,
            who,
            from_regions,
            from_grants,
        } => {
            let regions = match &from_regions {
                Some(f) => read(f)?,
                None => include_str!("../../policies/catalog/cloud-regions.json").to_string(),
            };
            let grants = match &from_grants {
                Some(f) => read(f)?,
                None => r#"{"grants":[]}"#.to_string(),
            };
            let mut s = open(&store)?;
            s.init(&regions, &grants, &who.identity, now)?;
            let (r, g) = s.documents()?;
            eprintln!(
                "sovra: {} seeded with {} regions and {} grants",
                store.url,
                r.regions.len(),
                g.len()
            );
            Ok(0)
        }
        Cmd::Export {
            store,
            regions,
            grants,
        } => {
            let mut s = open(&store)?;
            let r = serde_json::to_string_pretty(&s.regions_document()?)? + "\n";
            write_out(regions.as_deref(), &r)?;
            if let Some(g) = &grants {
                let text = serde_json::to_string_pretty(&s.grants_document()?)? + "\n";
                write_out(Some(g), &text)?;
            }
            Ok(0)
        }
        Cmd::Region {
            id,
            status,
            reason,
            store,
            who,
        } => {
            let v = open(&store)?.set_region_status(&id, &status, &reason, &who.identity, now)?;
            eprintln!("sovra: {id} is {status} (state version {v})");
            Ok(0)
        }
        Cmd::AddRegion { file, store, who } => {
            let text = super::read(&file)?;
            let region: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| Fail(format!("{}: {e}", super::name(&file))))?;
            let v = open(&store)?.add_region(&region, &who.identity, now)?;
            eprintln!(
                "sovra: {} added (state version {v})",
                region
                    .get("id")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("the region")
            );
            Ok(0)
        }
        Cmd::History { store } => {
            for c in open(&store)?.history()? {
                outln!("{}", serde_json::to_string(&c)?);
            }
            Ok(0)
        }
        Cmd::Verify { store } => super::audit::verify_state(&store.url),
    }
}

pub(super) fn grants(cmd: GrantsCmd) -> Result<u8, Fail> {
    let now = chrono::Utc::now();
    match cmd {
        GrantsCmd::Request {
            store,
            policy,
            who,
            principal,
            resource,
            classifications,
            to_country,
            purpose,
            mechanism,
            duration,
            expires_at,
            reason,
        } => {
            let expires_at = expires_at
                .map(|t| {
                    chrono::DateTime::parse_from_rfc3339(&t)
                        .map(|t| t.with_timezone(&chrono::Utc))
                        .map_err(|_| Fail(format!("--expires-at: `{t}` is not an RFC 3339 time")))
                })
                .transpose()?;
            let req = GrantRequest {
                principal,
                resource,
                classifications,
                to_country,
                purpose,
                mechanism,
                expires_at,
                duration,
                reason,
            };
            let max = program(&policy)?.grant_bound(req.classifications.iter().map(String::as_str));
            let id = open(&store)?.request_grant_within(&req, &who.identity, now, max)?;
            outln!("{id}");
            Ok(0)
        }
        GrantsCmd::Approve {
            id,
            store,
            who,
            roles,
            policy,
        } => {
            let mut db = open(&store)?;
            let (g, _, _) = db.grant(&id, now)?;
            let classes: Vec<&str> = g
                .get("classifications")
                .and_then(serde_json::Value::as_array)
                .map(|a| a.iter().filter_map(serde_json::Value::as_str).collect())
                .unwrap_or_default();
            let program = program(&policy)?;
            let required = program.approver_roles(classes.iter().copied());
            if let Some(missing) = required.iter().find(|r| !roles.iter().any(|x| x == *r)) {
                return Err(Fail(format!(
                    "grant {id} needs an approver with the role `{missing}` (the policy says so): give --role {missing} if {} holds it",
                    who.identity
                )));
            }
            let v = db.approve(&id, &who.identity, now)?;
            eprintln!(
                "sovra: {id} approved by {} (state version {v})",
                who.identity
            );
            Ok(0)
        }
        GrantsCmd::Reject {
            id,
            reason,
            store,
            who,
        } => {
            let v = open(&store)?.reject(&id, &who.identity, reason.as_deref(), now)?;
            eprintln!(
                "sovra: {id} rejected by {} (state version {v})",
                who.identity
            );
            Ok(0)
        }
        GrantsCmd::Revoke {
            id,
            reason,
            store,
            who,
        } => {
            let v = open(&store)?.revoke(&id, &who.identity, reason.as_deref(), now)?;
            eprintln!(
                "sovra: {id} revoked by {} (state version {v})",
                who.identity
            );
            Ok(0)
        }
        GrantsCmd::List { store, only } => {
            let only = only
                .map(|s| {
                    GrantState::parse(&s).ok_or_else(|| {
                        Fail(format!(
                            "--only {s}: one of pending, active, expired, rejected, revoked"
                        ))
                    })
                })
                .transpose()?;
            for (g, state) in open(&store)?.grants(only, now)? {
                let mut line = g;
                if let Some(o) = line.as_object_mut() {
                    o.insert("state".into(), serde_json::json!(state.as_str()));
                }
                outln!("{}", serde_json::to_string(&line)?);
            }
            Ok(0)
        }
        GrantsCmd::Show { id, store } => {
            let (g, state, history) = open(&store)?.grant(&id, now)?;
            let doc =
                serde_json::json!({ "grant": g, "state": state.as_str(), "history": history });
            outln!("{}", serde_json::to_string_pretty(&doc)?);
            Ok(0)
        }
    }
}

/// `sovra failover`: where each dataset with a copy in a failed region may go.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  sovra failover eu-central-1 --state sqlite:state.db")]
pub(super) struct FailoverArgs {
    /// The region that failed.
    region: String,
    /// The action a move is decided as.
    #[arg(long, default_value = "store")]
    action: String,
    #[command(flatten)]
    store: StoreArg,
    #[command(flatten)]
    policy: PolicyArgs,
}

pub(super) fn failover(a: FailoverArgs) -> Result<u8, Fail> {
    let mut s = open(&a.store)?;
    let (regions, grants) = s.documents()?;
    let e = Engine::new(program(&a.policy)?, regions, grants);
    let plan = sovra::state::failover(&e, &s.datasets(None)?, &a.region, &a.action);
    outln!("{}", serde_json::to_string_pretty(&plan)?);
    Ok(0)
}
