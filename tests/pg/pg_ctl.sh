#!/usr/bin/env bash
# A private PostgreSQL server for tests: its own cluster in a temporary folder, a free
# loopback port, its unix socket inside that folder. DIR holds what callers read: `url`,
# `port`, and `cluster` (the temporary folder's path: under /tmp, so the server's user can
# reach it wherever DIR is, and the socket path stays short).
#
#   tests/pg/pg_ctl.sh start DIR     initdb (unless DIR's cluster exists), start, create
#                                    the database "inngest", write its URL to DIR/url and
#                                    print it; a server already running for DIR is reused
#   tests/pg/pg_ctl.sh stop DIR      stop the server (fast shutdown) and delete DIR
#   tests/pg/pg_ctl.sh restart DIR   stop and start again on the same port (fault tests)
#   tests/pg/pg_ctl.sh kill DIR      stop at once (immediate shutdown), keep DIR
#   tests/pg/pg_ctl.sh up DIR        start a server stopped by `kill`, same port
#   tests/pg/pg_ctl.sh url DIR       print the URL of the server in DIR
#
# As root (CI), the cluster belongs to the `postgres` user (PostgreSQL refuses to run as
# root); otherwise to the current user. PG_BINDIR overrides where initdb/pg_ctl are found.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  sed -n 2,16p "$0" >&2
  exit 2
fi

bindir=${PG_BINDIR:-}
if [ -z "$bindir" ]; then
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && bindir=$d && break
  done
fi
if [ -z "$bindir" ] && command -v pg_config >/dev/null 2>&1; then
  bindir=$(pg_config --bindir)
fi
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "pg_ctl.sh: no PostgreSQL server binaries (install the postgresql package, or set PG_BINDIR)" >&2
  exit 1
fi

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
if [ -f "$dir/cluster" ] && [ -d "$(cat "$dir/cluster")" ]; then
  cluster=$(cat "$dir/cluster")
elif [ "$cmd" = start ]; then
  cluster=$(mktemp -d "${TMPDIR:-/tmp}/inngest-pg.XXXXXX")
  chmod 755 "$cluster"
  [ "$(id -u)" = 0 ] && chown postgres "$cluster"
  echo "$cluster" >"$dir/cluster"
else
  [ "$cmd" = stop ] && { rm -rf "$dir"; exit 0; }
  echo "pg_ctl.sh: no cluster for $dir (run start first)" >&2
  exit 1
fi
data=$cluster/data
logf=$cluster/server.log

running() {
  [ -f "$data/postmaster.pid" ] && as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1
}

# A random port in 20000-59999; when it is taken the server fails to bind and exits, and
# the caller tries another.
free_port() {
  echo $((20000 + (RANDOM * 32768 + RANDOM) % 40000))
}

start_server() {
  local port=$1
  as_owner "$bindir/pg_ctl" -D "$data" -l "$logf" -w -t 60 \
    -o "-p $port -k $cluster -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=${PG_FSYNC:-off}" \
    start >/dev/null
}

url_of() {
  echo "postgresql://postgres@127.0.0.1:$(cat "$dir/port")/inngest"
}

case $cmd in
  start)
    if running; then
      url_of | tee "$dir/url"
      exit 0
    fi
    if [ ! -f "$data/PG_VERSION" ]; then
      as_owner "$bindir/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
        >"$cluster/initdb.log" 2>&1 || { cat "$cluster/initdb.log" >&2; exit 1; }
    fi
    ok=0
    for attempt in 1 2 3 4 5 6 7 8; do
      port=$(free_port)
      if start_server "$port"; then ok=1; break; fi
    done
    if [ "$ok" != 1 ]; then
      echo "pg_ctl.sh: the server did not start; its log:" >&2
      tail -20 "$logf" >&2 || true
      exit 1
    fi
    echo "$port" >"$dir/port"
    as_owner "$bindir/psql" -h "$cluster" -p "$port" -U postgres -d postgres -qAtc \
      "SELECT 1 FROM pg_database WHERE datname = 'inngest'" | grep -q 1 ||
      as_owner "$bindir/createdb" -h "$cluster" -p "$port" -U postgres inngest
    url_of | tee "$dir/url"
    ;;
  stop)
    if running; then
      as_owner "$bindir/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
    fi
    rm -rf "$cluster" "$dir"
    ;;
  restart)
    as_owner "$bindir/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
    start_server "$(cat "$dir/port")"
    ;;
  kill)
    as_owner "$bindir/pg_ctl" -D "$data" -m immediate -w -t 60 stop >/dev/null
    ;;
  up)
    start_server "$(cat "$dir/port")"
    ;;
  url)
    url_of
    ;;
  *)
    echo "pg_ctl.sh: unknown command $cmd" >&2
    exit 2
    ;;
esac
