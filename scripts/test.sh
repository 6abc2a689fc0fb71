#!/usr/bin/env bash
# Runs the test suite. Unless RENDERGATE_TEST_PG_URL names a server (or
# RENDERGATE_TEST_PG_SKIP gives a reason to skip the `pg` tests), starts a throwaway
# PostgreSQL for them, on a free port in its own folder, and stops it on the way out: when
# PostgreSQL's server binaries are not installed the pg tests skip and say so; when the
# server does not start for another reason this script fails. Installs a CPU ComfyUI for
# the ComfyUI tests unless RENDERGATE_TEST_COMFYUI_PYTHON names one, and Debian's chromium
# for the browser tests where it can (scripts/chromium-setup.sh; without it they skip).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${RENDERGATE_TEST_PG_URL:-}" ] && [ -z "${RENDERGATE_TEST_PG_SKIP:-}" ]; then
  RENDERGATE_TEST_PG_DIR=$(mktemp -d /tmp/rendergate-pg.XXXXXX)
  export RENDERGATE_TEST_PG_DIR
  trap 'scripts/pg-stop.sh' EXIT
  trap 'exit 130' INT # so that the EXIT trap stops the server on ^C and kill too
  trap 'exit 143' TERM
  status=0
  url=$(scripts/pg-start.sh) || status=$?
  if [ "$status" = 0 ]; then
    export RENDERGATE_TEST_PG_URL="$url"
  elif [ "$status" = 3 ]; then
    RENDERGATE_TEST_PG_SKIP="PostgreSQL's server binaries are not installed (no"
    RENDERGATE_TEST_PG_SKIP+=" /usr/lib/postgresql/*/bin/initdb): install them to run the pg"
    RENDERGATE_TEST_PG_SKIP+=" tests, or set RENDERGATE_TEST_PG_URL to a server"
    export RENDERGATE_TEST_PG_SKIP
    echo "test.sh: $RENDERGATE_TEST_PG_SKIP; the pg tests will be skipped" >&2
  else
    echo "test.sh: the throwaway PostgreSQL did not start (why is above). Set" \
      "RENDERGATE_TEST_PG_URL to a server of your own, or RENDERGATE_TEST_PG_SKIP to a" \
      "reason to skip the pg tests." >&2
    exit 1
  fi
fi
# A real ComfyUI on the CPU for the ComfyUI adapter's tests (installed once, in .comfyui/).
if [ -z "${RENDERGATE_TEST_COMFYUI_PYTHON:-}" ]; then
  RENDERGATE_TEST_COMFYUI_PYTHON=$(scripts/comfyui-setup.sh)
  export RENDERGATE_TEST_COMFYUI_PYTHON
fi
# Debian's chromium for the web page's tests, and axe-core for their accessibility audits;
# where either cannot be installed (status 3) the tests that need it skip.
scripts/chromium-setup.sh || [ $? = 3 ]
scripts/axe-setup.sh || [ $? = 3 ]
# Four xdist workers, a test at a time each: most tests wait on servers, emulators and
# timers, so four share two cores well (22 minutes in one process, 8 in four, measured on
# this 2-core machine). Tests that stop PostgreSQL stop a server of their own
# (tests/support/pg.py own_postgres). `scripts/test.sh -n 0` runs them in one process.
.venv/bin/python -m pytest -n 4 --dist worksteal "$@"
