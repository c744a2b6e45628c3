#!/usr/bin/env bash
# Runs every vigie-bench scenario at tiny scale against a throwaway vigie and
# checks correctness only (counts match, no request errors, exit status),
# never speed. Ends with "bench smoke: N passed, M failed" and exits non-zero
# when anything failed.
#
# Usage: bench/smoke.sh [BUILD_DIR]   (default: $VIGIE_BUILD_DIR or build-bench)
# The build dir must hold `vigie`, `vigie-bench` and `vigie-micro`.
# A scenario whose endpoint the server lacks (exit status 3) is reported as
# skipped; BENCH_SMOKE_STRICT=1 counts it as failed.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-${VIGIE_BUILD_DIR:-$ROOT/build-bench}}
VIGIE=$BUILD/vigie
BENCH=$BUILD/vigie-bench
for bin in "$VIGIE" "$BENCH"; do
  if [ ! -x "$bin" ]; then
    echo "bench smoke: $bin is missing (build targets vigie and vigie-bench)" >&2
    echo "bench smoke: 0 passed, 1 failed"
    exit 1
  fi
done

TMP=$(mktemp -d /tmp/vigie-bench-smoke.XXXXXX)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

# shellcheck source=bench/vigie-server.sh
. "$ROOT/bench/vigie-server.sh"
bench_config "$TMP/data" >"$TMP/vigie.toml"
start_bench_server "$VIGIE" "$TMP/vigie.toml" "$TMP/server.log"
if [ -z "$URL" ]; then
  echo "bench smoke: vigie did not start:" >&2
  cat "$TMP/server.log" >&2
  echo "bench smoke: 0 passed, 1 failed"
  exit 1
fi
echo "bench smoke: vigie pid $SERVER_PID at $URL"

passed=0
failed=0
skipped=0
# verdict NAME STATUS FILE: counts NAME passed (STATUS 0) or failed, and
# then shows FILE, what it printed.
verdict() {
  if [ "$2" = 0 ]; then
    echo "PASS $1"
    passed=$((passed + 1))
  else
    echo "FAIL $1 (status $2)"
    cat "$3"
    failed=$((failed + 1))
  fi
}
# check NAME PYTHON_EXPR ARGS...: runs the scenario, then evaluates the
# expression over its JSON result `r` (the "results" object).
check() {
  local name=$1 expr=$2
  shift 2
  local out="$TMP/$name.out" json="$TMP/$name.json" rc
  timeout 180 "$BENCH" --base-url "$URL" --server-pid "$SERVER_PID" --json "$json" "$@" \
    >"$out" 2>&1
  rc=$?
  if [ "$rc" = 3 ] && [ "${BENCH_SMOKE_STRICT:-0}" != 1 ]; then
    echo "SKIP $name: the server lacks an endpoint it needs"
    skipped=$((skipped + 1))
    return
  fi
  if [ "$rc" = 0 ]; then
    python3 - "$json" "$expr" <<'PY' >>"$out"
import json, sys
doc = json.load(open(sys.argv[1]))
r = doc["results"]
ok = doc["ok"] and not doc["errors"] and not doc["failures"] and eval("(" + sys.argv[2] + ")")
if not ok:
    print("check failed:", sys.argv[2])
    print(json.dumps(doc, indent=1))
sys.exit(0 if ok else 1)
PY
    rc=$?
  fi
  verdict "$name" "$rc" "$out"
}

check fanout \
  'r["sent"] > 0 and r["missing"] == 0 and r["duplicates"] == 0 and r["unexpected"] == 0
   and r["expected_deliveries"] == 5 * r["sent"] and r["delivery_latency_ms"]["count"] == r["expected_deliveries"]' \
  --scenario fanout -U 20 -R 4 -K 5 -S 4 --rate 40 --duration 3
check fanout-overlap \
  'r["sent"] > 0 and r["missing"] == 0 and r["duplicates"] == 0 and r["expected_deliveries"] == 4 * r["sent"]' \
  --scenario fanout -U 6 -R 4 -K 4 -S 4 --rate 40 --duration 2 --threads 2
check idle \
  'r["long_polls_held"] == 50 and r["server"]["rss_held_kib"] > 0' \
  --scenario idle -C 50 --idle-users 25 --duration 2
check login \
  'r["failed"] == 0 and r["latency_ms"]["count"] == 20' \
  --scenario login -N 20 -M 4
# Without --unique-rooms: the ten identical createRoom requests, sent at
# once, must give ten rooms (a v12 room id is the create event's hash).
check initial-sync \
  'r["initial_sync"]["rooms"] == 10 and r["initial_sync_again"]["rooms"] == 10 and r["incremental_with_rooms"] == 0' \
  --scenario initial-sync -R 10 -E 5
check join-big-room \
  'r["first_sync"]["room_present"] and r["first_sync_lazy"]["room_present"]
   and r["first_sync"]["joined_member_count"] in (-1, 51)' \
  --scenario join-big-room -K 50
check history \
  'r["bench_events"] == 100 and r["duplicates"] == 0' \
  --scenario history -E 100 --page-size 30

# vigie-micro: every case runs and reports a time (it needs no server).
timeout 120 "$BUILD/vigie-micro" --min-time-ms 1 --json >"$TMP/micro.json" 2>&1
rc=$?
if [ "$rc" = 0 ]; then
  python3 - "$TMP/micro.json" <<'PY' >>"$TMP/micro.json"
import json, sys
cases = json.load(open(sys.argv[1]))
names = {c["case"] for c in cases}
ok = len(names) == len(cases) >= 9 and all(c["median_ns"] > 0 and c["calls_per_round"] > 0 for c in cases)
if not ok:
    print("check failed")
sys.exit(0 if ok else 1)
PY
  rc=$?
fi
verdict micro "$rc" "$TMP/micro.json"

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
  echo "FAIL vigie exited during the smoke run:"
  tail -50 "$TMP/server.log"
  failed=$((failed + 1))
fi
[ "$skipped" -gt 0 ] && echo "bench smoke: $skipped skipped"
echo "bench smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
