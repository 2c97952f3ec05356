#!/usr/bin/env bash
# First start: initdb with POSTGRES_USER/POSTGRES_PASSWORD, create POSTGRES_DB; then run `postgres ARGS`.
# A first start cut short (no .initialized marker) is redone from scratch.
set -euo pipefail
[ "${1:-}" = "postgres" ] && shift
user=${POSTGRES_USER:-postgres}
if [ ! -f "$PGDATA/.initialized" ]; then
  find "$PGDATA" -mindepth 1 -delete
  pw=$(mktemp); printf '%s' "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}" > "$pw"
  initdb -D "$PGDATA" -U "$user" --pwfile="$pw" --auth-local=trust --auth-host=scram-sha-256 -E UTF8 > /dev/null
  rm -f "$pw"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -k /var/run/postgresql" -w start > /dev/null
  db=${POSTGRES_DB:-$user}
  [ "$db" = postgres ] || psql -h /var/run/postgresql -U "$user" -d postgres -qc "CREATE DATABASE \"$db\""
  pg_ctl -D "$PGDATA" -m fast -w stop > /dev/null
  touch "$PGDATA/.initialized"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -k /var/run/postgresql "$@"
