#!/usr/bin/env bash
# Runs the test suite. Where PostgreSQL's server binaries are installed and no
# RENDERGATE_TEST_PG_URL is given, starts a throwaway server for the `pg` tests;
# installs a CPU ComfyUI for the ComfyUI tests unless RENDERGATE_TEST_COMFYUI_PYTHON
# names one.
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
# A real ComfyUI on the CPU for the ComfyUI adapter's tests (installed once, in .comfyui/).
if [ -z "${RENDERGATE_TEST_COMFYUI_PYTHON:-}" ]; then
  RENDERGATE_TEST_COMFYUI_PYTHON=$(scripts/comfyui-setup.sh)
  export RENDERGATE_TEST_COMFYUI_PYTHON
fi
.venv/bin/python -m pytest "$@"
