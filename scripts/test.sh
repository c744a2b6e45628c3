#!/usr/bin/env bash
# Sets up and runs every vigie test: formatting, unit and storage tests on
# SQLite and a throwaway PostgreSQL, integration tests with real Matrix
# clients (matrix-nio, matrix-js-sdk) against a live server, a smoke run of
# every vigie-bench scenario, the same tests under ASan/UBSan, and a short
# run of every fuzz target. Installs what it needs (Debian packages, npm ci).
#
# Environment: VIGIE_SKIP_ASAN=1 / VIGIE_SKIP_FUZZ=1 skip those stages
# (local iteration only; CI runs everything). FUZZ_SECONDS (default 20).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=$(nproc)
FUZZ_SECONDS=${FUZZ_SECONDS:-20}

stage() { printf '\n=== %s (%ss)\n' "$*" "$SECONDS"; }
passed=0
failed=0
count_ctest() {  # parses "N% tests passed, F tests failed out of T"
  local line; line=$(grep -E 'tests passed, [0-9]+ tests? failed out of' "$1" | tail -1)
  if [ -z "$line" ]; then failed=$((failed + 1)); return; fi
  local f t; f=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
  t=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
  passed=$((passed + t - f)); failed=$((failed + f))
}
count_pytest() {  # parses "N passed, M failed, ..." from pytest's summary line
  local line; line=$(grep -E '[0-9]+ (passed|failed)' "$1" | tail -1)
  local p f e
  p=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+' || true)
  f=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+' || true)
  e=$(grep -oE '[0-9]+ errors?' <<<"$line" | grep -oE '[0-9]+' || true)
  [ -n "$line" ] || f=1  # no summary line: the run itself broke
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0} + ${e:-0}))
}

stage "dependencies"
./scripts/deps.sh test
if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; fi

stage "formatting"
files=$(git ls-files '*.cc' '*.h' 2>/dev/null || find src fuzz -name '*.cc' -o -name '*.h')
clang-format --dry-run -Werror $files

stage "PostgreSQL"
PGDIR=$(mktemp -d /tmp/vigie-pg.XXXXXX)
cleanup() { "$ROOT/scripts/pg-test-server.sh" stop "$PGDIR" >/dev/null 2>&1 || true; }
trap cleanup EXIT
export VIGIE_TEST_PG=$("$ROOT/scripts/pg-test-server.sh" start "$PGDIR" | tail -1)
export VIGIE_REQUIRE_PG=1
echo "PostgreSQL at $VIGIE_TEST_PG"

LOGS=$(mktemp -d /tmp/vigie-test-logs.XXXXXX)
run_suite() {  # run_suite BUILD_DIR LABEL
  local dir=$1 label=$2
  stage "unit and storage tests ($label)"
  (cd "$dir" && ctest --output-on-failure -j"$JOBS" --timeout 300) 2>&1 | tee "$LOGS/ctest-$label.log" || true
  count_ctest "$LOGS/ctest-$label.log"
  stage "integration tests ($label)"
  # One more pytest worker (pytest-xdist) than cores: each test module has
  # its own server on its own port and database, and the tests spend much of
  # their time waiting on sockets (one worker used 55% of a core).
  VIGIE_BIN="$ROOT/$dir/vigie" /usr/bin/python3 -m pytest -q -p no:cacheprovider \
    -n $((JOBS + 1)) tests/integration \
    2>&1 | tee "$LOGS/pytest-$label.log" || true
  count_pytest "$LOGS/pytest-$label.log"
  if [ -d tests/js ] && [ -f package-lock.json ]; then
    stage "matrix-js-sdk tests ($label)"
    # Each test file starts its own server: they run side by side as well.
    VIGIE_BIN="$ROOT/$dir/vigie" node --test --test-concurrency=$((JOBS + 1)) tests/js/ \
      2>&1 | tee "$LOGS/node-$label.log" || true
    local np nf
    np=$(grep -E '^# pass ' "$LOGS/node-$label.log" | awk '{print $3}' | tail -1)
    nf=$(grep -E '^# fail ' "$LOGS/node-$label.log" | awk '{print $3}' | tail -1)
    passed=$((passed + ${np:-0})); failed=$((failed + ${nf:-1}))
  fi
}

