#!/bin/sh
# The Debian packages, built and tried as an operator would: make deb,
# lintian (no error), dpkg -i, `jobhost check` on the installed manifest,
# systemd-analyze verify on the installed unit, the installed daemon run
# for a few seconds as the jobhost user on the installed manifest (not
# through systemd: CI has no systemd running; only the port is given on
# the command line, so that it cannot clash with another daemon here),
# `jobhost ctl` against it, then dpkg --purge. Run as root; prints
# "package: ok" at the end. Whatever happens, the daemon is stopped and
# the packages are purged.
set -eu
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "package: needs root (dpkg -i, a system user)" >&2
    exit 2
fi
pid=
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    dpkg --purge jobhost-dev jobhost >/dev/null 2>&1 || true
    rmdir /run/jobhost 2>/dev/null || true
}
trap cleanup EXIT
fail() {
    echo "package: $*" >&2
    exit 1
}

echo "== make deb"
make --no-print-directory deb
deb=$(ls build/deb/jobhost_*.deb)
dev=$(ls build/deb/jobhost-dev_*.deb)

echo "== lintian"
lintian --fail-on error --suppress-tags package-supports-alternative-init-but-no-init.d-script \
    "$deb" "$dev"

echo "== dpkg -i"
dpkg -i "$deb" "$dev"
getent passwd jobhost >/dev/null || fail "no jobhost user"
for dir in /var/lib/jobhost /var/log/jobhost; do
    [ "$(stat -c %U "$dir")" = jobhost ] || fail "$dir is not the jobhost user's"
done
grep -qx /etc/jobhost/jobhost.yaml /var/lib/dpkg/info/jobhost.conffiles ||
    fail "the manifest is not a conffile"

echo "== jobhost check"
setpriv --reuid=jobhost --regid=jobhost --init-groups -- jobhost check -c /etc/jobhost/jobhost.yaml
if command -v systemd-analyze >/dev/null; then
    echo "== systemd-analyze verify"
    out=$(systemd-analyze verify /lib/systemd/system/jobhost.service 2>&1) ||
        fail "systemd-analyze verify: $out"
    case $out in *jobhost.service*) fail "systemd-analyze verify: $out" ;; esac
fi
if command -v logrotate >/dev/null; then
    logrotate --debug /etc/logrotate.d/jobhost >/dev/null 2>&1 || fail "logrotate refuses its snippet"
fi

echo "== the installed daemon, as the jobhost user"
# what systemd's RuntimeDirectory= would make
install -d -o jobhost -g jobhost -m 0755 /run/jobhost
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
# setpriv execs the daemon itself (runuser would stay its parent)
setpriv --reuid=jobhost --regid=jobhost --init-groups -- \
    jobhost -c /etc/jobhost/jobhost.yaml --listen "127.0.0.1:$port" </dev/null >/dev/null 2>&1 &
pid=$!
i=0
until curl -sf "$url/-/ready" >/dev/null; do
    i=$((i + 1))
    [ $i -lt 100 ] || fail "the daemon did not become ready"
    kill -0 "$pid" 2>/dev/null || fail "the daemon exited"
    sleep 0.1
done
[ "$(cat /run/jobhost/jobhost.pid)" = "$pid" ] || fail "the pid file does not name the daemon"
jobhost ctl --url "$url" status
jobhost ctl --url "$url" run heartbeat --wait
jobhost ctl --url "$url" list
curl -sf "$url/" | grep -q '<title>jobhost</title>' || fail "no status page"
sleep 2
grep -q 'event=job_finished job=heartbeat' /var/log/jobhost/jobhost.log ||
    fail "nothing in /var/log/jobhost/jobhost.log"
[ "$(stat -c %U /var/log/jobhost/jobhost.log)" = jobhost ] || fail "the log is not the daemon user's"
kill -TERM "$pid"
wait "$pid" || fail "the daemon stopped with status $?"
pid=
[ ! -e /run/jobhost/jobhost.pid ] || fail "the pid file outlived the daemon"

echo "== dpkg --purge"
dpkg --purge jobhost-dev jobhost
for path in /etc/jobhost /var/lib/jobhost /var/log/jobhost /usr/bin/jobhost \
    /etc/systemd/system/multi-user.target.wants/jobhost.service; do
    [ ! -e "$path" ] || fail "$path is still there after the purge"
done
echo "package: ok"
