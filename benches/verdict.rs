//! The verdict against the machine (issue 15): Sovra's `Engine::verdict`
//! (the decision and its determining rules, input prebuilt) side by side
//! with a hand-written Rust decider of the same policy (the floor: what the
//! machine can do), with regorus's RVM on the exported Rego and with Cedar
//! on the same policy written in Cedar, at 0, 1,000 and 10,000 per-dataset
//! rules and 10 and 100,000 grants, on three requests: a store that is
//! allowed, a store that is denied (outside the profile and the dataset's
//! countries), and a cross-border read allowed by a grant. Every decider's
//! answers (the decision and its determining rules) are checked against
//! Sovra's before anything is timed. Reproduce: `cargo bench --features
//! peers --bench verdict`.

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
use sovra::documents::{Grants, Regions, Request};
use sovra::eval::{Engine, Scratch};
use sovra::rego::{to_rego_value, RegoEngine, RegoMode};
use std::borrow::Cow;
use std::collections::HashMap;

const EEA: [&str; 30] = [
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT",
    "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK", "IS", "LI", "NO",
];
/// Where the 30 regions are: 20 in the EEA, 10 outside.
const REGION_COUNTRIES: [&str; 30] = [
    "DE", "FR", "IE", "NL", "SE", "FI", "AT", "BE", "IT", "ES", "PL", "DK", "PT", "CZ", "RO", "GR",
    "HU", "NO", "LU", "EE", "US", "US", "CA", "JP", "GB", "CH", "BR", "AU", "IN", "SG",
];

/// The policy: residency profiles, a cross-border read rule that yields to
/// a grant, and `n` per-dataset residency rules.
fn policy(n: usize) -> String {
    let mut s = format!(
        "package bench\n\n\
         classification identity    sensitivity high\n\
         classification operational sensitivity medium\n\n\
         set EEA = [{}]\n\n\
         profile eea    = regional(EEA)\n\
         profile global = unrestricted\n\n\
         forbid unclassified when resource.classification is not declared\n\
         forbid unknown_profile when resource.residency is not declared\n\
         forbid outside_profile\n  when action in [store, replicate] and not (target satisfies resource.residency)\n\
         forbid cross_border_read\n  when action == access and resource.classification == identity\n   and principal.country not in EEA\n   and not exists grant g where g.to_country == principal.country\n\
         permit write when action in [store, replicate]\n\
         permit read when action == access\n\n",
        EEA.join(", ")
    );
    for i in 0..n {
        s.push_str(&format!(
            "forbid ds_{i}\n  when action in [store, replicate] and resource.id == \"ds-{i}\"\n   and target.country not in [{}]\n",
            dataset_countries(i).join(", ")
        ));
    }
    s
}

/// Where dataset `i` may be stored: Germany and two others.
fn dataset_countries(i: usize) -> [&'static str; 3] {
    [
        "DE",
        REGION_COUNTRIES[1 + i % 19],
        REGION_COUNTRIES[20 + i % 10],
    ]
}

