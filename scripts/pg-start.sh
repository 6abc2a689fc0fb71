#!/usr/bin/env bash
# Starts a throwaway PostgreSQL on 127.0.0.1 and prints its URL. Every server gets its own
# folder and a free port, so two suites on one machine never meet.
#
# The folder is RENDERGATE_TEST_PG_DIR when set (it must be new or empty: scripts/test.sh
# makes one with mktemp), else a fresh one from mktemp, named on stderr. scripts/pg-stop.sh
# stops the server of the folder RENDERGATE_TEST_PG_DIR names, and removes the folder.
#
# Exit status: 0 with the URL on stdout; 3 when PostgreSQL's server binaries are not
# installed; 1 when the server did not start (why, and its log, on stderr).
# initdb refuses root, so as root the server runs as the `postgres` user.
set -euo pipefail
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ] || [ ! -x "$PGBIN/pg_ctl" ]; then
  echo "pg-start: no PostgreSQL server binaries (no /usr/lib/postgresql/*/bin/initdb)" >&2
  exit 3
fi
as_pg=()
if [ "$(id -u)" = 0 ]; then as_pg=(runuser -u postgres --); fi

fail() {
  echo "pg-start: $*" >&2
  exit 1
}

if [ -n "${RENDERGATE_TEST_PG_DIR:-}" ]; then
  DIR=$RENDERGATE_TEST_PG_DIR
  mkdir -p "$DIR"
  [ -z "$(ls -A "$DIR")" ] || fail "$DIR is not empty: give a new folder in RENDERGATE_TEST_PG_DIR"
  made_dir=0
else
  # As root, /tmp: the postgres user must be able to reach the folder.
  base=/tmp
  [ "$(id -u)" = 0 ] || base=${TMPDIR:-/tmp}
  DIR=$(mktemp -d "$base/rendergate-pg.XXXXXX")
  made_dir=1
fi
DIR=$(cd "$DIR" && pwd)
# pg-stop.sh removes only folders carrying this mark, and stops the server with these binaries.
printf 'pgbin=%s\n' "$PGBIN" >"$DIR/rendergate-pg.state"
chmod 755 "$DIR"
if [ "$(id -u)" = 0 ]; then chown postgres "$DIR"; fi

started=0
cleanup() {
  # Nothing half-made is left behind when the start fails.
  if [ "$started" = 0 ]; then
    if [ -f "$DIR/data/postmaster.pid" ]; then
      "${as_pg[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    if [ "$made_dir" = 1 ]; then rm -rf "$DIR"; fi
  fi
}
trap cleanup EXIT

free_port() {
  # Ask the OS for a free port; without Python, pick one at random. Either way, another
  # process may take it before the server binds, so the caller tries again on a clash.
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
  else
    echo $((20000 + RANDOM % 40000))
  fi
}

if ! "${as_pg[@]}" "$PGBIN/initdb" -D "$DIR/data" -A trust -U rendergate >"$DIR/initdb.log" 2>&1; then
  fail "initdb failed in $DIR/data:
$(tail -n 20 "$DIR/initdb.log")"
fi
for attempt in 1 2 3 4 5; do
  PORT=$(free_port)
  : >"$DIR/log"
  if [ "$(id -u)" = 0 ]; then chown postgres "$DIR/log"; fi
  if "${as_pg[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w -t 60 \
    -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" \
    start >/dev/null 2>&1; then
    started=1
    break
  fi
  if ! grep -qiE "could not bind|address already in use|could not create any TCP/IP sockets" "$DIR/log"; then
    fail "the server in $DIR did not start on port $PORT:
$(tail -n 20 "$DIR/log")"
  fi
  echo "pg-start: port $PORT was taken (attempt $attempt), trying another" >&2
done
[ "$started" = 1 ] || fail "no free port after 5 attempts:
$(tail -n 20 "$DIR/log")"

URL="postgresql+psycopg://rendergate@127.0.0.1:$PORT/postgres"
printf 'port=%s\nurl=%s\n' "$PORT" "$URL" >>"$DIR/rendergate-pg.state"
if [ "$made_dir" = 1 ]; then
  echo "pg-start: PostgreSQL on port $PORT in $DIR; stop it with" \
    "RENDERGATE_TEST_PG_DIR=$DIR scripts/pg-stop.sh" >&2
fi
echo "$URL"
