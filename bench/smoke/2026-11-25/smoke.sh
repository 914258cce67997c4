#!/usr/bin/env bash
# Smoke series of 2026-11-25 (bounded: 5 s warm-up + 20 s per workload). Writes /tmp/smoke-*.json.
set -u
cd "$(git rev-parse --show-toplevel)"
B=target/release/ward-bench
W=target/release/ward
rm -rf /tmp/bench-ward /tmp/bench-ceiling-tls
$B ceiling --listen 127.0.0.1:18090 --tls --tls-dir /tmp/bench-ceiling-tls --exit-after 40 > /tmp/ceiling.out 2>&1 &
sleep 1
echo "## uptime: $(uptime)"
echo '$ ward-bench get --base https://127.0.0.1:18090/fhir --cacert /tmp/bench-ceiling-tls/ca.pem --concurrency 32 --warmup 5 --duration 20'
$B get --base https://127.0.0.1:18090/fhir --cacert /tmp/bench-ceiling-tls/ca.pem --concurrency 32 --warmup 5 --duration 20 --json > /tmp/smoke-ceiling.json 2>/dev/null
$B get --base https://127.0.0.1:18090/fhir --cacert /tmp/bench-ceiling-tls/ca.pem --concurrency 32 --warmup 0 --duration 1 >/dev/null 2>&1 || true
wait
$W serve --data-dir /tmp/bench-ward --listen 127.0.0.1:18443 > /tmp/ward.out 2>&1 &
echo $! > /tmp/ward.pid
sleep 3
C="--base https://127.0.0.1:18443/fhir --cacert /tmp/bench-ward/tls/ca.pem --concurrency 32 --warmup 5 --duration 20"
TC="$W token issue --data-dir /tmp/bench-ward --scope system/*.cruds --ttl 7200"
for wl in crud "read --patients 100" "search --patients 100" "ingest --patients 100"; do
  echo "## uptime: $(uptime)"
  name=${wl%% *}
  $B $wl $C --token-cmd "$TC" --json > /tmp/smoke-$name.json 2>/dev/null
  echo "$name rc=$?"
done
kill $(cat /tmp/ward.pid)
