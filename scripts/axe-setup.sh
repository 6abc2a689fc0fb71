#!/usr/bin/env bash
# Installs axe-core, the accessibility engine that the browser tests inject into the page
# (tests/support/a11y.py), from the npm registry at the version and integrity hash pinned in
# tests/a11y/package-lock.json, into tests/a11y/node_modules/. npm comes from Debian
# (apt-get install npm) when it is missing, as root or through password-less sudo.
# Idempotent: exits 0 at once when the pinned version is installed. Exits 3 when this
# machine has no npm and cannot install it: the audits then skip and say why. Any other
# failure (apt-get or npm failing) is an error.
set -euo pipefail
cd "$(dirname "$0")/.."

here=tests/a11y
installed=$here/node_modules/axe-core/package.json
version() { sed -n 's/^  "version": "\(.*\)",$/\1/p' "$1"; }
pinned=$(sed -n '/"node_modules\/axe-core"/,/}/s/^ *"version": "\(.*\)",$/\1/p' \
  "$here/package-lock.json")
[ -f "$installed" ] && [ "$(version "$installed")" = "$pinned" ] && exit 0

command -v npm >/dev/null || scripts/debian-install.sh "the accessibility audits" npm
echo "axe-setup.sh: installing axe-core $pinned for the accessibility audits" >&2
npm ci --prefix "$here" --ignore-scripts --no-audit --no-fund >&2
[ "$(version "$installed")" = "$pinned" ]
