//! Seeded generators of requests, documents and policies, shared by the
//! differential tests and the benches (`#[path]`-included there).
#![allow(
    dead_code,
    reason = "shared by several test crates; each uses part of it"
)]

use serde_json::{json, Map, Value};

/// Seconds since 1970 of an instant written `YYYY-MM-DDTHH:MM:SSZ` (the
/// shape the generators and the bundled requests write), read by hand for
/// the benches' hand-written floors (what another text gives is not used:
/// the floors' answers are checked against Sovra's).
pub fn unix_seconds(t: &str) -> i64 {
    let n = |a: usize, b: usize| -> i64 { t.get(a..b).and_then(|s| s.parse().ok()).unwrap_or(0) };
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + n(11, 13) * 3_600 + n(14, 16) * 60 + n(17, 19)
}

/// xorshift64*: small, seeded, reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

pub const COUNTRIES: &[&str] = &[
    "DE", "FR", "IE", "NO", "IS", "CH", "GB", "US", "IN", "RU", "CN", "JP", "BR", "KZ", "CA",
];
pub const CLASSES: &[&str] = &[
    "identity",
    "transactional",
    "operational",
    "content",
    "analytical",
    "secret",
];
pub const PROFILES: &[&str] = &[
    "eea",
    "eu",
    "de-only",
    "us-only",
    "fr-sovereign",
    "de-primary-eea",
    "client",
    "global",
    "mars",
];
pub const STATUSES: &[&str] = &[
    "active", "active", "active", "degraded", "draining", "offline",
];
pub const ACTIONS: &[&str] = &[
    "store",
    "store",
    "replicate",
    "replicate",
    "access",
    "access",
    "delete",
];
pub const MECHANISMS: &[&str] = &["scc", "bcr", "dpf", "consent"];
pub const PURPOSES: &[&str] = &["support", "billing"];
pub const T0: i64 = 1_772_366_400; // 2026-03-01T12:00:00Z

/// An RFC 3339 time `delta` seconds from T0, sometimes written with an offset.
pub fn time(rng: &mut Rng, delta: i64) -> String {
    let t = chrono::DateTime::from_timestamp(T0 + delta, 0).unwrap();
    if rng.chance(30) {
        let off = chrono::FixedOffset::east_opt(2 * 3600).unwrap();
        t.with_timezone(&off).to_rfc3339()
    } else {
        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }
}

/// A delta near the interesting instants: exactly at them, one second either side.
fn near(rng: &mut Rng) -> i64 {
    *rng.pick(&[-86_400, -3, -1, 0, 0, 1, 3, 86_400])
}

pub fn regions(rng: &mut Rng, n: usize) -> Value {
    let regions: Vec<Value> = (0..n)
        .map(|i| {
            let mut r = Map::new();
            r.insert("id".into(), json!(format!("r{i}")));
            r.insert("country".into(), json!(rng.pick(COUNTRIES)));
            if rng.chance(80) {
                r.insert("status".into(), json!(rng.pick(STATUSES)));
            }
            if rng.chance(50) {
                r.insert("sovereign".into(), json!(rng.chance(40)));
            }
            if rng.chance(30) {
                r.insert("provider".into(), json!(rng.pick(&["aws", "gcp", "azure"])));
            }
            if rng.chance(40) {
                // Rarely of another type than policies declare.
                let certs = if rng.chance(2) {
                    json!("C5")
                } else {
                    json!([rng.pick(&["C5", "SecNumCloud", "ISO27001"])])
                };
                r.insert("attributes".into(), json!({ "certifications": certs }));
            }
            Value::Object(r)
        })
        .collect();
    json!({ "regions": regions })
}

