#!/usr/bin/env bash
# Manual check (issue #7 acceptance; not part of CI: it restarts the machine's PostgreSQL):
# restarts PostgreSQL under a write load on a `ward serve` node over PostgreSQL, then checks
# that every acknowledged write is there and that the refused ones were clean 503s. Run as
# root on a machine whose PostgreSQL (127.0.0.1:5432, trust auth) nothing else is using.
set -u
cd "$(dirname "$0")/../../.."
cargo build -q -p ward
W=$PWD/target/debug/ward
here=$PWD/tests/manual/pg-restart
work=$(mktemp -d)
export WORK=$work
psql -q -h 127.0.0.1 -U postgres postgres -c 'DROP DATABASE IF EXISTS ward_restart WITH (FORCE)' -c 'CREATE DATABASE ward_restart'
export WARD_MASTER_KEY=$(head -c32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export WARD_STORAGE_KIND=postgres WARD_STORAGE_URL=postgres://postgres@127.0.0.1:5432/ward_restart
rm -rf $work/data
$W serve --data-dir $work/data --listen 127.0.0.1:18500 --public-url https://127.0.0.1:18500 > $work/server.log 2>&1 &
pid=$!
for i in $(seq 100); do curl -fsS -o /dev/null --cacert $work/data/tls/ca.pem https://127.0.0.1:18500/fhir/metadata && break; sleep 0.2; done
TOKEN=$($W token issue --data-dir $work/data --scope 'system/*.cruds' --ttl 900)
export TOKEN
(sleep 4; echo "restart at $(date +%T.%N)"; pg_ctlcluster "$(ls /usr/lib/postgresql | sort -n | tail -1)" main restart; echo "restarted at $(date +%T.%N)") &
python3 "$here/load.py"; rc=$?
kill $pid; wait $pid 2>/dev/null
rm -rf "$work"
psql -q -h 127.0.0.1 -U postgres postgres -c 'DROP DATABASE IF EXISTS ward_restart WITH (FORCE)'
exit $rc
