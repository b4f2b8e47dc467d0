//! The state store: writes per second on SQLite (a grant request, its
//! approval and its revocation, each one committed transaction with its
//! history entry), decisions per second on a store's state against the same
//! documents read from files (one run, same requests), and the time from an
//! approval's commit to the first decision that the grant allows; with
//! PostgreSQL installed (Debian's `postgresql`), the same writes on
//! PostgreSQL and the time from an approval's 200 on one `sovra serve`
//! replica to the first allowed decision on another.
//! Reproduce: `cargo bench --bench state`.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::string_slice,
    reason = "a test or bench fails loudly: a panic is a failed check"
)]

#[path = "../tests/support/postgres.rs"]
mod postgres;
#[path = "../tests/support/server.rs"]
mod server;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use sovra::documents::{bundled_regions, Grants, Request};
use sovra::eval::{Engine, Scratch};
use sovra::state::{GrantRequest, Store};
use std::time::{Duration, Instant};

/// A store at `url`, seeded with the bundled catalog and the example grants.
fn seeded(url: &str) -> Store {
    let mut s = Store::open(url).unwrap();
    s.init(
        include_str!("../policies/catalog/cloud-regions.json"),
        include_str!("../docs/examples/grants.json"),
        "ops",
        chrono::Utc::now(),
    )
    .unwrap();
    s
}

fn fresh(name: &str) -> Store {
    let path = std::env::temp_dir().join(format!("sovra-bench-{}-{name}.db", std::process::id()));
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
    }
    seeded(&format!("sqlite:{}", path.display()))
}

fn request(principal: &str) -> GrantRequest {
    GrantRequest {
        principal: principal.into(),
        resource: Some("ds-customers".into()),
        to_country: "US".into(),
        purpose: Some("support".into()),
        mechanism: Some("scc".into()),
        duration: Some("90d".into()),
        ..Default::default()
    }
}

const ACCESS: &str = r#"{"action":"access","time":"2026-12-02T12:00:00Z","principal":{"id":"alice","country":"US"},"resource":{"id":"ds-customers","classification":"identity","residency":"eea","home_country":"DE"},"source_region":"eu-central-1","purpose":"support"}"#;

/// One iteration: three committed changes (request, approve, revoke).
fn three_writes(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    s: &mut Store,
) {
    let now = chrono::Utc::now();
    let mut n = 0u64;
    g.bench_function("request+approve+revoke (3 commits)", |b| {
        b.iter(|| {
            n += 1;
            let id = s
                .request_grant(&request(&format!("p{n}")), "alice", now)
                .unwrap();
            s.approve(&id, "ben", now).unwrap();
            s.revoke(&id, "ben", None, now).unwrap();
        })
    });
}

fn writes(c: &mut Criterion) {
    let mut g = c.benchmark_group("state/writes");
    three_writes(&mut g, &mut fresh("writes"));
    g.finish();
}

fn decisions(c: &mut Criterion) {
    let program = sovra::policy::compile(&sovra::policy::bundled()).unwrap();
    let mut s = fresh("decisions");
    let (regions, grants) = s.documents().unwrap();
    let from_store = Engine::new(program.clone(), regions, grants);
    let from_files = Engine::new(
        program,
        bundled_regions(),
        Grants::from_json(include_str!("../docs/examples/grants.json")).unwrap(),
    );
    let req = Request::from_json(ACCESS).unwrap();
    let mut g = c.benchmark_group("state/decide");
    for (name, e) in [("documents mode", &from_files), ("state mode", &from_store)] {
        let mut scratch = Scratch::default();
        g.bench_function(name, |b| {
            b.iter(|| black_box(e.verdict(black_box(&req), &mut scratch).allow))
        });
    }
    g.finish();
}

fn approval_to_allow(c: &mut Criterion) {
    let program = sovra::policy::compile(&sovra::policy::bundled()).unwrap();
    let s = std::cell::RefCell::new(fresh("latency"));
    let now = chrono::Utc::now();
    let req = Request::from_json(ACCESS).unwrap();
    let mut g = c.benchmark_group("state/approval");
    g.sample_size(30);
    // From the approval's commit to an engine over the new state that allows.
    g.bench_function("approve, rebuild, first allowed decision", |b| {
        b.iter_batched(
            || {
                s.borrow_mut()
                    .request_grant(&request("alice"), "alice", now)
                    .unwrap()
            },
            |id| {
                let mut s = s.borrow_mut();
                s.approve(&id, "ben", now).unwrap();
                let (regions, grants) = s.documents().unwrap();
                let e = Engine::new(program.clone(), regions, grants);
                let mut scratch = Scratch::default();
                assert!(e.verdict(&req, &mut scratch).allow);
                s.revoke(&id, "ben", None, now).unwrap();
            },
            criterion::BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn on_postgres(c: &mut Criterion) {
    let Some(pg) = postgres::start("bench") else {
        return;
    };
    let mut g = c.benchmark_group("state/postgres");
    g.sample_size(20);
    three_writes(&mut g, &mut seeded(&pg.url));

    // Two replicas on the database: approved on A, allowed on B.
    let tokens = std::env::temp_dir().join(format!("sovra-bench-tokens-{}", std::process::id()));
    std::fs::write(
        &tokens,
        "alice alice-0123456789abcdef evaluate,request\nben ben-0123456789abcdefgh approve,evaluate\n",
    )
    .unwrap();
    let t = tokens.to_str().unwrap();
    let a = server::start_exactly(&["--state", &pg.url, "--tokens", t]);
    let b = server::start_exactly(&["--state", &pg.url, "--tokens", t]);
    let live = ACCESS.replace(r#""time":"2026-12-02T12:00:00Z","#, "");
    let allows = |port| {
        let (_, body) = server::http(
            port,
            "POST",
            "/v1/evaluate",
            Some("ben-0123456789abcdefgh"),
            &live,
        );
        server::json(&body)["decision"] == "allow"
    };
    let post = |port, path: &str, token, body| {
        let (st, body) = server::http(port, "POST", path, Some(token), body);
        assert!(st == 200 || st == 201, "{path}: {body}");
        server::json(&body)
    };
    g.sample_size(10);
    g.bench_function("approval's 200 on A to the first allowed decision on B", |bch| {
        bch.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let made = post(
                    a.port,
                    "/v1/grants",
                    "alice-0123456789abcdef",
                    r#"{"principal":"alice","resource":"ds-customers","to_country":"US","purpose":"support","mechanism":"scc","duration":"30d"}"#,
                );
                let id = made["id"].as_str().unwrap().to_string();
                let start = Instant::now();
                post(a.port, &format!("/v1/grants/{id}/approve"), "ben-0123456789abcdefgh", "{}");
                while !allows(b.port) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                total += start.elapsed();
                post(a.port, &format!("/v1/grants/{id}/revoke"), "ben-0123456789abcdefgh", "{}");
                while allows(b.port) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            total
        })
    });
    g.finish();
    let _ = std::fs::remove_file(&tokens);
}

criterion_group!(benches, writes, decisions, approval_to_allow, on_postgres);
criterion_main!(benches);
