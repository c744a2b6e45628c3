# Shared by bench/smoke.sh, battery.sh and compare.sh (sourced): a throwaway vigie
# configured for load (open registration, cheap Argon2, no rate limits, no
# metrics listener unless asked) on an ephemeral port.

# bench_config DATA_DIR [SERVER_LINES] [MORE_SECTIONS] [METRICS_LISTEN]:
# prints the TOML. METRICS_LISTEN (e.g. 127.0.0.1:0) turns the metrics
# listener on there; the server prints where it listens.
bench_config() {
  cat <<TOML
[server]
server_name = "localhost"
listen = ["127.0.0.1:0"]
data_dir = "$1"
${2:-}
${3:-}
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
$(if [ -n "${4:-}" ]; then printf 'enabled = true\nlisten = "%s"' "$4"; else echo 'enabled = false'; fi)
TOML
}

# start_bench_server VIGIE CONFIG LOG: starts VIGIE (the binary, or a command
# that runs it, such as a shell function) in the background and sets
# SERVER_PID, and URL once it listens (empty if it did not start in 30 s).
start_bench_server() {
  "$1" -c "$2" serve >"$3" 2>&1 &
  SERVER_PID=$!
  URL=
  for _ in $(seq 1 300); do
    URL=$(grep -oE 'listening on http://[0-9.]+:[0-9]+' "$3" | head -1 | sed 's/listening on //') ||
      true
    [ -n "$URL" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
}

# bench_scratch NAME ENGINE: sets TMP to a fresh scratch directory and, for
# ENGINE postgres, PG_URI to a throwaway cluster in it (else empty); both go,
# with a server still running (SERVER_PID), when the script exits. Needs ROOT.
bench_scratch() {
  TMP=$(mktemp -d "/tmp/vigie-$1.XXXXXX")
  chmod 755 "$TMP" # the postgres user runs the throwaway server under it
  PG_URI=
  SERVER_PID=
  trap bench_scratch_cleanup EXIT
  if [ "$2" = postgres ]; then
    PG_URI=$("$ROOT/scripts/pg-test-server.sh" start "$TMP/pg" | tail -1)
  fi
}
bench_scratch_cleanup() {
  [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  [ -n "$PG_URI" ] && "$ROOT/scripts/pg-test-server.sh" stop "$TMP/pg" >/dev/null
  rm -rf "$TMP"
}

# bench_database NAME: on PostgreSQL (PG_URI set), creates database NAME in
# the scratch cluster and prints the [database] section that uses it; on
# SQLite prints nothing.
bench_database() {
  [ -n "$PG_URI" ] || return 0
  psql "$PG_URI" -qc "CREATE DATABASE $1" >/dev/null
  printf '[database]\nengine = "postgres"\npostgres_uri = "%s"\npostgres_pool = 8' "${PG_URI%/*}/$1"
}
