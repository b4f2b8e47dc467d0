//! The hot path allocates nothing: with tracing off and a warmed scratch,
//! `Engine::verdict` makes no heap allocation (counted by a global
//! allocator); nor does the document written as text, with or without its
//! trace, once its buffers have grown; nor reading requests of one shape
//! into a reused request.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::string_slice,
    reason = "a test or bench fails loudly: a panic is a failed check"
)]

use sovra::documents::{bundled_regions, Grants, Request};
use sovra::eval::{Engine, Scratch};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;
thread_local! {
    /// Allocations made by this thread: the test harness's own thread
    /// allocates as other tests finish (their results printed), which a
    /// counter for the whole process counted against the test measuring.
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    // Not on a thread being torn down (its counter is gone).
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

/// This thread's allocations so far.
fn allocs() -> usize {
    ALLOCS.with(Cell::get)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The count is global: one test at a time.
static ALONE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Decides every request 100 times with a warmed scratch: how many were
/// allowed, and how many heap allocations that took.
fn measure(engine: &Engine, requests: &[Request]) -> (usize, usize) {
    let mut scratch = Scratch::default();
    for r in requests {
        engine.verdict(r, &mut scratch); // warm the scratch buffers
    }
    let before = allocs();
    let mut allowed = 0;
    for _ in 0..100 {
        for r in requests {
            allowed += usize::from(engine.verdict(r, &mut scratch).allow);
        }
    }
    (allowed, allocs() - before)
}

/// The bundled library over the access grants, and four requests of which
/// two are allowed (the replicate and the granted access).
fn bundled() -> (Engine, Vec<Request<'static>>) {
    let grants = Grants::from_json(include_str!("../policies/tests/grants-access.json")).unwrap();
    let engine = Engine::new(
        sovra::policy::compile(&sovra::policy::bundled()).unwrap(),
        bundled_regions(),
        grants,
    );
    let requests = TEXTS
        .iter()
        .map(|r| Request::from_json(r).unwrap())
        .collect();
    (engine, requests)
}

/// The requests of [`bundled`], as JSON text.
const TEXTS: [&str; 4] = [
    r#"{"action":"store","time":"2026-03-01T12:00:00Z","principal":{"id":"svc","country":"DE"},"resource":{"id":"ds","classification":"identity","residency":"eea","home_country":"DE"},"target_region":"us-east-1"}"#,
    r#"{"action":"replicate","time":"2026-03-01T12:00:00Z","principal":{"id":"svc","country":"DE"},"resource":{"id":"ds","classification":"content","residency":"de-primary-eea","home_country":"DE"},"source_region":"eu-central-1","target_region":"eu-west-3"}"#,
    r#"{"action":"access","time":"2026-03-01T12:00:00Z","principal":{"id":"alice","country":"US"},"resource":{"id":"ds-customers","classification":"identity","residency":"eea","home_country":"DE"},"source_region":"eu-central-1","purpose":"support"}"#,
    r#"{"action":"store","time":"2026-03-01T12:00:00Z","resource":{"classification":"secret","residency":"client","client_regions":["x"]},"target_region":"nowhere"}"#,
];

#[test]
fn verdict_allocates_nothing() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let (engine, requests) = bundled();
    let (allowed, allocations) = measure(&engine, &requests);
    assert_eq!(
        allowed, 200,
        "the replicate and the granted access are allowed"
    );
    assert_eq!(allocations, 0, "verdict allocated {allocations} times");
}

#[test]
fn the_language_constructs_allocate_nothing_either() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    // Named conditions, lists, globs, counts, time spans, subdivisions,
    // region attributes, profiles in rules, and the declared-type check.
    let engine = Engine::new(
        sovra::policy::compile(
            &sovra::policy::load(&["tests/cases/constructs/policy".into()]).unwrap(),
        )
        .unwrap(),
        sovra::documents::Regions::from_json(include_str!("cases/constructs/regions.json"))
            .unwrap(),
        Grants::from_json(include_str!("cases/constructs/grants.json")).unwrap(),
    );
    let requests: Vec<Request> = [
        r#"{"action":"share","time":"2026-03-01T00:00:00Z","principal":{"id":"p-recent","country":"US"},"resource":{"id":"d-1","classification":"identity"},"target_region":"fr-sov-1","ticket_opened":"2026-02-20T00:00:00Z"}"#,
        r#"{"action":"read","time":"2026-03-01T00:00:00Z","principal":{"id":"ann@example.com","country":"DE","roles":["support-agent"]},"resource":{"id":"d-1","subject_countries":["DE","FR"],"tenant":"acme"},"target_region":"fr-sov-1"}"#,
        r#"{"action":"store","time":"2026-03-01T00:00:00Z","principal":{"id":"p","clearance":3},"resource":{"id":"d-1","home_region":"US-CA"},"target_region":"fr-sov-1"}"#,
        r#"{"action":"place_home","time":"2026-03-01T00:00:00Z","resource":{"id":"d","home_country":"FR"},"target_region":"fr-sov-1"}"#,
        r#"{"action":"place_eu","time":"2026-03-01T00:00:00Z","resource":{"id":"d"},"target_region":"de-c5"}"#,
        r#"{"action":"store","time":"2026-03-01T00:00:00Z","principal":{"clearance":"high"},"target_region":"fr-sov-1"}"#,
    ]
    .iter()
    .map(|r| Request::from_json(r).unwrap())
    .collect();
    let (allowed, allocations) = measure(&engine, &requests);
    assert_eq!(
        allowed, 400,
        "share, read, place_home and place_eu are allowed"
    );
    assert_eq!(allocations, 0, "verdict allocated {allocations} times");
}

