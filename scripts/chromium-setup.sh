#!/usr/bin/env bash
# Installs Debian's chromium (/usr/bin/chromium) for the web page's browser tests
# (tests/integration/test_web.py drives it with Playwright; Playwright's own browsers are
# never downloaded). As root with apt-get, or through sudo when it needs no password.
# Idempotent: exits 0 at once when /usr/bin/chromium is there. Exits 3 when this machine
# cannot install it (not root and no password-less sudo, or no apt-get): the browser tests
# then skip and say why. Any other failure (apt-get failing) is an error.
set -euo pipefail

browser=/usr/bin/chromium
[ -x "$browser" ] && exit 0

if ! command -v apt-get >/dev/null; then
  echo "chromium-setup.sh: $browser is missing and there is no apt-get to install it" \
    "(not Debian); the browser tests will be skipped" >&2
  exit 3
fi
if [ "$(id -u)" = 0 ]; then
  as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "chromium-setup.sh: $browser is missing and this user may not install it (not root," \
    "no password-less sudo): run 'sudo apt-get install chromium' to run the browser tests;" \
    "they will be skipped" >&2
  exit 3
fi
echo "chromium-setup.sh: installing Debian's chromium for the browser tests" >&2
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends chromium >&2
[ -x "$browser" ]
