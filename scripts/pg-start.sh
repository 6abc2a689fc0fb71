#!/usr/bin/env bash
# Starts a throwaway PostgreSQL on 127.0.0.1 and prints its URL. initdb refuses
# root, so as root the server runs as the `postgres` user.
set -euo pipefail
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$PGBIN" ] && [ -x "$PGBIN/initdb" ] || { echo "no PostgreSQL server binaries" >&2; exit 1; }
PORT=${RENDERGATE_TEST_PG_PORT:-55432}
DIR=${RENDERGATE_TEST_PG_DIR:-/tmp/rendergate-pg}
as_pg=()
if [ "$(id -u)" = 0 ]; then as_pg=(runuser -u postgres --); fi
if [ -f "$DIR/data/postmaster.pid" ]; then "${as_pg[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true; fi
rm -rf "$DIR" && mkdir -p "$DIR"
[ "$(id -u)" = 0 ] && chown postgres "$DIR"
"${as_pg[@]}" "$PGBIN/initdb" -D "$DIR/data" -A trust -U rendergate >/dev/null
"${as_pg[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w \
  -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
echo "postgresql+psycopg://rendergate@127.0.0.1:$PORT/postgres"