fn regions() -> String {
    let list: Vec<String> = REGION_COUNTRIES
        .iter()
        .enumerate()
        .map(|(i, c)| format!(r#"{{"id": "r{i}", "country": "{c}"}}"#))
        .collect();
    format!(r#"{{"regions": [{}]}}"#, list.join(", "))
}

/// `n` grants of identity data over `n / 5` principals (at least one);
/// `p0` holds one to the US.
fn grants(n: usize) -> String {
    let principals = (n / 5).max(1);
    let list: Vec<String> = (0..n)
        .map(|i| {
            let to = if i == 0 { "US" } else { REGION_COUNTRIES[20 + i % 10] };
            format!(
                r#"{{"id": "g{i}", "principal": "p{}", "to_country": "{to}", "classifications": ["identity"], "mechanism": "scc", "requested_by": "alice", "approved_by": "bob", "valid_from": "2026-01-01T00:00:00Z", "expires_at": "2027-01-01T00:00:00Z"}}"#,
                i % principals
            )
        })
        .collect();
    format!(r#"{{"grants": [{}]}}"#, list.join(",\n"))
}

/// The three requests: store allowed, store denied, cross-border read
/// allowed by a grant.
const REQUESTS: [(&str, &str); 3] = [
    (
        "store-allow",
        r#"{"action": "store", "time": "2026-12-02T12:00:00Z", "principal": {"id": "p1", "country": "DE"},
            "resource": {"id": "ds-1", "classification": "identity", "residency": "eea", "home_country": "DE"},
            "target_region": "r0"}"#,
    ),
    (
        "store-deny",
        r#"{"action": "store", "time": "2026-12-02T12:00:00Z", "principal": {"id": "p1", "country": "DE"},
            "resource": {"id": "ds-1", "classification": "identity", "residency": "eea", "home_country": "DE"},
            "target_region": "r23"}"#,
    ),
    (
        "access-grant",
        r#"{"action": "access", "time": "2026-12-02T12:00:00Z", "principal": {"id": "p0", "country": "US"},
            "resource": {"id": "ds-1", "classification": "identity", "residency": "eea", "home_country": "DE"},
            "source_region": "r0"}"#,
    ),
];

/// The same policy written by hand: what a service would write for this
/// one policy, with the same maps a careful engineer would build (regions
/// and datasets by id, grants by principal), deciding the same answer and
/// the same determining rules (indices as Sovra numbers them).
struct Floor {
    regions: HashMap<String, u16>,
    eea: [bool; 676],
    datasets: HashMap<String, [u16; 3]>,
    grants: HashMap<String, Vec<(u16, i64, i64)>>,
}

fn code(c: &str) -> u16 {
    let b = c.as_bytes();
    (u16::from(b[0] - b'A')) * 26 + u16::from(b[1] - b'A')
}

/// Sovra's rule numbers: declaration order.
const UNCLASSIFIED: u32 = 0;
const UNKNOWN_PROFILE: u32 = 1;
const OUTSIDE_PROFILE: u32 = 2;
const CROSS_BORDER_READ: u32 = 3;
const WRITE: u32 = 4;
const READ: u32 = 5;
const FIRST_DATASET: u32 = 6;

impl Floor {
    fn new(n: usize, grants_json: &str) -> Floor {
        let mut eea = [false; 676];
        for c in EEA {
            eea[code(c) as usize] = true;
        }
        let regions = REGION_COUNTRIES
            .iter()
            .enumerate()
            .map(|(i, c)| (format!("r{i}"), code(c)))
            .collect();
        let datasets = (0..n)
            .map(|i| (format!("ds-{i}"), dataset_countries(i).map(code)))
            .collect();
        let doc: serde_json::Value = serde_json::from_str(grants_json).unwrap();
        let mut grants: HashMap<String, Vec<(u16, i64, i64)>> = HashMap::new();
        let t = |v: &serde_json::Value| {
            chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
                .unwrap()
                .timestamp()
        };
        for g in doc["grants"].as_array().unwrap() {
            grants
                .entry(g["principal"].as_str().unwrap().to_string())
                .or_default()
                .push((
                    code(g["to_country"].as_str().unwrap()),
                    t(&g["valid_from"]),
                    t(&g["expires_at"]),
                ));
        }
        Floor {
            regions,
            eea,
            datasets,
            grants,
        }
    }

    /// The decision and its determining rules, into `out`.
    fn decide(&self, r: &Request, out: &mut Vec<u32>) -> bool {
        out.clear();
        let res = &r.resource;
        let class = res.classification.as_deref();
        let declared = matches!(class, Some("identity" | "operational"));
        if !declared {
            out.push(UNCLASSIFIED);
        }
        let eea_profile = match res.residency.as_deref() {
            Some("eea") => Some(true),
            Some("global") => Some(false),
            _ => None,
        };
        if eea_profile.is_none() {
            out.push(UNKNOWN_PROFILE);
        }
        let country =
            |id: &Option<Cow<str>>| id.as_deref().and_then(|i| self.regions.get(i)).copied();
        let write = matches!(&*r.action, "store" | "replicate");
        let now = r.time.map_or(0, |t| t.timestamp());
        if write {
            let target = country(&r.target_region);
            let fits = match (target, eea_profile) {
                (Some(t), Some(true)) => self.eea[t as usize],
                (Some(_), Some(false)) => true,
                _ => false,
            };
            if !fits {
                out.push(OUTSIDE_PROFILE);
            }
            if let Some(i) = res.id.as_deref() {
                if let Some(allowed) = self.datasets.get(i) {
                    if target.is_some_and(|t| !allowed.contains(&t)) {
                        let n: u32 = i[3..].parse().unwrap();
                        out.push(FIRST_DATASET + n);
                    }
                }
            }
        } else if r.action == "access" && class == Some("identity") {
            let pc = r.principal.country.map(|c| {
                let [a, b] = c.letters();
                u16::from(a - b'A') * 26 + u16::from(b - b'A')
            });
            if let Some(pc) = pc {
                // Every grant here covers identity data, the class read.
                let granted = r.principal.id.as_deref().is_some_and(|p| {
                    self.grants.get(p).is_some_and(|gs| {
                        gs.iter()
                            .any(|(to, from, until)| *to == pc && *from <= now && now < *until)
                    })
                });
                if !self.eea[pc as usize] && !granted {
                    out.push(CROSS_BORDER_READ);
                }
            }
        }
        if !out.is_empty() {
            return false;
        }
        if write {
            out.push(WRITE);
        } else if r.action == "access" {
            out.push(READ);
        }
        !out.is_empty()
    }
}

/// The same policy in Cedar. The request's resource, target region and
/// principal country are the context; regions are entities (`Region`, with
/// their country), and each principal an entity (`User`) with the set of
/// countries its grants reach. Cedar has no quantifier over a set of
/// records, so a grant's validity window cannot be tested in the policy:
/// the set holds the grants in force at the bench's time (every grant in
/// the bench is), which leaves Cedar less work than the others.
struct CedarPeer {
    policies: cedar_policy::PolicySet,
    entities: cedar_policy::Entities,
    auth: cedar_policy::Authorizer,
    /// Rule ids to Sovra's rule numbers.
    numbers: HashMap<String, u32>,
}

impl CedarPeer {
    fn new(n: usize, grants_json: &str) -> CedarPeer {
        use cedar_policy::{Policy, PolicyId, PolicySet};
        let eea = format!(
            "[{}]",
            EEA.iter()
                .map(|c| format!("\"{c}\""))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut rules: Vec<(String, String)> = vec![
            (
                "unclassified".into(),
                r#"forbid(principal, action, resource) unless { context.resource has classification && ["identity", "operational"].contains(context.resource.classification) };"#.into(),
            ),
            (
                "unknown_profile".into(),
                r#"forbid(principal, action, resource) unless { context.resource has residency && ["eea", "global"].contains(context.resource.residency) };"#.into(),
            ),
            (
                "outside_profile".into(),
                format!(r#"forbid(principal, action in [Action::"store", Action::"replicate"], resource) unless {{ context has target && context.resource has residency && (context.resource.residency == "global" || (context.resource.residency == "eea" && {eea}.contains(context.target.country))) }};"#),
            ),
            (
                "cross_border_read".into(),
                format!(r#"forbid(principal, action == Action::"access", resource) when {{ context.resource has classification && context.resource.classification == "identity" && context has principal_country && !{eea}.contains(context.principal_country) && !(principal has grants && principal.grants.contains(context.principal_country)) }};"#),
            ),
            (
                "write".into(),
                r#"permit(principal, action in [Action::"store", Action::"replicate"], resource);"#.into(),
            ),
            (
                "read".into(),
                r#"permit(principal, action == Action::"access", resource);"#.into(),
            ),
        ];
        for i in 0..n {
            let list = dataset_countries(i).map(|c| format!("\"{c}\"")).join(", ");
            rules.push((
                format!("ds_{i}"),
                format!(r#"forbid(principal, action in [Action::"store", Action::"replicate"], resource == Dataset::"ds-{i}") when {{ context has target && ![{list}].contains(context.target.country) }};"#),
            ));
        }
        let mut policies = PolicySet::new();
        let mut numbers = HashMap::new();
        for (i, (id, text)) in rules.iter().enumerate() {
            policies
                .add(Policy::parse(Some(PolicyId::new(id)), text).unwrap())
                .unwrap();
            numbers.insert(id.clone(), i as u32);
        }
        // Entities: the regions, and the principals with their grants.
        let mut ents: Vec<serde_json::Value> = REGION_COUNTRIES
            .iter()
            .enumerate()
            .map(|(i, c)| {
                serde_json::json!({"uid": {"type": "Region", "id": format!("r{i}")},
                    "attrs": {"country": c}, "parents": []})
            })
            .collect();
        let doc: serde_json::Value = serde_json::from_str(grants_json).unwrap();
        let mut by_principal: HashMap<&str, Vec<&str>> = HashMap::new();
        for g in doc["grants"].as_array().unwrap() {
            by_principal
                .entry(g["principal"].as_str().unwrap())
                .or_default()
                .push(g["to_country"].as_str().unwrap());
        }
        for (p, to) in by_principal {
            ents.push(serde_json::json!({"uid": {"type": "User", "id": p},
                "attrs": {"grants": to}, "parents": []}));
        }
        let entities =
            cedar_policy::Entities::from_json_value(serde_json::Value::Array(ents), None).unwrap();
        CedarPeer {
            policies,
            entities,
            auth: cedar_policy::Authorizer::new(),
            numbers,
        }
    }

    /// The request in Cedar's terms, built once (as Sovra's is).
    fn request(r: &Request) -> cedar_policy::Request {
        use std::str::FromStr;
        let uid = |t: &str, id: &str| {
            cedar_policy::EntityUid::from_type_name_and_id(
                cedar_policy::EntityTypeName::from_str(t).unwrap(),
                cedar_policy::EntityId::new(id),
            )
        };
        let res = &r.resource;
        let mut resource = serde_json::Map::new();
        for (k, v) in [
            ("id", &res.id),
            ("classification", &res.classification),
            ("residency", &res.residency),
        ] {
            if let Some(v) = v {
                resource.insert(k.into(), v.clone().into());
            }
        }
        let mut context = serde_json::Map::new();
        context.insert("resource".into(), resource.into());
        if let Some(t) = &r.target_region {
            context.insert(
                "target".into(),
                serde_json::json!({"__entity": {"type": "Region", "id": t}}),
            );
        }
        if let Some(c) = r.principal.country {
            context.insert("principal_country".into(), c.to_string().into());
        }
        let context =
            cedar_policy::Context::from_json_value(serde_json::Value::Object(context), None)
                .unwrap();
        cedar_policy::Request::new(
            uid("User", r.principal.id.as_deref().unwrap_or("")),
            uid("Action", &r.action),
            uid("Dataset", res.id.as_deref().unwrap_or("")),
            context,
            None,
        )
        .unwrap()
    }

    /// The decision and its determining rules (Sovra's numbers, sorted).
    fn decide(&self, req: &cedar_policy::Request) -> (bool, Vec<u32>) {
        let resp = self.auth.is_authorized(req, &self.policies, &self.entities);
        let mut rules: Vec<u32> = resp
            .diagnostics()
            .reason()
            .map(|id| self.numbers[id.to_string().as_str()])
            .collect();
        rules.sort_unstable();
        (resp.decision() == cedar_policy::Decision::Allow, rules)
    }
}

fn verdicts(c: &mut Criterion) {
    let regions = Regions::from_json(&regions()).unwrap();
    let requests: Vec<(&str, Request)> = REQUESTS
        .iter()
        .map(|(n, t)| (*n, Request::from_json(t).unwrap()))
        .collect();
    let mut g = c.benchmark_group("verdict");
    for rules in [0, 1_000, 10_000] {
        let mut src = sovra::source::Sources::default();
        src.add("bench.sov", policy(rules));
        let program = sovra::policy::compile(&src)
            .unwrap_or_else(|d| panic!("{}", sovra::diag::render(&d, &src)));
        for n in [10, 100_000] {
            let text = grants(n);
            let grants = Grants::from_json(&text).unwrap();
            let engine = Engine::new(program.clone(), regions.clone(), grants.clone());
            let floor = Floor::new(rules, &text);
            // SOVRA_BENCH_PEERS=0: Sovra and the floor only (a profile
            // under callgrind need not build the peers).
            let peers = std::env::var("SOVRA_BENCH_PEERS").map_or(true, |v| v != "0");
            let cedar = peers.then(|| CedarPeer::new(rules, &text));
            let mut rego = (peers && rules <= 1_000 && n <= 10)
                .then(|| RegoEngine::new(&program, &regions, &grants, RegoMode::Rvm).unwrap());
            let mut scratch = Scratch::default();
            let mut out = Vec::new();
            for (name, req) in &requests {
                // The same answers before anything is timed.
                let v = engine.verdict(req, &mut scratch);
                let (allow, rules_hit) = (v.allow, v.rules.to_vec());
                assert_eq!(floor.decide(req, &mut out), allow, "{name}");
                assert_eq!(out, rules_hit, "{name}");
                let expect = name.ends_with("allow") || name.ends_with("grant");
                assert_eq!(allow, expect, "{name}");
                let id = format!("{name}/{rules}-rules/{n}-grants");
                g.bench_function(BenchmarkId::new("sovra", &id), |b| {
                    b.iter(|| black_box(engine.verdict(black_box(req), &mut scratch).allow))
                });
                g.bench_function(BenchmarkId::new("floor", &id), |b| {
                    b.iter(|| black_box(floor.decide(black_box(req), &mut out)))
                });
                if let Some(cedar) = &cedar {
                    let creq = CedarPeer::request(req);
                    assert_eq!(cedar.decide(&creq), (allow, rules_hit.clone()), "{name}");
                    g.bench_function(BenchmarkId::new("cedar", &id), |b| {
                        b.iter(|| black_box(cedar.decide(black_box(&creq)).0))
                    });
                }
                if let Some(rego) = rego.as_mut() {
                    let input = to_rego_value(req).unwrap();
                    assert_eq!(rego.decide_value(input.clone()).unwrap().allow, allow);
                    g.bench_function(BenchmarkId::new("regorus-rvm", &id), |b| {
                        b.iter(|| black_box(rego.decide_value(input.clone()).unwrap().allow))
                    });
                }
            }
        }
    }
    g.finish();
}

criterion_group!(benches, verdicts);
criterion_main!(benches);