pub fn grant(rng: &mut Rng, id: usize, principal: &str) -> Value {
    let mut g = Map::new();
    g.insert("id".into(), json!(format!("g{id}")));
    g.insert("principal".into(), json!(principal));
    if rng.chance(60) {
        g.insert("resource".into(), json!(format!("ds{}", rng.below(3))));
    }
    if rng.chance(50) {
        let k = 1 + rng.below(2);
        let cs: Vec<&str> = (0..k).map(|_| *rng.pick(&CLASSES[..5])).collect();
        g.insert("classifications".into(), json!(cs));
    }
    g.insert("to_country".into(), json!(rng.pick(COUNTRIES)));
    if rng.chance(50) {
        g.insert("purpose".into(), json!(rng.pick(PURPOSES)));
    }
    if rng.chance(85) {
        g.insert("mechanism".into(), json!(rng.pick(MECHANISMS)));
    }
    g.insert("requested_by".into(), json!("alice"));
    match rng.below(6) {
        0 => {}
        1 => {
            g.insert("approved_by".into(), json!(""));
        }
        2 => {
            g.insert("approved_by".into(), json!("alice"));
        }
        _ => {
            g.insert("approved_by".into(), json!("bob"));
        }
    }
    let from = rng.chance(50).then(|| near(rng));
    let d = near(rng);
    let d = d + if rng.chance(50) { 0 } else { 30 * 86_400 };
    // A grant always expires after it becomes valid (documents refuse the rest).
    if let Some(f) = from {
        let f = if f < d { f } else { d - 1 };
        g.insert("valid_from".into(), json!(time(rng, f)));
    }
    g.insert("expires_at".into(), json!(time(rng, d)));
    if rng.chance(25) {
        let d = near(rng);
        g.insert("revoked_at".into(), json!(time(rng, d)));
    }
    Value::Object(g)
}

pub fn grants(rng: &mut Rng, principals: usize, per: usize) -> Value {
    let mut list = Vec::new();
    for p in 0..principals {
        for _ in 0..rng.below(per + 1) {
            let id = list.len();
            list.push(grant(rng, id, &format!("p{p}")));
        }
    }
    json!({ "grants": list })
}

pub fn request(rng: &mut Rng, regions: usize) -> Value {
    let region = |rng: &mut Rng| -> Value {
        match rng.below(10) {
            0 => Value::Null,
            1 => json!("nowhere"),
            _ => json!(format!("r{}", rng.below(regions))),
        }
    };
    let mut principal = Map::new();
    if rng.chance(90) {
        principal.insert("id".into(), json!(format!("p{}", rng.below(6))));
    }
    if rng.chance(90) {
        principal.insert("country".into(), json!(rng.pick(COUNTRIES)));
    }
    if rng.chance(30) {
        principal.insert(
            "roles".into(),
            json!([rng.pick(&["admin", "support", "service"])]),
        );
    }
    let mut resource = Map::new();
    resource.insert("id".into(), json!(format!("ds{}", rng.below(3))));
    if rng.chance(92) {
        resource.insert("classification".into(), json!(rng.pick(CLASSES)));
    }
    if rng.chance(92) {
        resource.insert("residency".into(), json!(rng.pick(PROFILES)));
    }
    if rng.chance(85) {
        resource.insert("home_country".into(), json!(rng.pick(COUNTRIES)));
    }
    if rng.chance(50) {
        let k = rng.below(3);
        let cr: Vec<String> = (0..k).map(|_| format!("r{}", rng.below(regions))).collect();
        resource.insert("client_regions".into(), json!(cr));
    }
    if rng.chance(20) {
        let tenant = if rng.chance(5) {
            json!(5)
        } else {
            json!(rng.pick(&["acme", "globex"]))
        };
        resource.insert("tenant".into(), tenant);
    }
    if rng.chance(40) {
        let home = rng.pick(&[
            "US-CA",
            "DE-BY",
            "FR-75",
            "CA-QC",
            "US-NY",
            "XX-1",
            "California",
        ]);
        resource.insert("home_region".into(), json!(home));
    }
    let mut r = Map::new();
    r.insert("action".into(), json!(rng.pick(ACTIONS)));
    let d = near(rng);
    r.insert("time".into(), json!(time(rng, d)));
    r.insert("principal".into(), Value::Object(principal));
    r.insert("resource".into(), Value::Object(resource));
    for k in ["source_region", "target_region"] {
        let v = region(rng);
        if !v.is_null() {
            r.insert(k.into(), v);
        }
    }
    if rng.chance(60) {
        r.insert("purpose".into(), json!(rng.pick(PURPOSES)));
    }
    if rng.chance(20) {
        let p = if rng.chance(5) {
            json!("high")
        } else {
            json!(rng.below(5))
        };
        r.insert("priority".into(), p);
    }
    if rng.chance(30) {
        let d = near(rng);
        let t = match rng.below(40) {
            0 => json!("soon"),
            1 => json!(rng.pick(&[
                "2026-13-01T00:00:00Z",
                "2026-02-29T00:00:00Z",
                "2028-02-29T00:00:00Z",
                "2026-04-31T10:00:00+02:00"
            ])),
            _ => json!(time(rng, d)),
        };
        r.insert("opened_at".into(), t);
    }
    Value::Object(r)
}

