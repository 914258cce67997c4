#!/usr/bin/env bash
# SMART acceptance suite: starts a real OpenID provider (oidc-provider) and two `ward serve`
# instances over TLS (one plain, one with TOTP for every role), then runs the node tests:
# Chromium + fhirclient standalone launches, Backend Services with fresh keys, external IdP.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
cargo build -q -p ward
bin="$root/target/debug/ward"
cd "$here"
[ -d node_modules ] || npm ci --no-audit --no-fund --silent
work="$(mktemp -d)"
pids=()
cleanup() {
  for f in "$work"/*.pid; do [ -f "$f" ] && pids+=("$(cat "$f")"); done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
app_port="$(free_port)"
idp_port="$(free_port)"

node idp.mjs "$idp_port" >"$work/idp.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do grep -q ready "$work/idp.log" && break; sleep 0.1; done
grep -q ready "$work/idp.log" || { cat "$work/idp.log"; echo "oidc-provider did not start" >&2; exit 1; }

start_ward() { # name mfa_all_roles
  local name=$1 mfa=$2
  cat >"$work/$name.toml" <<TOML
[auth]
mfa_all_roles = $mfa
cors_origins = ["http://127.0.0.1:$app_port"]

[auth.external_idp]
issuer = "http://127.0.0.1:$idp_port"
audience = "urn:ward:fhir"
algorithms = ["ES256"]
TOML
  : >"$work/$name.out" # exists before the loop below reads it (the child opens it later)
  "$bin" serve --config "$work/$name.toml" --data-dir "$work/$name" --listen 127.0.0.1:0 \
    >"$work/$name.out" 2>"$work/$name.log" &
  echo $! >"$work/$name.pid" # called in $(…): the parent reads the pid from this file
  local base=""
  for _ in $(seq 1 100); do
    base="$(sed -n 's/^FHIR base URL: //p' "$work/$name.out")"
    [ -n "$base" ] && break
    sleep 0.1
  done
  [ -n "$base" ] || { cat "$work/$name.log" >&2; echo "ward ($name) did not start" >&2; exit 1; }
  echo "$base"
}
plain_base="$(start_ward plain false)"
# The second server reuses the first one's local CA, so one CA file is trusted for both.
mkdir -m 700 "$work/mfa" "$work/mfa/tls"
cp -p "$work/plain/tls/ca.pem" "$work/plain/tls/ca.key" "$work/mfa/tls/"
mfa_base="$(start_ward mfa true)"

WARD_BIN="$bin" APP_PORT="$app_port" IDP_URL="http://127.0.0.1:$idp_port" \
  WARD_PLAIN_BASE="$plain_base" WARD_PLAIN_DATA="$work/plain" \
  WARD_MFA_BASE="$mfa_base" WARD_MFA_DATA="$work/mfa" \
  NODE_EXTRA_CA_CERTS="$work/plain/tls/ca.pem" node --test --test-concurrency=1
