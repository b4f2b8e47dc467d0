//! Per-decision time on reference-pack requests of each action, with tracing
//! off (the hot path, `verdict`), the full decision document without a trace,
//! and with a full trace; from the request's JSON text to the document, beside
//! a hand-written floor that decides nothing (`floor`). Reproduce: `cargo
//! bench --bench eval`.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::string_slice,
    reason = "a test or bench fails loudly: a panic is a failed check"
)]

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use sovra::documents::{bundled_regions, Grants, Request};
use sovra::eval::{Engine, Scratch, TraceLevel};

#[path = "../tests/support/bundled.rs"]
mod bundled;
#[path = "../tests/support/gen.rs"]
mod gen;

use bundled::{GRANTS, REQUESTS};

// The binary's allocator, as in the other benches of the binary's paths
// (compile, scale, audit): `sovra eval` and the server decide with it.
#[global_allocator]
static GLOBAL: sovra::alloc::MiMalloc = sovra::alloc::MiMalloc;

fn engine() -> Engine {
    let program =
        sovra::policy::compile(&sovra::policy::bundled()).expect("bundled library compiles");
    Engine::new(
        program,
        bundled_regions(),
        Grants::from_json(GRANTS).expect("grants parse"),
    )
}

fn decide(c: &mut Criterion) {
    let engine = engine();
    let mut g = c.benchmark_group("decide");
    for (name, json, allow) in REQUESTS {
        let req = Request::from_json(json).expect("request parses");
        let mut scratch = Scratch::default();
        g.bench_with_input(BenchmarkId::new("trace-off", name), &req, |b, req| {
            b.iter(|| {
                let v = engine.verdict(black_box(req), &mut scratch);
                assert_eq!(v.allow, *allow);
            })
        });
        g.bench_with_input(BenchmarkId::new("document", name), &req, |b, req| {
            b.iter(|| {
                let d = engine.decide(black_box(req), TraceLevel::Off);
                assert_eq!(d.allowed(), *allow);
            })
        });
        // Issue 15 point 2: from the request's JSON text to the decision
        // document's JSON text, as `sovra eval --requests` does for each line
        // (the request read into a reused one, the document written into a
        // reused buffer).
        let mut reused = Request::default();
        let mut out = Vec::with_capacity(16 * 1024);
        g.bench_with_input(
            BenchmarkId::new("json-to-document", name),
            json,
            |b, json| {
                b.iter(|| {
                    reused.read_json(black_box(json)).expect("parses");
                    out.clear();
                    let v = engine.decide_json(&reused, &mut scratch, &mut out);
                    assert_eq!(v.allow, *allow);
                })
            },
        );
        // The floor of the same (`floor`): reading, the input hash and
        // writing, nothing decided; its bytes checked against Sovra's first.
        out.clear();
        engine.decide_json(&req, &mut scratch, &mut out);
        let (regions, grants) = (&engine.regions().hash, &engine.grants().hash);
        let mut floor = floor::Floor::new(&out, regions, grants);
        let mut answer = Vec::with_capacity(16 * 1024);
        floor.answer(json, &mut answer);
        assert_eq!(
            String::from_utf8_lossy(&answer),
            String::from_utf8_lossy(&out),
            "the floor answers {name} as Sovra does"
        );
        g.bench_with_input(
            BenchmarkId::new("floor-json-to-document", name),
            json,
            |b, json| {
                b.iter(|| {
                    answer.clear();
                    floor.answer(black_box(json), &mut answer);
                    black_box(&answer);
                })
            },
        );
        // The same from `Request::from_json` (a new request each time).
        g.bench_with_input(
            BenchmarkId::new("from-json-to-document", name),
            json,
            |b, json| {
                b.iter(|| {
                    let req = Request::from_json(black_box(json)).expect("parses");
                    out.clear();
                    let v = engine.decide_json(&req, &mut scratch, &mut out);
                    assert_eq!(v.allow, *allow);
                })
            },
        );
        g.bench_with_input(BenchmarkId::new("trace-full", name), &req, |b, req| {
            b.iter(|| {
                let d = engine.decide(black_box(req), TraceLevel::Full);
                assert_eq!(d.allowed(), *allow);
            })
        });
        // What every decision document pays whatever the engine does: the
        // input hash, sha256 of the documents' hashes (a state taken once)
        // and the request's compact form (issue 15 points 2 and 5: the cost
        // no change to the engine removes).
        let mut compact = Vec::with_capacity(1024);
        g.bench_with_input(BenchmarkId::new("input-hash", name), &req, |b, req| {
            b.iter(|| {
                out.clear();
                engine.input_hash_into(black_box(req), &mut compact, &mut out);
                black_box(&out);
            })
        });
        // The same document as JSON text without a trace: what the trace
        // adds is the difference.
        g.bench_with_input(BenchmarkId::new("document-json", name), &req, |b, req| {
            b.iter(|| {
                out.clear();
                let v = engine.decide_json(black_box(req), &mut scratch, &mut out);
                assert_eq!(v.allow, *allow);
            })
        });
        // Issue 15 point 6: the document with its full trace as JSON text,
        // as the server answers `?explain=full` and `sovra eval --requests
        // --explain full` writes each line (the trace written as the walk
        // goes, into a reused buffer).
        g.bench_with_input(BenchmarkId::new("trace-full-json", name), &req, |b, req| {
            b.iter(|| {
                out.clear();
                let v = engine.decide_json_traced(
                    black_box(req),
                    TraceLevel::Full,
                    &mut scratch,
                    &mut out,
                );
                assert_eq!(v.allow, *allow);
            })
        });
    }
    g.finish();
}

