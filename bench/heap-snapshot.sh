#!/usr/bin/env bash
# What a held /sync long-poll costs the server's heap, by allocation site:
# runs a throwaway vigie (SQLite) under heaptrack, holds C long-polls with
# `vigie-bench --scenario idle`, and kills the server with SIGKILL while
# they are held, so that heaptrack's "leaked" list is exactly the heap live
# at that moment. Prints the total and the largest sites (divide by C for
# the bytes per long-poll; a server with no long-poll held has about 7 MB).
# Measures, never asserts. Needs heaptrack (Debian package heaptrack) and
# a build with glibc's allocator (cmake -DVIGIE_JEMALLOC=OFF): jemalloc's
# operator new does not go through malloc, so heaptrack would miss most of
# the heap.
#
# Usage: bench/heap-snapshot.sh [BUILD_DIR] [C]   (defaults: build 4000)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
C=${2:-4000}
if ldd "$BUILD/vigie" | grep -q jemalloc; then
  echo "$BUILD/vigie uses jemalloc, which heaptrack cannot follow: build with -DVIGIE_JEMALLOC=OFF" >&2
  exit 2
fi
TMP=$(mktemp -d /tmp/vigie-heap.XXXXXX)
VIGIE_PID=
cleanup() {
  [ -n "$VIGIE_PID" ] && kill -9 "$VIGIE_PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
# shellcheck source=bench/vigie-server.sh
. "$ROOT/bench/vigie-server.sh"
bench_config "$TMP/data" >"$TMP/vigie.toml"

vigie_under_heaptrack() { heaptrack -o "$TMP/heap" "$BUILD/vigie" "$@"; }
start_bench_server vigie_under_heaptrack "$TMP/vigie.toml" "$TMP/server.log"
[ -n "$URL" ] || { echo "vigie did not start" >&2; exit 1; }
VIGIE_PID=$(pgrep -f "^$BUILD/vigie -c $TMP/vigie.toml" | head -1)

"$BUILD/vigie-bench" --base-url "$URL" --scenario idle -C "$C" --duration 120 \
  >"$TMP/bench.out" 2>"$TMP/bench.err" &
BENCH_PID=$!
for _ in $(seq 1 600); do
  grep -q "idle: $C long-polls" "$TMP/bench.err" && break
  kill -0 "$BENCH_PID" 2>/dev/null || { cat "$TMP/bench.err" >&2; exit 1; }
  sleep 0.5
done
sleep 5  # held, and the server idle
kill -9 "$VIGIE_PID"
VIGIE_PID=
wait "$BENCH_PID" 2>/dev/null || true
sleep 2  # heaptrack finishes its file
heaptrack_print -f "$TMP"/heap*.zst --print-peaks 0 --print-allocators 0 --print-temporary 0 \
  --print-leaks 1 --peak-limit 10 --sub-peak-limit 8 2>/dev/null >"$TMP/leaks.txt"
echo "heap live with $C long-polls held: $(grep -oE 'total memory leaked: .*' "$TMP/leaks.txt")"
# Each site: its bytes, then the function that allocated and its caller.
awk '/leaked over .* calls from$/ { print; getline x; print "  " x }
     /leaked over .* calls from:/ { getline a; getline b; print "    " $0 " " a " " b }' \
  "$TMP/leaks.txt" | sed -E 's/ +/ /g' | cut -c1-200 | grep -vE '^ *[0-9.]+[BK] leaked'
