#!/bin/sh
# Installs the Debian packages named on the command line that are missing.
# As root it runs apt-get non-interactively; otherwise it prints the exact
# command to run. With --quiet it says nothing when everything is present.
quiet=
[ "$1" = "--quiet" ] && { quiet=1; shift; }
missing=
for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
        missing="$missing $pkg"
done
if [ -z "$missing" ]; then
    [ -n "$quiet" ] || echo "deps: all packages present"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing packages; run as root:" >&2
    echo "  apt-get install -y$missing" >&2
    exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || exit 1
apt-get install -y -qq --no-install-recommends $missing || exit 1
