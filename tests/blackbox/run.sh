#!/usr/bin/env bash
# Runs the black-box client suite against a real `ward serve` (TLS, local CA, fresh data dir),
# then checks that the PHI the suite wrote appears in no file under the data directory.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
cargo build -q -p ward
bin="$root/target/debug/ward"
work="$(mktemp -d)"
data="$work/data"
log="$work/server.log"
trap 'kill "${pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

"$bin" serve --data-dir "$data" --listen 127.0.0.1:0 >"$work/out" 2>"$log" &
pid=$!
for _ in $(seq 1 100); do
  base="$(sed -n 's/^FHIR base URL: //p' "$work/out")"
  [ -n "$base" ] && break
  sleep 0.1
done
[ -n "${base:-}" ] || { cat "$log"; echo "server did not start" >&2; exit 1; }
token="$("$bin" token issue --data-dir "$data" --scope 'system/*.cruds' --ttl 900)"
readonly_token="$("$bin" token issue --data-dir "$data" --scope 'system/Patient.rs' --ttl 900)"
marker="Blackboxia-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"

cd "$here"
[ -d node_modules ] || npm ci --no-audit --no-fund --silent
WARD_BASE="$base" WARD_TOKEN="$token" WARD_TOKEN_READONLY="$readonly_token" WARD_PHI_MARKER="$marker" \
  NODE_EXTRA_CA_CERTS="$data/tls/ca.pem" node --test --test-concurrency=1

kill -TERM "$pid"; wait "$pid" || true
if grep -rl --binary-files=text "$marker" "$data" "$log"; then
  echo "FAIL: the PHI marker was found on disk or in the log (files above)" >&2
  exit 1
fi
echo "ok: no PHI marker in $(find "$data" -type f | wc -l) data files or the server log"
