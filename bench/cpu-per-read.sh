#!/usr/bin/env bash
# Issue #6 item 9's method: audited against unaudited reads, in alternating rounds, with the
# server's CPU per read beside the rate. On this 2-core machine the rate moves ±20% within
# minutes, and CPU per request is the steadier figure (bench/README.md, "2026-12-06, close").
#
# Usage: bench/cpu-per-read.sh OUT [ROUNDS]   (use an even ROUNDS: each order runs equally often)
# Env: WARD (target/release/ward), WARD_UNAUDITED (target/bench-unaudited/release/ward),
#      BENCH (target/release/ward-bench), CONC (32), WARMUP (5), DURATION (15), PATIENTS (100),
#      SAMPLE (8: seconds of CPU accounting, starting 4 s into the measured phase),
#      VARIANTS (default: the audited/unaudited pair; space-separated NAME=BINARY[=CONFIG]
#      runs, e.g. "before=/tmp/ward-a after=/tmp/ward-b off=/tmp/ward-u=/tmp/off.toml"; the
#      order is reversed in even rounds; binary and config paths without spaces or `=`).
#
# Each run: `ward serve` on a fresh data directory (TLS, bearer auth, encryption on; the
# unaudited binary with `[audit] enabled = false`), `ward-bench read`, and over SAMPLE seconds
# in the middle of the measured phase:
#   - the server's CPU (/proc/PID/stat), per read at the run's rate;
#   - the audit append thread's CPU (/proc/PID/task/TID/stat of `ward-audit-append`);
#   - ward-bench's CPU, and the machine's idle time (/proc/stat).
# One line per run goes to stdout and OUT/runs.tsv; ward-bench's JSON to OUT/<name>.json.
# Only loopback addresses are used; each server is stopped before the next one starts.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
out=${1:?usage: bench/cpu-per-read.sh OUT [ROUNDS]}
rounds=${2:-4}
WARD=${WARD:-target/release/ward}
WARD_UNAUDITED=${WARD_UNAUDITED:-target/bench-unaudited/release/ward}
export -n WARD_UNAUDITED # the servers warn about unknown WARD_* variables
BENCH=${BENCH:-target/release/ward-bench}
CONC=${CONC:-32} WARMUP=${WARMUP:-5} DURATION=${DURATION:-15} PATIENTS=${PATIENTS:-100}
SAMPLE=${SAMPLE:-8}
((DURATION >= SAMPLE + 6)) || { echo "DURATION must be at least SAMPLE + 6" >&2; exit 2; }
mkdir -p "$out"
printf '[audit]\nenabled = false\n' >"$out/unaudited.toml"
hz=$(getconf CLK_TCK)
source bench/read-load.sh
trap stop EXIT

idle() { awk '/^cpu /{print $5 + $6}' /proc/stat; } # idle + iowait, all CPUs

run() { # NAME BINARY [CONFIG]
  start_read_load "$1" "$2" "${3:-}" "/tmp/bench-cpu-$1" 18443 || return 1
  local name=$1
  sleep $((WARMUP + 4)) # `measuring` is printed before the warm-up
  local app="" t
  for t in /proc/"$pid"/task/*; do
    [ "$(cat "$t/comm" 2>/dev/null)" = ward-audit-appe ] && app=$t/stat
  done
  local s0 a0 c0 i0 s1 a1 c1 i1
  s0=$(ticks /proc/"$pid"/stat) a0=$( [ -n "$app" ] && ticks "$app" || echo 0)
  c0=$(ticks /proc/"$bp"/stat) i0=$(idle)
  sleep "$SAMPLE"
  s1=$(ticks /proc/"$pid"/stat) a1=$( [ -n "$app" ] && ticks "$app" || echo 0)
  c1=$(ticks /proc/"$bp"/stat) i1=$(idle)
  wait "$bp"
  bp=""
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=""
  python3 - "$out/$name.json" "$name" "$hz" "$SAMPLE" "$((s1 - s0))" "$((a1 - a0))" \
    "$((c1 - c0))" "$((i1 - i0))" "$(nproc)" <<'PY' | tee -a "$out/runs.tsv"
import json, sys
path, name, hz, sample, srv, app, cli, idle, ncpu = sys.argv[1:]
t = json.load(open(path))["total"]
rate = t["requests_per_sec"]
us = lambda ticks: round(int(ticks) / int(hz) / int(sample) / rate * 1e6) if rate else 0
errors = sum(t["errors"].values())
print(f"{name}\treads/s {rate:.0f}\terrors {errors}\tserver {us(srv)} us/read"
      f"\tappend thread {us(app)} us/read\tbench {us(cli)} us/read"
      f"\tidle {100 * int(idle) / int(hz) / int(sample) / int(ncpu):.0f}%")
PY
}

# The order alternates by round (the first variant first in odd rounds, last in even ones):
# on this host the second run of a pair was the faster in 7 of 10 pairs of two audited builds
# (bench/README.md "2026-12-07"), so a fixed order would favour one build.
VARIANTS=${VARIANTS:-"audited=$WARD unaudited=$WARD_UNAUDITED=$out/unaudited.toml"}
read -r -a vs <<<"$VARIANTS"
for r in $(seq 1 "$rounds"); do
  for k in $(seq 0 $((${#vs[@]} - 1))); do
    if ((r % 2)); then i=$k; else i=$((${#vs[@]} - 1 - k)); fi
    IFS== read -r vname vbin vconfig <<<"${vs[$i]}"
    run "$vname-$r" "$vbin" "$vconfig"
  done
done
