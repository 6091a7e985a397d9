#!/bin/sh
# The entrypoint of the tests' PostgreSQL image (Debian's packages, tests/helpers/containers.py):
# the official image's interface, as deploy/compose uses it. POSTGRES_PASSWORD is required;
# POSTGRES_USER (default postgres) owns POSTGRES_DB (default the user's name); the cluster is
# made on first start in PGDATA, accepting password logins (scram-sha-256) from anywhere.
set -eu
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
export PGDATA=${PGDATA:-/var/lib/postgresql/data}

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /run/postgresql
  chown -R postgres:postgres "$PGDATA" /run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb --username="$user" --pwfile="$pwfile" --auth-local=trust \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  if [ "$db" != postgres ]; then
    # A server for this step alone, on a socket of its own: pg_isready (the healthcheck)
    # answers only once the real server is up.
    socket=$(mktemp -d)
    pg_ctl --silent --wait \
      --options="-c listen_addresses='' -c unix_socket_directories=$socket" start
    psql --quiet --host="$socket" --username="$user" --dbname=postgres \
      --command="CREATE DATABASE \"$db\" OWNER \"$user\""
    pg_ctl --silent --wait stop
    rmdir "$socket"
  fi
fi
exec postgres -c listen_addresses='*' "$@"
