# Sourced by bench/cpu-per-read.sh and bench/read-profile.sh: one `ward serve` on a fresh
# data directory under `ward-bench read`, and the helpers both measure it with.
# Uses: out, BENCH, CONC, WARMUP, DURATION, PATIENTS. Sets: pid (server), bp (ward-bench).

pid="" bp=""

# Stops the server and ward-bench, if running (also the scripts' EXIT trap).
stop() {
  for p in $bp $pid; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  pid="" bp=""
}

# utime + stime of a /proc stat file, in clock ticks (0 when it is gone).
ticks() { awk '{print $14 + $15}' "$1" 2>/dev/null || echo 0; }

# start_read_load NAME BINARY CONFIG DATA PORT: starts `BINARY serve` on DATA (emptied first)
# at 127.0.0.1:PORT with CONFIG (none when empty), waits until it answers, starts
# `ward-bench read` against it (report OUT/NAME.json, log OUT/NAME-bench.log), and returns
# once ward-bench says it is measuring (the warm-up comes after that line). Fails when
# ward-bench ends before.
start_read_load() {
  local name=$1 bin=$2 config=$3 data=$4 port=$5
  rm -rf "$data"
  local args=(serve --data-dir "$data" --listen "127.0.0.1:$port")
  [ -n "$config" ] && args+=(--config "$config")
  "$bin" "${args[@]}" >"$out/$name-server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    curl -fs -o /dev/null --cacert "$data/tls/ca.pem" "https://127.0.0.1:$port/fhir/metadata" && break
    sleep 0.2
  done
  "$BENCH" read --base "https://127.0.0.1:$port/fhir" --cacert "$data/tls/ca.pem" \
    --token-cmd "$bin token issue --data-dir $data --scope 'system/*.cruds' --ttl 7200" \
    --concurrency "$CONC" --warmup "$WARMUP" --duration "$DURATION" --patients "$PATIENTS" \
    --json >"$out/$name.json" 2>"$out/$name-bench.log" &
  bp=$!
  until grep -q measuring "$out/$name-bench.log" 2>/dev/null; do
    kill -0 "$bp" 2>/dev/null || { echo "$name: ward-bench ended before measuring" >&2; return 1; }
    sleep 0.2
  done
}
