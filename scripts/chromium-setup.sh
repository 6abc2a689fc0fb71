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
"$(dirname "$0")/debian-install.sh" "the browser tests" chromium
[ -x "$browser" ]
