#!/bin/sh
# Runs a command where /dev/log is a real rsyslogd's socket, without
# touching the machine's own /dev: inside a private mount namespace (start
# this under `unshare --mount --propagation private`), /dev is replaced by a
# tmpfs holding the usual device nodes and the socket of an rsyslogd that
# writes every message to DIR/syslog.log. rsyslogd's pid is in
# DIR/rsyslog.pid; the caller stops it.
#
# usage: unshare --mount --propagation private sh private_syslog.sh DIR CMD [ARG...]
set -eu
dir=$1
shift
mkdir -p "$dir/realdev"
mount --bind /dev "$dir/realdev"
mount -t tmpfs -o mode=0755 devtmp /dev
for node in null zero full random urandom tty; do
    if [ -e "$dir/realdev/$node" ]; then
        touch "/dev/$node"
        mount --bind "$dir/realdev/$node" "/dev/$node"
    fi
done
for sub in pts shm; do
    if [ -d "$dir/realdev/$sub" ]; then
        mkdir "/dev/$sub"
        mount --bind "$dir/realdev/$sub" "/dev/$sub"
    fi
done
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout
ln -s /proc/self/fd/2 /dev/stderr
cat > "$dir/rsyslog.conf" <<CONF
global(workDirectory="$dir")
module(load="imuxsock" SysSock.Name="/dev/log")
*.* action(type="omfile" file="$dir/syslog.log" template="RSYSLOG_FileFormat")
CONF
rsyslogd -f "$dir/rsyslog.conf" -i "$dir/rsyslog.pid"
i=0
while [ ! -S /dev/log ] && [ $i -lt 100 ]; do
    sleep 0.05
    i=$((i + 1))
done
[ -S /dev/log ] || { echo "private_syslog: rsyslogd did not create /dev/log" >&2; exit 1; }
exec "$@"
