#!/usr/bin/env bash
# Schemathesis, every check, against a live `sovra serve` built from this
# tree: bash tests/schemathesis/run.sh [MAX_EXAMPLES] (default 50).
# Needs `pip install schemathesis` (CI installs the pinned version).
set -euo pipefail
cd "$(dirname "$0")/../.."
max=${1:-50}
bin=target/debug/sovra
[ -x "$bin" ] || cargo build --quiet
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
token="st-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf 'admin,historic %s\n' "$token" > "$dir/tokens"
"$bin" serve --addr 127.0.0.1:0 --tokens "$dir/tokens" 2> "$dir/err" &
pid=$!
for _ in $(seq 100); do
  port=$(sed -n 's#.*listening on http://127.0.0.1:\([0-9]*\).*#\1#p' "$dir/err")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "${port:-}" ] || { cat "$dir/err"; exit 1; }
schemathesis --config-file tests/schemathesis/schemathesis.toml run docs/openapi.yaml \
  --url "http://127.0.0.1:$port" --header "Authorization: Bearer $token" \
  --checks all --max-examples "$max" --seed 20261202 --no-color
