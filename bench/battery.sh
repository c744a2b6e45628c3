#!/usr/bin/env bash
# Runs the issue-6 figure set (every scenario at a modest, fixed size) against
# a throwaway vigie on SQLite or on a throwaway PostgreSQL, and prints each
# scenario's summary. Takes a few minutes; it measures, never asserts speed.
#
# Usage: bench/battery.sh [BUILD_DIR] [sqlite|postgres] [WORKER_THREADS]
#   BUILD_DIR holds vigie and vigie-bench (default build). WORKER_THREADS
#   defaults to 0, the server's own default (one per core).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
ENGINE=${2:-sqlite}
WORKERS=${3:-0}
RUNS=0
# shellcheck source=bench/vigie-server.sh
. "$ROOT/bench/vigie-server.sh"
bench_scratch battery "$ENGINE"

run() {
  RUNS=$((RUNS + 1))
  local db_section
  db_section=$(bench_database "bench$RUNS")
  rm -rf "$TMP/data"
  bench_config "$TMP/data" "worker_threads = $WORKERS" "$db_section" >"$TMP/vigie.toml"
  start_bench_server "$BUILD/vigie" "$TMP/vigie.toml" "$TMP/server.log"
  echo "### $ENGINE: vigie-bench $*"
  "$BUILD/vigie-bench" --base-url "$URL" --server-pid "$SERVER_PID" "$@" 2>/dev/null |
    tee "$TMP/last.txt" || true
  kill "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

run --scenario fanout -U 200 -R 20 -K 10 -S 40 --rate 0 --duration 5 --drain 10
# Latency at half the peak rate just measured.
PEAK=$(grep -oE 'sent [0-9]+ in [0-9.]+ s: [0-9]+/s' "$TMP/last.txt" | grep -oE '[0-9]+/s' | tr -d /s)
run --scenario fanout -U 200 -R 20 -K 10 -S 40 --rate $(((${PEAK:-500} + 1) / 2)) --duration 5 \
  --drain 10
# Many senders: forty closed-loop senders bound the group-commit batch (each
# waits for its answer), so the peak above is latency-bound, not CPU-bound.
run --scenario fanout -U 200 -R 20 -K 10 -S 200 --rate 0 --duration 5 --drain 10
# Deliveries: one room of 200 members. Two bench threads and room for
# 1,000 events per sync: with one, the bench is what falls behind (its
# members' timelines come back limited), not the server.
run --scenario fanout -U 200 -R 1 -K 200 -S 40 --timeline-limit 1000 --threads 2 --rate 0 \
  --duration 5 --drain 10
# The deliveries target itself: 1,000 sends/s into the room, 200,000
# deliveries/s, held for 5 s (latency, nothing missing).
run --scenario fanout -U 200 -R 1 -K 200 -S 40 --timeline-limit 1000 --threads 2 --rate 1000 \
  --duration 5 --drain 10
run --scenario idle -C 2000 --duration 5
# Held long enough for the heap trimmer (every 30 s) to give back what the
# opening burst of initial syncs freed: the 2,000-poll figure above counts
# that burst, this one what a held long-poll costs.
run --scenario idle -C 10000 --duration 40
run --scenario login -N 200 -M 16
run --scenario initial-sync -R 200 -E 20
run --scenario join-big-room -K 1000
run --scenario history -E 2000
