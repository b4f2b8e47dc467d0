//! `sovra serve`: the HTTP API (docs/api.md).

use super::*;

/// The server's options.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  sovra serve --policies policies/ --grants grants.json
  sovra serve --addr 0.0.0.0:8181 --tokens tokens.txt --log decisions/ --mask principal.id")]
pub(super) struct Args {
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    docs: DocArgs,
    /// The address to listen on; without --tokens it must be loopback.
    #[arg(long, default_value = "127.0.0.1:8181")]
    addr: std::net::SocketAddr,
    /// Bearer tokens, one a line: `evaluate TOKEN` or `admin TOKEN`.
    #[arg(long, value_name = "FILE")]
    tokens: Option<PathBuf>,
    /// Append every decision to the decision log in this folder.
    #[arg(long, value_name = "DIR")]
    log: Option<PathBuf>,
    /// The largest request body accepted, in bytes.
    #[arg(long, default_value = "67108864")]
    max_body: usize,
    /// The longest a request may take, in milliseconds; its work stops then too.
    #[arg(long, default_value = "10000")]
    timeout_ms: u64,
    /// A request field to store as a keyed hash in the log (`principal.id`); repeatable.
    #[arg(long, value_name = "FIELD", requires = "log")]
    mask: Vec<String>,
    /// Decide at each request's own `time` instead of the server's clock
    /// (for replays and tests; otherwise only tokens with the `historic` scope may).
    #[arg(long)]
    trust_request_time: bool,
    /// The most connections at once; more are closed when accepted.
    #[arg(long, default_value = "1024")]
    max_connections: usize,
    /// How long a connection may take to send a request's headers, and
    /// stay idle between requests, in milliseconds.
    #[arg(long, default_value = "5000")]
    header_timeout_ms: u64,
    /// The most requests in one batch.
    #[arg(long, default_value = "10000")]
    max_batch: usize,
}

#[cfg(not(feature = "server"))]
pub(super) fn run(_: Args) -> Result<u8, Fail> {
    Err(Fail(
        "serve: this build of sovra has no HTTP server (built without the `server` feature)".into(),
    ))
}

#[cfg(feature = "server")]
pub(super) fn run(a: Args) -> Result<u8, Fail> {
    let Args {
        policy,
        docs,
        addr,
        tokens,
        log,
        max_body,
        timeout_ms,
        mask,
        trust_request_time,
        max_connections,
        header_timeout_ms,
        max_batch,
    } = a;
    let e = engine(&policy, &docs);
    e.and_then(|e| {
        let cfg = crate::server::Config {
            policies: policy.policies.clone(),
            addr,
            tokens,
            log,
            mask,
            max_body,
            timeout: std::time::Duration::from_millis(timeout_ms),
            trust_request_time,
            max_connections: max_connections.max(1),
            header_timeout: std::time::Duration::from_millis(header_timeout_ms.max(1)),
            max_batch,
            state: docs.state.clone(),
        };
        crate::server::run(cfg, e.regions().clone(), e.grants().clone())
            .map(|_| 0)
            .map_err(Fail)
    })
}