/// A generated request whose regions are real ids of the bundled catalog.
pub fn catalog_request(rng: &mut Rng) -> Value {
    const REGIONS: [&str; 5] = [
        "eu-central-1",
        "eu-west-3",
        "us-east-1",
        "ap-south-1",
        "europe-west6",
    ];
    let mut r = request(rng, 12);
    for k in ["source_region", "target_region"] {
        if r.get(k).is_some() {
            r[k] = json!(rng.pick(&REGIONS));
        }
    }
    r
}

/// A random condition over the request, its regions and (inside `exists`) a grant.
fn condition(rng: &mut Rng, depth: usize, in_grant: bool, declared: &[&str]) -> String {
    let atoms = [
        "action in [store, replicate]",
        "action == access",
        "target.country in [DE, FR, IE, NO]",
        "target.country not in [US, CN]",
        "source.country == principal.country",
        "principal.country != source.country",
        "resource.classification in [identity, content]",
        "resource.classification.sensitivity == high",
        "resource.home_country is missing",
        "resource.home_country in [DE, FR, RU]",
        "target satisfies resource.residency",
        "target satisfies resource.residency.primary",
        "target.status != active",
        "source.status in [draining, offline]",
        "target.provider == aws",
        "target.sovereign == true",
        "resource.residency.mode == hybrid",
        "principal.country == resource.residency.country",
        "\"admin\" in principal.roles",
        "target.id in resource.client_regions",
        "resource.tenant == \"acme\"",
        "request.priority >= 3",
        "purpose == support",
        "target is present",
        "resource.residency is declared",
        "now - request.opened_at <= 1d",
        "now - request.opened_at > 3s",
        "principal.roles any in [admin, support]",
        "principal.roles all in [admin, service]",
        "principal.roles none in [admin]",
        "count(principal.roles) >= 1",
        "resource.tenant starts_with \"ac\"",
        "resource.tenant ends_with \"ex\"",
        "resource.tenant matches \"*b?x\"",
        "target.country in [principal.country, DE]",
        "target.country not in [resource.home_country, US]",
        "calm",
        "home(resource.home_country)",
        "target satisfies de-only",
        "not (source satisfies eea)",
        "target satisfies sovereign(resource.home_country)",
        "target satisfies single_country(principal.country)",
        "target satisfies regional([DE, FR] + [NO])",
        "target satisfies hybrid(primary: DE, secondary: [FR, US])",
    ];
    let grant_atoms = [
        "g.to_country == target.country",
        "g.to_country == principal.country",
        "g.mechanism in [scc, bcr]",
        "g.mechanism == dpf",
        "g.mechanism not in [dpf]",
        "g.to_country == US",
        "g.to_country in [US, JP]",
        "g.purpose in [support, billing]",
        "g.expires_at > now + 7d",
        "g.purpose is missing",
        "now - g.valid_from >= 1d",
        "now - g.valid_from < 3s",
        "near(g)",
    ];
    if depth == 0 || rng.chance(35) {
        if in_grant && rng.chance(60) {
            return rng.pick(&grant_atoms).to_string();
        }
        if !declared.is_empty() && rng.chance(25) {
            return rng.pick(declared).to_string();
        }
        return rng.pick(&atoms).to_string();
    }
    match rng.below(5) {
        0 => format!(
            "({} or {})",
            condition(rng, depth - 1, in_grant, declared),
            condition(rng, depth - 1, in_grant, declared)
        ),
        1 => format!("not ({})", condition(rng, depth - 1, in_grant, declared)),
        2 if !in_grant => format!(
            "(exists grant g where {})",
            condition(rng, depth - 1, true, declared)
        ),
        3 if !in_grant => format!(
            "not exists grant g where {}",
            condition(rng, depth - 1, true, declared)
        ),
        _ => format!(
            "{} and {}",
            condition(rng, depth - 1, in_grant, declared),
            condition(rng, depth - 1, in_grant, declared)
        ),
    }
}

