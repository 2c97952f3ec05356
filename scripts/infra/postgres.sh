#!/usr/bin/env bash
# A private PostgreSQL cluster in a folder, on loopback.
#   postgres.sh start DIR PORT DBNAME   initdb (as the postgres user: initdb refuses root) and start
#   postgres.sh stop DIR
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

pgbin() {
  local b
  for b in /usr/lib/postgresql/*/bin; do [ -x "$b/initdb" ] && { echo "$b"; return 0; }; done
  echo "PostgreSQL server binaries not found (install Debian's postgresql)" >&2
  return 1
}

as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

start() {
  local dir=$1 port=$2 db=$3 bin
  bin=$(pgbin)
  mkdir -p "$dir"
  [ "$(id -u)" -ne 0 ] || chown postgres "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 > "$dir/initdb.log" 2>&1 ||
      { echo "postgres: initdb failed:" >&2; tail -20 "$dir/initdb.log" >&2; return 1; }
  fi
  as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/data/server.log" -w -t 60 \
    -o "-h 127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=300" start > /dev/null ||
    { echo "postgres: did not start on port $port:" >&2; tail -20 "$dir/data/server.log" >&2 || true; return 1; }
  as_pg "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -qtAc \
    "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1 ||
    as_pg "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE \"$db\""
}

stop() {
  local dir=$1 bin
  bin=$(pgbin)
  [ -f "$dir/data/postmaster.pid" ] || return 0
  as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop > /dev/null || true
}

"$@"
