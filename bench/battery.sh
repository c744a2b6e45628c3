#!/usr/bin/env bash
# Runs the issue-6 figure set (every scenario at a modest, fixed size) against
# a throwaway vigie on SQLite or on a throwaway PostgreSQL, and prints each
# scenario's summary. Takes a few minutes; it measures, never asserts speed.
#
# Usage: bench/battery.sh [BUILD_DIR] [sqlite|postgres] [WORKER_THREADS]
#   BUILD_DIR holds vigie and vigie-bench (default build).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
ENGINE=${2:-sqlite}
WORKERS=${3:-4}
TMP=$(mktemp -d /tmp/vigie-battery.XXXXXX)
chmod 755 "$TMP"  # the postgres user runs the throwaway server under it
PG_URI=
RUNS=0
cleanup() {
  [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  [ -n "$PG_URI" ] && "$ROOT/scripts/pg-test-server.sh" stop "$TMP/pg" >/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
if [ "$ENGINE" = postgres ]; then
  PG_URI=$("$ROOT/scripts/pg-test-server.sh" start "$TMP/pg" | tail -1)
fi

run() {
  RUNS=$((RUNS + 1))
  local db_section=""
  if [ -n "$PG_URI" ]; then
    psql "$PG_URI" -qc "CREATE DATABASE bench$RUNS" >/dev/null
    db_section=$(printf '[database]\nengine = "postgres"\npostgres_uri = "%s"\npostgres_pool = 8' \
      "${PG_URI%/*}/bench$RUNS")
  fi
  rm -rf "$TMP/data"
  cat >"$TMP/vigie.toml" <<TOML
[server]
server_name = "localhost"
listen = ["127.0.0.1:0"]
data_dir = "$TMP/data"
worker_threads = $WORKERS
$db_section
[registration]
mode = "open"
[passwords]
argon2_ops = 1
argon2_mem_kib = 8192
[rate_limits]
per_ip = [0.0, 0.0]
per_user = [0.0, 0.0]
login_per_ip = [0.0, 0.0]
[metrics]
enabled = false
TOML
  "$BUILD/vigie" -c "$TMP/vigie.toml" serve >"$TMP/server.log" 2>&1 &
  SERVER_PID=$!
  local url=""
  for _ in $(seq 1 300); do
    url=$(grep -oE 'listening on http://[0-9.]+:[0-9]+' "$TMP/server.log" | head -1 |
      sed 's/listening on //') || true
    [ -n "$url" ] && break
    sleep 0.1
  done
  echo "### $ENGINE: vigie-bench $*"
  "$BUILD/vigie-bench" --base-url "$url" --server-pid "$SERVER_PID" "$@" 2>/dev/null || true
  kill "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

run --scenario fanout -U 200 -R 20 -K 10 -S 40 --rate 0 --duration 5 --drain 10
run --scenario fanout -U 200 -R 20 -K 10 -S 40 --rate 250 --duration 5 --drain 10
run --scenario idle -C 2000 --duration 5
run --scenario login -N 200 -M 16
run --scenario initial-sync -R 200 -E 20
run --scenario join-big-room -K 1000
run --scenario history -E 2000
