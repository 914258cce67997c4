#!/usr/bin/env bash
# The measurement series of bench/README.md, in one script: the loopback ceiling, Ward as it ships
# (TLS, bearer auth, audit, SQLCipher + envelopes), Ward built with `bench-unaudited` and audit off,
# Helios FHIR Server as it ships, and optionally Ward on PostgreSQL. Every run writes ward-bench's
# JSON report to OUT/<server>-<workload>-<rep>.json; bench/summarize.py turns them into the tables.
#
# Usage: bench/compare.sh OUT [servers...]
#   servers: ceiling ward unaudited helios postgres   (default: ceiling ward unaudited helios)
# Env: REPS (3), WARMUP (5), DURATION (20), CONC (32), PATIENTS (100),
#      WARD (target/release/ward), WARD_UNAUDITED (target/bench-unaudited/release/ward),
#      BENCH (target/release/ward-bench), HFS (hfs on PATH), HFS_DEFS (dir with the R4 files),
#      PG_URL (postgres://postgres@127.0.0.1:5432/postgres; a database ward_bench is recreated),
#      WORKLOADS ("crud read search ingest": the Ward series' workloads, e.g. "read" alone).
# Only loopback addresses are used. Each server is stopped before the next one starts.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
out=${1:?usage: bench/compare.sh OUT [servers...]}
shift
servers=("$@")
((${#servers[@]})) || servers=(ceiling ward unaudited helios)
REPS=${REPS:-3} WARMUP=${WARMUP:-5} DURATION=${DURATION:-20} CONC=${CONC:-32} PATIENTS=${PATIENTS:-100}
WARD=${WARD:-target/release/ward}
WARD_UNAUDITED=${WARD_UNAUDITED:-target/bench-unaudited/release/ward}
export -n WARD_UNAUDITED # the servers warn about unknown WARD_* variables
BENCH=${BENCH:-target/release/ward-bench}
HFS=${HFS:-hfs}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
mkdir -p "$out"
RUN=(--concurrency "$CONC" --warmup "$WARMUP" --duration "$DURATION")
pid=""

log() { printf '%s  %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$out/log.txt" >&2; }
pid2=""
stop() {
  for p in $pid $pid2; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  pid="" pid2=""
}
trap stop EXIT
wait_up() { # URL [curl args]
  local url=$1; shift
  for _ in $(seq 1 100); do curl -fsS -o /dev/null "$@" "$url" && return 0; sleep 0.2; done
  echo "server at $url did not come up" >&2; return 1
}
# one workload REPS times: NAME WORKLOAD ARGS...
series() {
  local name=$1 wl=$2; shift 2
  local extra=()
  case $wl in read|search|ingest) extra=(--patients "$PATIENTS") ;; esac
  for rep in $(seq 1 "$REPS"); do
    log "$name $wl #$rep  load: $(cut -d' ' -f1-3 /proc/loadavg)"
    "$BENCH" "$wl" "$@" "${RUN[@]}" "${extra[@]}" --json >"$out/$name-$wl-$rep.json" 2>>"$out/bench-stderr.txt"
  done
}

ward_series() { # NAME BINARY DATA CONFIG
  local name=$1 bin=$2 data=$3 config=$4
  rm -rf "$data"
  local args=(serve --data-dir "$data" --listen 127.0.0.1:18443)
  [ -n "$config" ] && args+=(--config "$config")
  "$bin" "${args[@]}" >"$out/$name-server.log" 2>&1 &
  pid=$!
  wait_up https://127.0.0.1:18443/fhir/metadata --cacert "$data/tls/ca.pem"
  local w=(--base https://127.0.0.1:18443/fhir --cacert "$data/tls/ca.pem"
    --token-cmd "$bin token issue --data-dir $data --scope 'system/*.cruds' --ttl 7200")
  for wl in ${WORKLOADS:-crud read search ingest}; do series "$name" "$wl" "${w[@]}"; done
  stop
}

for s in "${servers[@]}"; do
  case $s in
  ceiling)
    rm -rf /tmp/bench-ceiling-tls
    "$BENCH" ceiling --listen 127.0.0.1:18090 --tls --tls-dir /tmp/bench-ceiling-tls --exit-after 900 \
      >"$out/ceiling-server.log" 2>&1 &
    pid=$!
    wait_up https://127.0.0.1:18090/fhir/metadata --cacert /tmp/bench-ceiling-tls/ca.pem
    series ceiling get --base https://127.0.0.1:18090/fhir --cacert /tmp/bench-ceiling-tls/ca.pem
    stop
    ;;
  ward) ward_series ward "$WARD" /tmp/bench-ward "" ;;
  unaudited)
    printf '[audit]\nenabled = false\n' >/tmp/bench-unaudited.toml
    ward_series unaudited "$WARD_UNAUDITED" /tmp/bench-ward-unaudited /tmp/bench-unaudited.toml
    ;;
  helios)
    : "${HFS_DEFS:?set HFS_DEFS to a directory made by bench/helios-data.sh}"
    rm -rf /tmp/bench-helios && mkdir -p /tmp/bench-helios
    cp "$HFS_DEFS"/search-parameters-r4.json "$HFS_DEFS"/compartment-definitions-r4.json /tmp/bench-helios/
    "$HFS" --version >"$out/helios-version.txt" 2>&1 || true
    "$HFS" --data-dir /tmp/bench-helios --database-url /tmp/bench-helios/fhir.db \
      --base-url http://127.0.0.1:18080 --port 18080 \
      --seed-conformance --return-gone --enable-versioning >"$out/helios-server.log" 2>&1 &
    pid=$!
    wait_up http://127.0.0.1:18080/metadata
    for wl in crud read search ingest; do series helios "$wl" --base http://127.0.0.1:18080; done
    stop
    ;;
  postgres)
    psql -q "$PG_URL" -c 'DROP DATABASE IF EXISTS ward_bench WITH (FORCE)' -c 'CREATE DATABASE ward_bench'
    db=${PG_URL%/*}/ward_bench
    key=$(head -c32 /dev/urandom | od -An -tx1 | tr -d ' \n')
    rm -rf /tmp/bench-ward-pg
    WARD_MASTER_KEY=$key WARD_STORAGE_KIND=postgres WARD_STORAGE_URL=$db \
      "$WARD" serve --data-dir /tmp/bench-ward-pg --listen 127.0.0.1:18444 \
      --public-url https://127.0.0.1:18444 >"$out/postgres-server.log" 2>&1 &
    pid=$!
    wait_up https://127.0.0.1:18444/fhir/metadata --cacert /tmp/bench-ward-pg/tls/ca.pem
    w=(--base https://127.0.0.1:18444/fhir --cacert /tmp/bench-ward-pg/tls/ca.pem
      --token-cmd "env WARD_MASTER_KEY=$key WARD_STORAGE_KIND=postgres WARD_STORAGE_URL=$db $WARD token issue --data-dir /tmp/bench-ward-pg --scope 'system/*.cruds' --ttl 7200")
    for wl in crud read search ingest; do series postgres "$wl" "${w[@]}"; done
    # a second node on the same database: both driven at once, half the concurrency each.
    # Nodes of one cluster share one public URL (the tokens' audience), here node A's.
    rm -rf /tmp/bench-ward-pg2
    WARD_MASTER_KEY=$key WARD_STORAGE_KIND=postgres WARD_STORAGE_URL=$db \
      "$WARD" serve --data-dir /tmp/bench-ward-pg2 --listen 127.0.0.1:18445 \
      --public-url https://127.0.0.1:18444 >"$out/postgres2-server.log" 2>&1 &
    pid2=$!
    wait_up https://127.0.0.1:18445/fhir/metadata --cacert /tmp/bench-ward-pg2/tls/ca.pem
    w2=(--base https://127.0.0.1:18445/fhir --cacert /tmp/bench-ward-pg2/tls/ca.pem "${w[@]:4}")
    half=(--concurrency $((CONC / 2)) --warmup "$WARMUP" --duration "$DURATION")
    for wl in crud read search; do
      extra=(); [ "$wl" = crud ] || extra=(--patients "$PATIENTS")
      for rep in $(seq 1 "$REPS"); do
        log "two nodes $wl #$rep  load: $(cut -d' ' -f1-3 /proc/loadavg)"
        "$BENCH" "$wl" "${w[@]}" "${half[@]}" "${extra[@]}" --json >"$out/pgnodeA-$wl-$rep.json" 2>>"$out/bench-stderr.txt" &
        bp=$!
        "$BENCH" "$wl" "${w2[@]}" "${half[@]}" "${extra[@]}" --json >"$out/pgnodeB-$wl-$rep.json" 2>>"$out/bench-stderr.txt"
        wait "$bp" || log "node A's run failed (see bench-stderr.txt)"
      done
    done
    stop
    ;;
  *) echo "unknown server $s" >&2; exit 2 ;;
  esac
done
log "done"