# Both builds carry line tables only (-g1: file and line in stack traces and
# profiles, no variables), which takes a quarter off the optimized build.
stage "build (RelWithDebInfo, warnings as errors)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVIGIE_TESTS=ON \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" >/dev/null
cmake --build build -j"$JOBS"
run_suite build release

stage "vigie-bench smoke run (correctness only)"
bench/smoke.sh build 2>&1 | tee "$LOGS/bench-smoke.log" || true
line=$(grep -E '^bench smoke: [0-9]+ passed, [0-9]+ failed' "$LOGS/bench-smoke.log" | tail -1)
if [ -n "$line" ]; then
  passed=$((passed + $(sed -E 's/.* ([0-9]+) passed.*/\1/' <<<"$line")))
  failed=$((failed + $(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")))
else
  failed=$((failed + 1))
fi

if [ "${VIGIE_SKIP_ASAN:-0}" != 1 ]; then
  stage "build (ASan + UBSan)"
  # A unity build (8 files a batch, VIGIE_UNITY) run by Ninja: at -O0 most
  # of a file's compile is its headers, and Ninja starts a target's files
  # before the libraries it links are done. 380 s on 2 cores, against 515 s
  # with Make and 714 s file by file. The release build above compiles each
  # file alone, so a file that only builds with its batch's includes fails
  # there.
  if [ -f build-asan/CMakeCache.txt ] && ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' build-asan/CMakeCache.txt; then
    rm -rf build-asan  # made by an earlier script with Make
  fi
  cmake -G Ninja -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DVIGIE_SANITIZE=ON -DVIGIE_TESTS=ON \
    -DVIGIE_UNITY=ON -DCMAKE_UNITY_BUILD_BATCH_SIZE=8 -DCMAKE_CXX_FLAGS_DEBUG=-g1 >/dev/null
  # Only what the sanitized run executes (not the load generator).
  cmake --build build-asan -j"$JOBS" --target vigie common_tests events_tests policy_tests http_tests storage_tests \
    service_tests api_tests bench_tests
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  run_suite build-asan asan
fi

if [ "${VIGIE_SKIP_FUZZ:-0}" != 1 ]; then
  stage "fuzz targets (${FUZZ_SECONDS}s each)"
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DVIGIE_FUZZ=ON \
    -DVIGIE_TESTS=OFF -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined,fuzzer-no-link" >/dev/null
  names=()
  for src in fuzz/*_fuzz.cc; do names+=("$(basename "$src" .cc)"); done
  cmake --build build-fuzz -j"$JOBS" --target "${names[@]}" >/dev/null
  fuzz_one() {  # fuzz_one NAME: a run on a copy of its corpus; its status in $LOGS/NAME.rc
    local name=$1 corpus rc=0
    corpus=$(mktemp -d)
    [ -d "fuzz/corpus/$name" ] && cp -r "fuzz/corpus/$name/." "$corpus/"
    ./build-fuzz/"$name" -max_total_time="$FUZZ_SECONDS" -max_len=65536 -print_final_stats=0 \
      "$corpus" >"$LOGS/$name.log" 2>&1 || rc=$?
    rm -rf "$corpus"
    echo "$rc" >"$LOGS/$name.rc"
  }
  # One per core at a time (each is single-threaded).
  running=0
  for name in "${names[@]}"; do
    fuzz_one "$name" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then wait -n || true; running=$((running - 1)); fi
  done
  wait
  for name in "${names[@]}"; do
    if [ "$(cat "$LOGS/$name.rc" 2>/dev/null)" = 0 ]; then
      echo "$name: ok ($(grep -oE 'Done [0-9]+ runs' "$LOGS/$name.log" || echo 'ran'))"
      passed=$((passed + 1))
    else
      echo "$name: FAILED"; tail -40 "$LOGS/$name.log"; failed=$((failed + 1))
    fi
  done
fi

stage "summary"
echo "logs in $LOGS"
echo "vigie: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
