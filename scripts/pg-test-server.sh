#!/usr/bin/env bash
# A throwaway PostgreSQL 15 server for tests (never for real data: fsync is
# off and every local connection is trusted).
#
#   scripts/pg-test-server.sh start DIR   # prints the server URL as its last line
#   scripts/pg-test-server.sh stop DIR    # stops it and removes DIR
#   scripts/pg-test-server.sh status DIR  # exit 0 and the URL if it runs
#
#   export VIGIE_TEST_PG=$(scripts/pg-test-server.sh start /tmp/vigie-pg | tail -n1)
#
# Needs Debian's `postgresql` package (binaries in /usr/lib/postgresql/15/bin,
# or PG_BIN). The cluster lives in DIR, owned by the `postgres` OS user when
# run as root; it listens on 127.0.0.1 only, on a free port, with its Unix
# socket in DIR. The package's own cluster is neither needed nor touched.
# Both commands are idempotent: `start` on a running server prints its URL
# again, `stop` on a missing DIR does nothing.
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
MARKER=.vigie-pg-test-server

log() { echo "pg-test-server: $*" >&2; }
die() {
  log "$*"
  exit 1
}

usage() { die "usage: $0 start|stop|status DIR"; }

# Runs a command as the cluster's owner: `postgres` when we are root
# (initdb and postgres refuse to run as root), else ourselves.
as_owner() {
  if [[ $(id -u) == 0 ]]; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && "$@")
  fi
}

# A TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])' && return
  fi
  if command -v perl >/dev/null 2>&1; then
    # perl is always there: postgresql-common is written in it.
    perl -MIO::Socket::INET -e \
      'print IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 1)->sockport, "\n"' &&
      return
  fi
  local port
  for port in $(seq 25432 25532); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  die "no free port found"
}

url() { echo "postgresql://postgres@127.0.0.1:$(cat "$DIR/port")/postgres"; }

running() {
  [[ -f $DIR/port && -f $DIR/data/postmaster.pid ]] &&
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$(cat "$DIR/port")" -t 5
}

init_cluster() {
  [[ -x $PG_BIN/initdb ]] || die "$PG_BIN/initdb not found: apt-get install postgresql"
  if [[ $(id -u) == 0 ]]; then
    id postgres >/dev/null 2>&1 || die "no 'postgres' OS user: apt-get install postgresql"
  fi
  mkdir -p "$DIR"
  if [[ -n $(ls -A "$DIR") && ! -f $DIR/$MARKER ]]; then
    die "$DIR is not empty and is not a test server directory"
  fi
  touch "$DIR/$MARKER"
  if [[ $(id -u) == 0 ]]; then chown postgres: "$DIR"; fi
  as_owner test -w "$DIR" || die "the postgres user cannot write to $DIR (are its parents traversable?)"
  rm -rf "$DIR/data"
  log "initialising a cluster in $DIR/data"
  as_owner "$PG_BIN/initdb" -D "$DIR/data" -U postgres --auth=trust --encoding=UTF8 \
    --locale=C --no-sync >"$DIR/initdb.log" 2>&1 || {
    cat "$DIR/initdb.log" >&2
    die "initdb failed"
  }
  # The Unix socket path must fit in 107 bytes.
  local sockdir=$DIR
  if ((${#DIR} > 80)); then
    sockdir=$(mktemp -d /tmp/vigie-pg-sock.XXXXXX)
    if [[ $(id -u) == 0 ]]; then chown postgres: "$sockdir"; fi
  fi
  echo "$sockdir" >"$DIR/sockdir"
  cat >"$DIR/data/pg_hba.conf" <<EOF
# Throwaway test server: trust on the Unix socket and loopback only.
local all all trust
host all all 127.0.0.1/32 trust
EOF
  cat >>"$DIR/data/postgresql.conf" <<EOF

# vigie test server (scripts/pg-test-server.sh): fast, unsafe.
listen_addresses = '127.0.0.1'
unix_socket_directories = '$sockdir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_buffers = 32MB
log_min_messages = warning
EOF
}

start() {
  if running; then
    log "already running"
    url
    return
  fi
  if [[ ! -f $DIR/data/PG_VERSION ]]; then
    init_cluster
  elif [[ -f $DIR/data/postmaster.pid ]]; then
    # A server that does not answer (hung, or half dead): put it out first.
    as_owner "$PG_BIN/pg_ctl" -D "$DIR/data" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
  fi
  local attempt port
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    # -w waits until the server accepts connections.
    if as_owner "$PG_BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
      -o "-p $port" start >/dev/null; then
      echo "$port" >"$DIR/port"
      "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -t 10 ||
        die "server started but does not answer on 127.0.0.1:$port"
      log "running on 127.0.0.1:$port (log: $DIR/server.log)"
      url
      return
    fi
    # Most likely someone took the port between our probe and the start.
    log "start on port $port failed (attempt $attempt); last log lines:"
    tail -n 5 "$DIR/server.log" >&2 || true
    as_owner "$PG_BIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true
  done
  die "could not start the server"
}

stop() {
  [[ -e $DIR ]] || return 0
  [[ -f $DIR/$MARKER ]] || die "$DIR is not a test server directory; not removing it"
  if [[ -f $DIR/data/postmaster.pid ]] &&
    ! as_owner "$PG_BIN/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1 &&
    as_owner "$PG_BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
    die "cannot stop the server in $DIR; not removing it"
  fi
  local sockdir
  sockdir=$(cat "$DIR/sockdir" 2>/dev/null || true)
  if [[ -n $sockdir && $sockdir != "$DIR" && $sockdir == /tmp/vigie-pg-sock.* ]]; then
    rm -rf "$sockdir"
  fi
  rm -rf "$DIR"
  log "stopped and removed $DIR"
}

status() {
  if running; then
    url
  else
    log "not running"
    return 1
  fi
}

[[ $# == 2 ]] || usage
DIR=$(realpath -m -- "$2")
[[ $DIR != / ]] || die "refusing to use /"
case $1 in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) usage ;;
esac