/// Issue 15 point 2's floor: what any engine pays to answer a request's
/// JSON text with the contract's decision document, whatever it decides.
/// A plain Rust function: the request read by serde into borrowed strings,
/// its input hash (sha256 of the documents' hashes, then the request's
/// compact form, as `Engine::input_hash` takes it) and the document
/// written; the decision's own bytes (decision, reasons, obligations) are
/// copied from Sovra's answer, so nothing is decided. Checked byte for
/// byte against Sovra's document before anything is timed.
mod floor {
    use serde::Deserialize;
    use sha2::Digest;

    #[derive(Deserialize)]
    struct Req<'a> {
        action: &'a str,
        time: &'a str,
        #[serde(borrow)]
        principal: Principal<'a>,
        #[serde(borrow)]
        resource: Resource<'a>,
        source_region: Option<&'a str>,
        target_region: Option<&'a str>,
        purpose: Option<&'a str>,
    }

    #[derive(Deserialize)]
    struct Principal<'a> {
        id: &'a str,
        country: &'a str,
    }

    #[derive(Deserialize)]
    struct Resource<'a> {
        id: &'a str,
        classification: &'a str,
        residency: &'a str,
        home_country: &'a str,
    }

    /// One request's document: Sovra's bytes before the input hash, the
    /// hash state after the documents' hashes, and room for the compact form.
    pub struct Floor {
        head: Vec<u8>,
        prefix: sha2::Sha256,
        compact: Vec<u8>,
    }

    impl Floor {
        /// `sovra_doc`: Sovra's document for the request (its bytes up to
        /// the input hash are copied); `regions` and `grants`: the
        /// documents' hashes.
        pub fn new(sovra_doc: &[u8], regions: &str, grants: &str) -> Floor {
            let key = br#""input_hash":"#;
            let at = sovra_doc.windows(key.len()).position(|w| w == key).unwrap();
            let mut head = format!("{regions}\n{grants}\nrequest, compact form 1\n").into_bytes();
            head.resize(head.len().next_multiple_of(64), b' ');
            let mut prefix = sha2::Sha256::new();
            prefix.update(&head);
            Floor {
                head: sovra_doc[..at + key.len()].to_vec(),
                prefix,
                compact: Vec::with_capacity(256),
            }
        }

        /// The document for `json`, appended to `out`.
        pub fn answer(&mut self, json: &str, out: &mut Vec<u8>) {
            let r: Req = serde_json::from_str(json).unwrap();
            let c = &mut self.compact;
            c.clear();
            let text = |c: &mut Vec<u8>, tag: u8, s: &str| {
                c.extend_from_slice(&[tag, s.len() as u8]);
                c.extend_from_slice(s.as_bytes());
            };
            text(c, 1, r.action);
            c.push(2);
            c.extend_from_slice(&crate::gen::unix_seconds(r.time).to_le_bytes());
            c.extend_from_slice(&[0; 8]);
            text(c, 3, r.principal.id);
            c.push(4);
            c.extend_from_slice(r.principal.country.as_bytes());
            text(c, 7, r.resource.id);
            text(c, 8, r.resource.classification);
            text(c, 9, r.resource.residency);
            c.push(10);
            c.extend_from_slice(r.resource.home_country.as_bytes());
            for (tag, v) in [
                (13, r.source_region),
                (14, r.target_region),
                (15, r.purpose),
            ] {
                if let Some(v) = v {
                    text(c, tag, v);
                }
            }
            let mut h = self.prefix.clone();
            h.update(&*c);
            let digest = h.finalize();
            out.extend_from_slice(&self.head);
            out.extend_from_slice(b"\"sha256:");
            const HEX: &[u8; 16] = b"0123456789abcdef";
            for b in digest {
                out.extend_from_slice(&[HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
            }
            out.extend_from_slice(br#"","evaluated_at":""#);
            out.extend_from_slice(r.time.as_bytes());
            out.extend_from_slice(b"\"}");
        }
    }
}

fn parse(c: &mut Criterion) {
    let (_, json, _) = REQUESTS[0];
    // The new request is made and dropped in each iteration; only a
    // reference goes to `black_box` (criterion's own copies what a routine
    // returns with volatile reads: for a request, some 180 instructions an
    // iteration that no caller pays in use).
    c.bench_function("parse/request", |b| {
        b.iter(|| {
            let r = Request::from_json(black_box(json)).expect("parses");
            black_box(&r);
        })
    });
    // The in-place reader `Request::from_json` is held to (issue 15: within
    // 1.5× of it).
    let mut reused = Request::default();
    c.bench_function("parse/request-in-place", |b| {
        b.iter(|| reused.read_json(black_box(json)).expect("parses"))
    });
    c.bench_function("compile/bundled", |b| {
        let src = sovra::policy::bundled();
        b.iter(|| sovra::policy::compile(black_box(&src)).expect("compiles"))
    });
}

criterion_group!(benches, decide, parse);
criterion_main!(benches);