#[test]
fn the_document_written_as_text_allocates_nothing_with_or_without_a_trace() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    // The path the server and `sovra eval --requests` answer by: the
    // document and its trace written into reused buffers.
    let (engine, requests) = bundled();
    use sovra::TraceLevel::{Full, Off, Summary};
    for level in [Off, Summary, Full] {
        let mut scratch = Scratch::default();
        let mut out = Vec::new();
        for r in &requests {
            engine.decide_json_traced(r, level, &mut scratch, &mut out); // warm
            out.clear();
        }
        let before = allocs();
        let mut allowed = 0;
        for _ in 0..100 {
            for r in &requests {
                out.clear();
                allowed += usize::from(
                    engine
                        .decide_json_traced(r, level, &mut scratch, &mut out)
                        .allow,
                );
            }
        }
        let allocations = allocs() - before;
        assert_eq!(
            allowed, 200,
            "{level:?}: the replicate and the granted access"
        );
        assert_eq!(allocations, 0, "{level:?}: allocated {allocations} times");
    }
}

#[test]
fn reading_into_a_reused_request_and_writing_its_document_allocates_nothing() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    // A batch line's whole path (`sovra eval --requests`): the text read
    // into one reused request, decided, its document written into a reused
    // buffer. The request's strings borrow from the text, so requests of
    // any plain shape, one after another, allocate nothing (a list's room
    // and the extras' map are reused).
    let (engine, _) = bundled();
    let mut request = Request::default();
    let mut scratch = Scratch::default();
    let mut out = Vec::new();
    let mut decide = |text: &'static str, request: &mut Request<'static>| {
        request.read_json(text).unwrap();
        out.clear();
        engine.decide_json(request, &mut scratch, &mut out).allow
    };
    for text in TEXTS {
        decide(text, &mut request); // warm
        let before = allocs();
        for _ in 0..100 {
            decide(text, &mut request);
        }
        let allocations = allocs() - before;
        assert_eq!(allocations, 0, "{text}: allocated {allocations} times");
    }
    let before = allocs();
    let allowed: usize = (0..100)
        .flat_map(|_| TEXTS)
        .map(|text| usize::from(decide(text, &mut request)))
        .sum();
    let allocations = allocs() - before;
    assert_eq!(allowed, 200, "the replicate and the granted access");
    // Fields that come and go from one request to the next allocate
    // nothing either.
    assert_eq!(
        allocations, 0,
        "mixed shapes: allocated {allocations} times"
    );
}
