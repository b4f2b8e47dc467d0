#!/usr/bin/env bash
# Load test of `sovra serve` with wrk on loopback (both share this machine's
# cores). Single decisions, then batches of 1,000 distinct requests (seeded;
# about 3 in 4 are denied, by eight different rules). Bounded: 10 s each,
# then the server is stopped. Reproduce: `bash benches/load.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release -q
PORT=${PORT:-18181}
DURATION=${DURATION:-10s}
./target/release/sovra serve --addr 127.0.0.1:$PORT 2>/dev/null &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf 127.0.0.1:$PORT/ready >/dev/null && break; sleep 0.1; done

work=$(mktemp -d)
python3 - "$work" <<'PY'
import json, random, sys
work = sys.argv[1]
one = json.load(open("docs/examples/store-us.json"))
# A batch of 1,000 distinct requests (seeded): every action, classification
# and residency profile, regions across the bundled catalog, principals from
# many countries, times over a year.
rng = random.Random(7)
regions = [r["id"] for r in json.load(open("policies/catalog/cloud-regions.json"))["regions"]]
countries = ["DE", "FR", "IE", "NL", "US", "IN", "JP", "BR", "CH", "GB", "RU", "CN"]
profiles = ["eea", "eu", "de-only", "us-only", "fr-sovereign", "de-primary-eea", "client", "global"]
classes = ["identity", "transactional", "operational", "content", "analytical"]
batch = []
for i in range(1000):
    r = {
        "action": rng.choice(["store", "replicate", "access"]),
        "time": "2026-%02d-%02dT%02d:%02d:00Z" % (rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59)),
        "principal": {"id": "svc-%d" % rng.randint(1, 50), "country": rng.choice(countries), "roles": [rng.choice(["service", "support", "admin"])]},
        "resource": {
            "id": "ds-%d" % i,
            "classification": rng.choice(classes),
            "residency": rng.choice(profiles),
            "home_country": rng.choice(countries),
            "client_regions": rng.sample(regions, 2),
        },
        "source_region": rng.choice(regions),
        "target_region": rng.choice(regions),
        "purpose": rng.choice(["billing", "support", "analytics"]),
    }
    batch.append(r)
body = json.dumps(one, separators=(",", ":"))
batch = json.dumps(batch, separators=(",", ":"))
for name, b, path in (("single", body, "/v1/evaluate"), ("batch", batch, "/v1/evaluate/batch")):
    with open(f"{work}/{name}.lua", "w") as f:
        f.write('wrk.method = "POST"\nwrk.path = "%s"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = %s\n' % (path, json.dumps(b)))
PY
echo "== single decisions: POST /v1/evaluate, 2 threads, 64 connections, $DURATION"
wrk -t2 -c64 -d"$DURATION" --latency -s "$work/single.lua" "http://127.0.0.1:$PORT"
echo "== batches of 1,000 distinct requests: POST /v1/evaluate/batch, 2 threads, 4 connections, $DURATION"
wrk -t2 -c4 -d"$DURATION" --latency -s "$work/batch.lua" "http://127.0.0.1:$PORT"
echo "(decisions per second through the batch endpoint = requests/sec x 1000)"
rm -rf "$work"