/// A generated package of `rules` rules (to compile with the bundled library,
/// whose classifications and profiles it uses).
pub fn policy(rng: &mut Rng, rules: usize) -> String {
    // Half the policies declare their fields: then every extra is typed,
    // and a request or region of another type is denied.
    let declared: &[&str] = if rng.chance(50) {
        &[
            "resource.home_region in [US-CA, FR-75]",
            "target.country == resource.home_region.country",
            "target.certifications any in [\"C5\"]",
            "resource.home_region == DE-BY",
            "target satisfies single_country(resource.home_region.country)",
        ]
    } else {
        &[]
    };
    let mut s = String::from(
        "package gen\n\n\
         condition calm = target.status == active and not (principal.country in [RU])\n\
         condition near(g) = g.to_country in [principal.country, target.country]\n\
         condition home(c) = target.country == c or source.country == c\n\n",
    );
    // Bounds on grants, sometimes: grants here last 0 to 31 days.
    if rng.chance(50) {
        let bounds: &[&str] = &[
            "grants last at most 30d\n\n",
            "grants of identity last at most 2d\n\n",
            "grants last at most 1d\ngrants of content last at most 20d\n\n",
        ];
        let bound: &&str = rng.pick(bounds);
        s.push_str(bound);
    }
    if !declared.is_empty() {
        s.push_str(
            "field resource.tenant: string\n\
             field resource.home_region: subdivision\n\
             field request.priority: number\n\
             field request.opened_at: time\n\
             field region.certifications: [string]\n\n",
        );
    }
    for i in 0..rules {
        let effect = if rng.chance(55) { "forbid" } else { "permit" };
        let action = match rng.below(4) {
            0 => "action == store and ",
            1 => "action == access and ",
            2 => "action in [store, replicate] and ",
            _ => "",
        };
        let cond = condition(rng, 3, false, declared);
        s.push_str(&format!("{effect} r{i}\n  when {action}{cond}\n\n"));
    }
    s
}

pub const EEA: &str = "AT, BE, BG, CY, CZ, DE, DK, EE, ES, FI, FR, GR, HR, HU, IE, IS, IT, LI, LT, LU, LV, MT, NL, NO, PL, PT, RO, SE, SI, SK";

