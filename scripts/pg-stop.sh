#!/usr/bin/env bash
# Stops the server scripts/pg-start.sh started in the folder RENDERGATE_TEST_PG_DIR names
# (and no other), then removes that folder. A folder pg-start did not make is left alone.
set -uo pipefail
DIR=${RENDERGATE_TEST_PG_DIR:-}
if [ -z "$DIR" ]; then
  echo "pg-stop: set RENDERGATE_TEST_PG_DIR to the folder scripts/pg-start.sh made" >&2
  exit 2
fi
[ -d "$DIR" ] || exit 0 # already gone
if [ ! -f "$DIR/rendergate-pg.state" ]; then
  if [ -z "$(ls -A "$DIR")" ]; then rmdir "$DIR"; exit 0; fi # made, never used
  echo "pg-stop: $DIR was not made by scripts/pg-start.sh; left alone" >&2
  exit 1
fi
PGBIN=$(sed -n 's/^pgbin=//p' "$DIR/rendergate-pg.state")
as_pg=()
if [ "$(id -u)" = 0 ]; then as_pg=(runuser -u postgres --); fi
status=0
if [ -f "$DIR/data/postmaster.pid" ]; then
  if ! "${as_pg[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -m fast -w -t 30 stop >/dev/null 2>&1; then
    "${as_pg[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || {
      echo "pg-stop: could not stop the server in $DIR (pid $(head -n 1 "$DIR/data/postmaster.pid"))" >&2
      status=1
    }
  fi
fi
if [ "$status" = 0 ]; then rm -rf "$DIR"; fi
exit "$status"
