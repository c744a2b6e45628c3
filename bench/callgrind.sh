#!/usr/bin/env bash
# Counts the instructions of a vigie build's request path and writer under
# callgrind, during a slow fanout against a throwaway server: the measure
# that does not move with this shared machine's speed (whole-server runs
# move by up to 40% between minutes; one function's instructions per call,
# by well under 1%). Counters start once the bench is sending, so setup is
# not counted. It measures, never asserts. Needs valgrind (Debian's).
#
# Prints the server's instructions per event in the writer (Stream::Drain
# over the events signed), the rest per answer written, and instructions per
# call of the functions named (regular expressions over callgrind's function
# names; a default set of the request path's when none is given). Kernel time
# is not counted, and at this rate every event wakes each of its room's
# members, so answers weigh more than at the peak.
#
# Usage: bench/callgrind.sh VIGIE OUT_FILE [FUNCTION_REGEX...]
#   vigie-bench is $BENCH, default build/vigie-bench. OUT_FILE keeps
#   callgrind's data (callgrind_annotate reads it). $FANOUT replaces the
#   fanout's arguments (e.g. "-U 200 -R 20 -K 10 -S 200 --rate 0
#   --duration 10": as many senders as the peak, batches as full).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -lt 2 ]; then
  sed -n '16,20p' "$0" >&2
  exit 2
fi
VIGIE=$(realpath "$1")
OUT=$(realpath -m "$2")
shift 2
BENCH=${BENCH:-$ROOT/build/vigie-bench}
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind is not installed" >&2 && exit 2; }
# shellcheck source=bench/vigie-server.sh
. "$ROOT/bench/vigie-server.sh"
bench_scratch callgrind sqlite
bench_config "$TMP/data" "" "" >"$TMP/vigie.toml"
under_callgrind() {
  exec valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.out" "$VIGIE" "$@"
}
start_bench_server under_callgrind "$TMP/vigie.toml" "$TMP/server.log"
[ -n "$URL" ] || { echo "the server did not start:" >&2 && cat "$TMP/server.log" >&2 && exit 1; }
# shellcheck disable=SC2086 # $FANOUT is a list of arguments
"$BENCH" --base-url "$URL" --scenario fanout ${FANOUT:--U 40 -R 4 -K 10 -S 40 --rate 100 --duration 10} \
  --drain 10 >"$TMP/bench.txt" 2>&1 &
BENCH_PID=$!
for _ in $(seq 600); do
  grep -q "fanout: sent" "$TMP/bench.txt" && break
  sleep 0.2
done
callgrind_control -z "$SERVER_PID" >/dev/null 2>&1
wait "$BENCH_PID" || { echo "the bench failed:" >&2 && cat "$TMP/bench.txt" >&2 && exit 1; }
callgrind_control -d "$SERVER_PID" >/dev/null 2>&1
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=
# callgrind_control -d writes its dump next to the output file, numbered.
cp "$TMP/cg.out.1" "$OUT"
grep -E '^  sent ' "$TMP/bench.txt"
[ $# -gt 0 ] || set -- \
  '^vigie::http::Server::Impl::ReadRequest\(.*tcp.*\[clone \.actor\]$' \
  '^vigie::http::ParseQuery' \
  '^vigie::api::Router::Find' \
  '^vigie::api::Api::Complete' \
  '^vigie::api::AppendClientEvent' \
  '^vigie::service::AuthService::Authenticate\(.*\[clone \.actor\]$'
python3 - "$OUT" "$@" <<'PY'
import collections, re, sys

names = {}
calls = collections.Counter()  # calls of each function
inclusive = collections.Counter()  # instructions of those calls
total = 0
fn = cfn = None
call_line = False


def name(text):
    # callgrind names a function "(id) name" once, then "(id)".
    m = re.match(r"\((\d+)\)(?: (.*))?", text)
    if not m:
        return text
    if m.group(2):
        names[m.group(1)] = m.group(2)
    return names.get(m.group(1), "?")


for line in open(sys.argv[1]):
    if line.startswith("summary:"):
        total = int(line.split()[1])
    elif line.startswith("fn="):
        fn, call_line = name(line[3:].strip()), False
    elif line.startswith("cfn="):
        cfn = name(line[4:].strip())
    elif line.startswith("calls="):
        calls[cfn] += int(line.split("=")[1].split()[0])
        call_line = True
    elif call_line and (line[:1].isdigit() or line[:1] in "+-*"):
        parts = line.split()
        if len(parts) >= 2 and fn != cfn:  # recursion counted once
            inclusive[cfn] += int(parts[1])
        call_line = False


def matching(pattern):
    found = [f for f in calls if re.search(pattern, f)]
    return sum(calls[f] for f in found), sum(inclusive[f] for f in found)


events, _ = matching(r"^vigie::events::SignEvent\b")
answers, _ = matching(r"^vigie::http::Server::Impl::Write\(.*tcp.*\[clone \.actor\]$")
_, writer = matching(r"^vigie::service::Stream::Drain\(\)$")
print(f"instructions {total:,}; events {events}; answers written {answers}")
if events and answers:
    print(f"writer {writer / events:,.0f} per event; the rest {(total - writer) / answers:,.0f} per answer")
for pattern in sys.argv[2:]:
    n, ir = matching(pattern)
    print(f"{ir / max(n, 1):>10,.0f} per call, {n:>7} calls  {pattern}")
PY