/// A realistic large policy: per-dataset residency and export rules,
/// per-tenant access rules and per-principal blocks, on top of a few
/// general rules. `rules` is the total number of rules.
pub fn scale_policy(rng: &mut Rng, rules: usize) -> String {
    let mut s = format!(
        "package scale\n\n\
         classification identity      sensitivity high\n\
         classification transactional sensitivity high\n\
         classification operational   sensitivity medium\n\
         classification content       sensitivity variable\n\
         classification analytical    sensitivity low\n\n\
         set EEA = [{EEA}]\n\
         set PERSONAL = [identity, transactional, content]\n\n\
         profile eea     = regional(EEA)\n\
         profile de-only = single_country(DE)\n\
         profile global  = unrestricted\n\n\
         forbid unclassified when resource.classification is not declared\n\
         forbid unknown_profile when resource.residency is not declared\n\
         forbid outside_profile when action in [store, replicate] and not (target satisfies resource.residency)\n\
         permit write when action in [store, replicate]\n\
         permit read when action == access\n\n"
    );
    let pool = [
        "DE", "FR", "IE", "NL", "SE", "FI", "AT", "BE", "IT", "ES", "PL", "CH", "GB", "US", "CA",
        "JP",
    ];
    let some = |rng: &mut Rng| -> String {
        let k = 2 + rng.below(4);
        let mut v: Vec<&str> = (0..k).map(|_| *rng.pick(&pool)).collect();
        v.sort();
        v.dedup();
        v.join(", ")
    };
    for i in 0..rules.saturating_sub(5) {
        let n = i / 4;
        let rule = match i % 4 {
            0 => format!(
                "forbid ds_{n}_residency\n  when action in [store, replicate] and resource.id == \"ds-{n}\" and target.country not in [{}]\n  because \"dataset ds-{n} stays in its countries, not {{target.country}}\"\n",
                some(rng)
            ),
            1 => format!(
                "forbid tenant_{n}_access\n  when action == access and resource.tenant == \"t-{n}\" and principal.country not in [{}]\n",
                some(rng)
            ),
            2 => format!(
                "permit ds_{n}_export\n  when action == replicate and resource.id == \"ds-{n}\" and target.country in [{}]\n   and exists grant g where g.to_country == target.country and g.mechanism in [scc, bcr]\n  with obligations [encrypt_in_transit]\n",
                some(rng)
            ),
            _ => format!("forbid svc_{n}_blocked\n  when principal.id == \"svc-{n}\" and action == access and source.country in [CN, RU]\n"),
        };
        s.push_str(&rule);
        s.push('\n');
    }
    s
}

/// `n` grants over `n / 5` principals (`svc-K`), one classification each,
/// for datasets `ds-K`.
pub fn scale_grants(rng: &mut Rng, n: usize) -> String {
    let principals = (n / 5).max(1);
    let mut s = String::with_capacity(n * 300 + 16);
    s.push_str("{\"grants\": [\n");
    for i in 0..n {
        let p = rng.below(principals);
        let country = rng.pick(&["US", "IN", "JP", "BR", "CA", "SG"]);
        let mech = rng.pick(&["scc", "bcr", "dpf"]);
        let class = rng.pick(&["identity", "financial", "health"]);
        let expires = 1_790_000_000 + rng.below(10_000_000) as i64;
        let t = chrono::DateTime::from_timestamp(expires, 0)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        if i > 0 {
            s.push_str(",\n");
        }
        s.push_str(&format!(
            "{{\"id\": \"g-{i}\", \"principal\": \"svc-{p}\", \"resource\": \"ds-{}\", \"classifications\": [\"{class}\"], \"to_country\": \"{country}\", \"mechanism\": \"{mech}\", \"purpose\": \"analytics\", \"requested_by\": \"owner-{}\", \"approved_by\": \"dpo-{}\", \"valid_from\": \"2026-01-01T00:00:00Z\", \"expires_at\": \"{t}\"}}",
            rng.below(principals),
            rng.below(50),
            rng.below(10)
        ));
    }
    s.push_str("\n]}\n");
    s
}

/// Requests that reach the generated rules: datasets, tenants and principals
/// drawn from the ranges a policy of `rules` rules names.
pub fn scale_requests(rng: &mut Rng, rules: usize, principals: usize, count: usize) -> Vec<String> {
    let n = (rules / 4).max(1);
    (0..count)
        .map(|i| {
            let action = ["store", "replicate", "access"][i % 3];
            let ds = rng.below(n);
            let country = rng.pick(&["DE", "FR", "US", "IN", "CN"]);
            format!(
                "{{\"action\":\"{action}\",\"time\":\"2026-03-01T12:00:00Z\",\"principal\":{{\"id\":\"svc-{}\",\"country\":\"{country}\"}},\"resource\":{{\"id\":\"ds-{ds}\",\"classification\":\"identity\",\"residency\":\"{}\",\"home_country\":\"DE\",\"tenant\":\"t-{}\"}},\"source_region\":\"eu-central-1\",\"target_region\":\"{}\",\"purpose\":\"analytics\"}}",
                rng.below(principals.max(1)),
                rng.pick(&["eea", "global", "de-only"]),
                rng.below(n),
                rng.pick(&["eu-central-1", "eu-west-3", "us-east-1", "ap-south-1"]),
            )
        })
        .collect()
}
