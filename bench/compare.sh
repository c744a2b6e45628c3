#!/usr/bin/env bash
# Compares two vigie builds under the fanout scenario on this machine: runs
# alternate A, B, A, B... each against a fresh server (and, on PostgreSQL, a
# fresh database), then prints every run and each build's means. It
# measures, never asserts.
#
# Why alternate, and why the work counters: on the shared 2-core machine
# the same build's fanout rate moved between 5,300 and 7,200 events/s from
# one minute to the next, so one run of each build says nothing about a
# change under 15%. The counters from /metrics (sync looks and writes per
# batch, over the whole run, setup included) count work rather than time;
# they still follow the batching, which timing shapes, so compare them over
# the pairs too. So does the server's CPU per write (from /proc, over the
# whole run), which a saving shows at a fixed --rate even when the rate
# and the latency do not move; "in memory" is the share of looks answered
# without the database pool (vigie_sync_looks_in_memory).
#
# Usage: bench/compare.sh VIGIE_A VIGIE_B [PAIRS] [sqlite|postgres] [-- FANOUT_ARGS...]
#   PAIRS defaults to 4. FANOUT_ARGS default to
#   -U 200 -R 20 -K 10 -S 200 --rate 0 --duration 6 --drain 10.
#   vigie-bench is $BENCH, default build/vigie-bench.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -lt 2 ]; then
  sed -n '15,18p' "$0" >&2
  exit 2
fi
A=$(realpath "$1")
B=$(realpath "$2")
shift 2
PAIRS=4
ENGINE=sqlite
if [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then PAIRS=$1 && shift; fi
if [ $# -gt 0 ] && [ "$1" != -- ]; then ENGINE=$1 && shift; fi
case "$ENGINE" in sqlite | postgres) ;; *) echo "engine: sqlite or postgres, not '$ENGINE'" >&2 && exit 2 ;; esac
[ $# -gt 0 ] && [ "$1" = -- ] && shift
ARGS=("$@")
[ ${#ARGS[@]} -gt 0 ] || ARGS=(-U 200 -R 20 -K 10 -S 200 --rate 0 --duration 6 --drain 10)
BENCH=${BENCH:-$ROOT/build/vigie-bench}
RUNS=0
# shellcheck source=bench/vigie-server.sh
. "$ROOT/bench/vigie-server.sh"
bench_scratch compare "$ENGINE"

# metric NAME: its value in $TMP/metrics.txt.
metric() { awk -v n="$1" '$1 == n { print $2 }' "$TMP/metrics.txt"; }

# run LABEL VIGIE: one fanout against a fresh server; appends a line to $TMP/runs.
run() {
  RUNS=$((RUNS + 1))
  local db_section
  db_section=$(bench_database "compare$RUNS")
  rm -rf "$TMP/data"
  bench_config "$TMP/data" "" "$db_section" 127.0.0.1:0 >"$TMP/vigie.toml"
  start_bench_server "$2" "$TMP/vigie.toml" "$TMP/server.log"
  [ -n "$URL" ] || { echo "$1: the server did not start (see below)" >&2 && cat "$TMP/server.log" >&2 && exit 1; }
  "$BENCH" --base-url "$URL" --server-pid "$SERVER_PID" --scenario fanout "${ARGS[@]}" \
    >"$TMP/out.txt" 2>/dev/null || true
  local murl
  murl=$(grep -oE 'metrics on http://[0-9.]+:[0-9]+/metrics' "$TMP/server.log" | sed 's/metrics on //')
  curl -sf "$murl" >"$TMP/metrics.txt" || : >"$TMP/metrics.txt"
  # The server's CPU over the whole run (setup included), in clock ticks.
  local ticks
  ticks=$(awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat")
  kill "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
  local rate p50 p99 writes batches looks memory
  rate=$(grep -oE 'sent [0-9]+ in [0-9.]+ s: [0-9]+/s' "$TMP/out.txt" | grep -oE '[0-9]+/s' | tr -d /s)
  p50=$(grep -oE 'delivery latency: p50 [0-9.]+' "$TMP/out.txt" | grep -oE '[0-9.]+$')
  p99=$(grep -oE 'delivery latency:.* p99 [0-9.]+' "$TMP/out.txt" | grep -oE '[0-9.]+$')
  writes=$(metric vigie_stream_writes)
  batches=$(metric vigie_stream_write_batches)
  looks=$(metric vigie_sync_looks)
  memory=$(metric vigie_sync_looks_in_memory)
  if [ -z "$rate" ] || [ -z "$writes" ]; then
    echo "$1: no result; the bench said:" >&2 && cat "$TMP/out.txt" >&2 && exit 1
  fi
  echo "$1 $rate ${p50:-0} ${p99:-0} $writes $batches $looks ${memory:-0} $ticks $(getconf CLK_TCK)" |
    tee -a "$TMP/runs" |
    awk '{ printf "%s  %6d events/s  p50 %6.1f  p99 %6.1f ms  looks/write %.2f  in memory %3.0f%%  writes/batch %.1f  cpu/write %4.0f us\n",
           $1, $2, $3, $4, $7 / $5, 100 * $8 / $7, $5 / $6, 1e6 * $9 / $10 / $5 }'
}

echo "fanout on $ENGINE, $PAIRS pairs: ${ARGS[*]}"
echo "A = $A"
echo "B = $B"
for _ in $(seq "$PAIRS"); do
  run A "$A"
  run B "$B"
done
awk '{ n[$1]++; r[$1] += $2; p[$1] += $4; l[$1] += $7 / $5; w[$1] += $5 / $6; c[$1] += 1e6 * $9 / $10 / $5 }
     END {
       split("A B", ks, " ")
       for (i = 1; i <= 2; i++) {
         k = ks[i]
         printf "mean %s  %6d events/s  p99 %6.1f ms  looks/write %.2f  writes/batch %.1f  cpu/write %4.0f us\n",
                k, r[k] / n[k], p[k] / n[k], l[k] / n[k], w[k] / n[k], c[k] / n[k]
       }
       printf "B/A     %.3f events/s, %.3f looks/write, %.3f cpu/write\n", (r["B"] / n["B"]) / (r["A"] / n["A"]),
              (l["B"] / n["B"]) / (l["A"] / n["A"]), (c["B"] / n["B"]) / (c["A"] / n["A"])
     }' "$TMP/runs"
