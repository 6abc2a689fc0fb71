#!/usr/bin/env bash
# Installs Debian packages for a setup script's tests: `debian-install.sh FOR PACKAGE...`,
# where FOR names the tests ("the browser tests"). With apt-get, as root or through sudo
# when it needs no password. Exits 3, saying why, when this machine cannot install them (no
# apt-get, or not root and no password-less sudo): the tests that need them then skip.
# Any other failure (apt-get failing) is an error.
set -euo pipefail
tests=$1
shift

if ! command -v apt-get >/dev/null; then
  echo "debian-install.sh: $* missing and there is no apt-get to install it (not Debian);" \
    "$tests will be skipped" >&2
  exit 3
fi
if [ "$(id -u)" = 0 ]; then
  as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "debian-install.sh: $* missing and this user may not install it (not root, no" \
    "password-less sudo): run 'sudo apt-get install $*' to run $tests; they will be" \
    "skipped" >&2
  exit 3
fi
echo "debian-install.sh: installing Debian's $* for $tests" >&2
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends "$@" >&2
