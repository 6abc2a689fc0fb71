#!/usr/bin/env bash
# Runs the test suite. Where PostgreSQL's server binaries are installed and no
# RENDERGATE_TEST_PG_URL is given, starts a throwaway server for the `pg` tests.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${RENDERGATE_TEST_PG_URL:-}" ]; then
  if url=$(scripts/pg-start.sh); then
    export RENDERGATE_TEST_PG_URL="$url"
    trap 'scripts/pg-stop.sh' EXIT
  else
    echo "PostgreSQL not available: the pg tests will be skipped" >&2
  fi
fi
.venv/bin/python -m pytest "$@"
