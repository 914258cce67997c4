#!/usr/bin/env bash
# Times auditor searches of the AuditEvent trail on an existing data directory, e.g. the one a
# `bench/cpu-per-read.sh` run left behind (~120,000 AuditEvents after one audited run), so
# that a change to how the trail is indexed is weighed against what its searches cost
# (docs/design/012-audit-lean-index.md "Step one, measured and taken back").
#
# Usage: bench/audit-search.sh BINARY DATA_DIR [PORT (18555)]
# Each search runs three times over HTTPS with curl; the best time is printed with the
# result's total (or its number of entries). The first run of each also waits for the
# projection to catch up, as every AuditEvent search does. Only loopback is used.
set -euo pipefail
bin=${1:?usage: bench/audit-search.sh BINARY DATA_DIR [PORT]}
data=${2:?usage: bench/audit-search.sh BINARY DATA_DIR [PORT]}
port=${3:-18555}
"$bin" serve --data-dir "$data" --listen "127.0.0.1:$port" >"$data/audit-search-server.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT
ca="$data/tls/ca.pem"
for _ in $(seq 1 100); do
  curl -s --cacert "$ca" "https://localhost:$port/fhir/metadata" -o /dev/null && break
  sleep 0.2
done
token=$("$bin" token issue --data-dir "$data" --scope 'system/*.cruds' --ttl 600)
out=$(mktemp)
search() {
  local best="" t
  for _ in 1 2 3; do
    t=$(curl -s -o "$out" -w '%{time_total}' --cacert "$ca" \
      -H "Authorization: Bearer $token" "https://localhost:$port/fhir/$1")
    best=$(python3 -c "import sys; print(min(float(x) for x in sys.argv[1:] if x))" $best "$t")
  done
  local n
  n=$(python3 - "$out" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(d.get("total", len(d.get("entry", []))) if d.get("resourceType") == "Bundle" else d.get("resourceType"))
PY
)
  printf '%-60s %8.3f s  %s\n' "$1" "$best" "$n"
}
search 'AuditEvent?_summary=count'
search 'AuditEvent?outcome=8'
search 'AuditEvent?altid=nobody'
search 'AuditEvent?action=R&_count=10'
search 'AuditEvent?subtype=read&_count=10'
search 'AuditEvent?date=ge2020-01-01&_count=10'
search 'AuditEvent?_sort=-date&_count=10'
search 'AuditEvent?_sort=-date&outcome=0&_count=10'
# under a date walk: a rare value is read as a set, common ones are checked one by one
search 'AuditEvent?_sort=-date&altid=nobody&_count=10'
search 'AuditEvent?_sort=-date&action=R&outcome=0&_count=10'
search 'AuditEvent?_sort=-date&address:contains=.0.&_count=10'
# two common values: one drives, the other is checked on each of its matches
search 'AuditEvent?action=R&outcome=0&_summary=count'
search 'AuditEvent?action=R&subtype=read&_count=10'
# a reference drives; a common value is checked on each of its matches
search 'AuditEvent?entity:Patient.gender=female&action=R&_summary=count'
search 'AuditEvent?address:contains=.0.&_summary=count'
rm -f "$out"
