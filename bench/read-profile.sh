#!/usr/bin/env bash
# Where a read's CPU goes: `ward serve` under `ward-bench read`, profiled with perf call graphs
# over SAMPLE seconds mid-run, each sample attributed to a part of the read (the audit's append
# thread, the projection, the record, the data read, TLS, HTTP; bench/read-profile.py), in
# microseconds of server CPU per read (from /proc over the same window).
#
# Usage: bench/read-profile.sh OUT NAME [BINARY [CONFIG]]
# Env: BENCH (target/release/ward-bench), CONC (32), WARMUP (5), DURATION (20), PATIENTS (100),
#      SAMPLE (6), FREQ (199 Hz).
# Needs `perf` (linux-perf) and permission to profile the server (root, or
# kernel.perf_event_paranoid <= 1). A release build carries debug info (Cargo.toml), which the
# DWARF call graphs need. Only loopback is used.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
out=${1:?usage: bench/read-profile.sh OUT NAME [BINARY [CONFIG]]}
name=${2:?usage: bench/read-profile.sh OUT NAME [BINARY [CONFIG]]}
bin=${3:-target/release/ward}
config=${4:-}
BENCH=${BENCH:-target/release/ward-bench}
CONC=${CONC:-32} WARMUP=${WARMUP:-5} DURATION=${DURATION:-20} PATIENTS=${PATIENTS:-100}
SAMPLE=${SAMPLE:-6} FREQ=${FREQ:-199}
((DURATION >= SAMPLE + 8)) || { echo "DURATION must be at least SAMPLE + 8" >&2; exit 2; }
command -v perf >/dev/null || { echo "perf is not installed" >&2; exit 2; }
mkdir -p "$out"
source bench/read-load.sh
trap stop EXIT
start_read_load "$name" "$bin" "$config" "/tmp/bench-profile-$name" 18444
sleep $((WARMUP + 3)) # `measuring` is printed before the warm-up
t0=$(ticks "/proc/$pid/stat")
perf record -q -F "$FREQ" --call-graph dwarf,16384 -p "$pid" -o "$out/$name.perf" \
  -- sleep "$SAMPLE" >/dev/null 2>&1
t1=$(ticks "/proc/$pid/stat")
wait "$bp"
bp=""
perf script -i "$out/$name.perf" -F comm,ip,sym,dso >"$out/$name.script" 2>/dev/null
per_read=$(python3 - "$out/$name.json" "$((t1 - t0))" "$(getconf CLK_TCK)" "$SAMPLE" <<'PY'
import json, sys
path, ticks, hz, sample = sys.argv[1:]
rate = json.load(open(path))["total"]["requests_per_sec"]
print(int(ticks) / int(hz) / float(sample) / rate * 1e6 if rate else 0)
PY
)
rate=$(python3 -c "import json,sys; t=json.load(open(sys.argv[1]))['total']; print(f\"{t['requests_per_sec']:.0f} reads/s, {sum(t['errors'].values())} errors\")" "$out/$name.json")
echo "$name: $rate (under perf)" | tee "$out/$name.txt"
python3 bench/read-profile.py "$out/$name.script" "$per_read" | tee -a "$out/$name.txt"
