#!/bin/sh
# jobhost benchmarks, side by side with the reference workloads (the
# "anchors") on APScheduler and prometheus_client, in one invocation.
#
#   make bench                       (builds everything, then runs this)
#   sh tests/bench/run.sh            (from the repository root)
#   BENCH_ROUNDS=1 sh tests/bench/run.sh          one round instead of 3
#   BENCH_ONLY=latency,idle sh tests/bench/run.sh  only those workloads
#   BENCH_OUT=DIR                    where the raw outputs go (build/bench/out)
#   ANCHORS=DIR                      the anchors' directory (see below)
#   BENCH_SCALE_SIZES=1000,10000,100000   the N of the scale workload
#   BENCH_MILLION=1                  scale also at N = 1,000,000
#   BENCH_LOG_RECORDS=2000000        log: records per producer thread
#
# Workloads: oneshot burst latency memory idle metrics reload overhead floor
# scale log store history manifest cluster (oneshot: at level warn and, in the same
# round, with the default manifest's logging -- level info, file rotating at
# 10 MiB keeping 5 -- whose figures are prefixed info_, beside APScheduler
# with its INFO logging on; store: the oneshot workload with the run store on
# and off, and a run's hand-off to the store's writer, beside APScheduler's
# SQLite job store; history: the jobs API on a store of 10 million runs,
# once; floor: not jobhost, what a bare timer wake-up and thread
# hand-off cost on this machine, to read the latency figures against;
# scale: the real daemon, host/jobhost, at N jobs: tests/bench/bench_daemon.py;
# manifest: reading 1k to 1M jobs, one round, printed after the table;
# cluster: three real daemons claiming every firing through a private
# PostgreSQL, tests/bench/bench_cluster.py, one round, no peer: APScheduler
# has no cluster mode; printed after the table).
# Each runs BENCH_ROUNDS times (default 3) on jobhost and, when the peer is
# importable by /usr/bin/python3, on the peer's script, alternating (jobhost
# first in odd rounds, the peer first in even ones). Every figure is the
# median of the rounds with min and max; tests/bench/summarize.py prints the
# table and writes tests/bench/results.json. Figures, never pass/fail: the
# exit status is 0 unless something could not run at all.
#
# The anchors are looked for, in this order: $ANCHORS; ../shared/anchors
# beside the repository; /work/shared/anchors; ../shared/anchors beside the
# main worktree when this is a linked git worktree (the parent of
# `git rev-parse --git-common-dir`). The output says which one was used.
#
# About 12-15 minutes for 3 rounds on 2 vCPUs, most of it the peers'.
set -u
cd "$(dirname "$0")/../.." || exit 1
ROOT=$(pwd)
ROUNDS=${BENCH_ROUNDS:-3}
ONLY=${BENCH_ONLY:-}
OUT=${BENCH_OUT:-$ROOT/build/bench/out}
PY=/usr/bin/python3
BIN=$ROOT/build/bench/bench_sched
PLUGDIR=$ROOT/build/bench/plugins
SCALE_SIZES=${BENCH_SCALE_SIZES:-1000,10000,100000}
[ "${BENCH_MILLION:-0}" = 1 ] && SCALE_SIZES="$SCALE_SIZES,1000000"
LOG_RECORDS=${BENCH_LOG_RECORDS:-2000000}

# --- the anchors -------------------------------------------------------------
# is_anchors DIR: holds the reference workloads.
is_anchors() {
    [ -n "$1" ] && [ -r "$1/aps_memory.py" ] && [ -r "$1/prom_exposition.py" ]
}
ANCHORS_DIR=
ANCHORS_FROM=
LOOKED=
try_anchors() {  # try_anchors DIR HOW
    [ -n "$ANCHORS_DIR" ] && return 0
    [ -n "$1" ] || return 1
    LOOKED="$LOOKED $1"
    if is_anchors "$1"; then
        ANCHORS_DIR=$(cd "$1" && pwd)
        ANCHORS_FROM=$2
    fi
}
if [ -n "${ANCHORS:-}" ]; then
    try_anchors "$ANCHORS" "\$ANCHORS"
    [ -n "$ANCHORS_DIR" ] || echo "bench: ANCHORS=$ANCHORS holds no anchors (aps_memory.py, prom_exposition.py); looking elsewhere" >&2
fi
try_anchors "$ROOT/../shared/anchors" "beside the repository"
try_anchors /work/shared/anchors "at the fixed location"
common=$(git rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)
[ -n "$common" ] && try_anchors "$(dirname "$common")/../shared/anchors" "beside the main worktree"

# --- build ---------------------------------------------------------------------
# Under `make bench` everything is already built; run by hand, build it.
if [ -z "${MAKELEVEL:-}" ]; then
    make --no-print-directory all >/dev/null || { echo "bench: make all failed" >&2; exit 1; }
fi
# The release build's flags (Makefile: BASE_CFLAGS with OPT=-O2); the host
# objects of build/release but main.o; the daemon's libraries.
CFLAGS="-std=gnu11 -O2 -g -pthread -D_GNU_SOURCE -Isdk/include -Ihost -Wall -Wextra -Werror"
PLUGIN_CFLAGS="-std=gnu11 -O2 -g -fPIC -fvisibility=hidden -shared -Wl,-z,defs -Isdk/include -Wall -Wextra"
LIBS="-lyaml -lmicrohttpd -ljansson -lsqlite3 -lpq -lcurl -lz -ldl -lm -pthread -lcunit"
if pkg-config --exists libsystemd 2>/dev/null; then LIBS="$LIBS -lsystemd"; fi
# The objects of today's sources (not every .o lying around: a removed
# source's object would still be there).
OBJS=$(find host -name '*.c' ! -path host/main.c | sort | sed 's|^\(.*\)\.c$|build/release/\1.o|')
OBJS="$OBJS build/release/gen/ui_assets.o" # the status page, compiled in
[ -n "$OBJS" ] || { echo "bench: no objects under build/release/host (run make)" >&2; exit 1; }
mkdir -p "$PLUGDIR" "$OUT"
# shellcheck disable=SC2086
cc $CFLAGS -o "$BIN" tests/bench/bench_sched.c $OBJS $LIBS || exit 1
# shellcheck disable=SC2086
cc $CFLAGS -o "$ROOT/build/bench/bench_log" tests/bench/bench_log.c $OBJS $LIBS || exit 1
# shellcheck disable=SC2086
cc $CFLAGS -o "$ROOT/build/bench/bench_store" tests/bench/bench_store.c $OBJS $LIBS || exit 1
# shellcheck disable=SC2086
cc $PLUGIN_CFLAGS -o "$PLUGDIR/bench_probe.so" tests/bench/bench_probe.c || exit 1
install -m 0755 tests/plugins/ok.so "$PLUGDIR/ok.so" || exit 1
chmod 0755 "$PLUGDIR"
rm -f "$OUT"/*.txt "$OUT"/*.err
[ -x host/jobhost ] || { echo "bench: host/jobhost is not built (run make)" >&2; exit 1; }

# --- the machine -----------------------------------------------------------------
if [ -n "$ANCHORS_DIR" ] && [ -r "$ANCHORS_DIR/env_info.sh" ]; then
    sh "$ANCHORS_DIR/env_info.sh" > "$OUT/env.txt" 2>/dev/null
else
    {
        echo "cpu_model=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -n1)"
        echo "cpu_count=$(nproc)"
        echo "kernel=$(uname -r)"
    } > "$OUT/env.txt"
fi
echo "jobhost_commit=$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo '+dirty')" >> "$OUT/env.txt"
echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" >> "$OUT/env.txt"
echo "rounds=$ROUNDS" >> "$OUT/env.txt"
echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/env.txt"

# have_aps: APScheduler importable (its scale start peer, aps_start.py, is
# ours); have_aps_anchors / have_prom: the anchors found as well.
have_aps=0
have_prom=0
[ -x "$PY" ] && "$PY" -c 'import apscheduler' 2>/dev/null && have_aps=1
[ -x "$PY" ] && "$PY" -c 'import prometheus_client' 2>/dev/null && have_prom=1
have_sqlalchemy=0
[ -x "$PY" ] && "$PY" -c 'import sqlalchemy' 2>/dev/null && have_sqlalchemy=1
have_aps_anchors=$have_aps
[ -n "$ANCHORS_DIR" ] || { have_aps_anchors=0; have_prom=0; }
echo "peer_apscheduler=$have_aps_anchors" >> "$OUT/env.txt"
echo "peer_apscheduler_start=$have_aps" >> "$OUT/env.txt"
echo "peer_prometheus_client=$have_prom" >> "$OUT/env.txt"
[ $have_aps_anchors = 1 ] && [ $have_sqlalchemy = 1 ] && echo "peer_apscheduler_sqlite=1" >> "$OUT/env.txt"
echo "anchors_dir=${ANCHORS_DIR:-none}" >> "$OUT/env.txt"
echo "anchors_from=${ANCHORS_FROM:-none}" >> "$OUT/env.txt"

echo "== jobhost benchmarks: machine"
sed -n 's/^\(cpu_model\|cpu_count\|hypervisor\|kernel\|os\|mem_total_kib\|python_version\|apscheduler_version\|prometheus_client_version\|promtool_version\|jobhost_commit\|loadavg_start\)=/  \1=/p' "$OUT/env.txt"
if [ -n "$ANCHORS_DIR" ]; then
    echo "== anchors: $ANCHORS_DIR (found $ANCHORS_FROM)"
else
    echo "== anchors: none found (looked in:$LOOKED)"
    echo "   every anchor peer is reported as not installed; point ANCHORS at the directory"
    echo "   holding aps_memory.py and prom_exposition.py: ANCHORS=/path/to/anchors make bench"
fi
[ $have_aps = 1 ] || echo "== APScheduler is not importable by $PY: make bench-deps installs it"
[ $have_prom = 1 ] || [ -z "$ANCHORS_DIR" ] || echo "== prometheus_client is not importable by $PY: make bench-deps installs it"
cat <<'EOF'
== what each side does
  jobhost: build/bench/bench_sched (tests/bench/bench_sched.c), linked with the
    release host objects (-O2); jobs are real plugin .so files loaded through
    generation_build (a private copy dlopen()ed, as the daemon does): ok.so, or
    bench_probe.so (ok.so's body + a start-time record) where runs are timed;
    real scheduler thread (timerfd) and executor (host.workers = CPUs), every
    run through run_job() and every fate through the outcome pipeline with
    the daemon's observers (metrics, log records, job state), log level warn
    (no per-run records, skips still logged), jobhost's default job settings.
  scale:   the daemon itself, host/jobhost as built, started by
    tests/bench/bench_daemon.py on one manifest of N cron jobs and measured
    from outside (/-/healthy, /proc/PID/status, /metrics, POST /-/reload,
    SIGTERM, jobhost check).
  oneshot, level info: the same with the default manifest's logging (level
    info, the file sink rotating at 10 MiB keeping 5, syslog off): every
    run's job_started, the probe's own record and job_finished are written.
    Its peer: the anchor with APScheduler's INFO logging on (root logger,
    RotatingFileHandler 10 MiB x 5: tests/bench/aps_oneshot_info.py), at
    20,000 jobs (100,000 take longer than the anchor's 50 s limit).
  log:     build/bench/bench_log (tests/bench/bench_log.c): the log module
    with the bare file sink, the default rotation, then with the daemon's
    default sinks (rotation, syslog to a private rsyslogd).
  peer:    the anchors run by /usr/bin/python3: APScheduler
    BackgroundScheduler (ThreadPoolExecutor, 10 threads, MemoryJobStore, its
    defaults) and prometheus_client generate_latest(); for scale also
    tests/bench/aps_start.py (the aps_memory.py setup, N jobs added and
    start() timed in the process and from exec).
  Runs alternate jobhost / peer; each figure is the median of the rounds
  [min-max]. Ratios are jobhost's advantage (peer/jobhost for times and
  bytes, jobhost/peer for rates).
EOF

# --- running -----------------------------------------------------------------------
want() {
    [ -z "$ONLY" ] && return 0
    case ",$ONLY," in *",$1,"*) return 0 ;; esac
    return 1
}

# run_side FILE CMD...: raw name=value output into FILE, stderr beside it.
# LIMIT (seconds, default 150) bounds one run.
run_side() {
    file=$1; shift
    start=$(date +%s.%N)
    load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null)
    timeout "${LIMIT:-150}" "$@" > "$file" 2> "${file%.txt}.err"
    rc=$?
    echo "loadavg_1min_at_start=$load" >> "$file"
    echo "rc=$rc" >> "$file"
    echo "wall_s=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')" >> "$file"
    echo "stderr_lines=$(wc -l < "${file%.txt}.err")" >> "$file"
    [ "$rc" -eq 0 ] || echo "   ($file: rc=$rc, see ${file%.txt}.err)" >&2
}

# prefix P FILE: P before every name of FILE but the bookkeeping ones.
prefix() {
    sed -i -E "/^(rc|wall_s|stderr_lines|loadavg_1min_at_start)=/! s/^([A-Za-z_][A-Za-z0-9_]*=)/$1\1/" "$2"
}

# join FILE PARTS...: the parts' name=value lines into FILE, with the worst
# rc, the summed wall time and stderr lines; the parts are removed.
join() {
    f=$1; shift
    cat "$@" | grep -v '^\(rc\|wall_s\|stderr_lines\|loadavg_1min_at_start\)=' > "$f"
    grep -h '^loadavg_1min_at_start=' "$@" | head -n1 >> "$f"
    grep -h '^rc=' "$@" | sort -t= -k2 -n -r | head -n1 >> "$f"
    cat "$@" | awk -F= '$1 == "wall_s" { s += $2 } END { printf "wall_s=%.1f\n", s }' >> "$f"
    for p in "$@"; do cat "${p%.txt}.err"; done > "${f%.txt}.err" 2>/dev/null
    echo "stderr_lines=$(wc -l < "${f%.txt}.err")" >> "$f"
    for p in "$@"; do rm -f "$p" "${p%.txt}.err"; done
}

# The log workload's syslog goes to a private rsyslogd (in a mount namespace
# of its own, where /dev/log is that rsyslogd's socket), never to the
# machine's: tests/integration/private_syslog.sh. Without root, unshare or
# rsyslogd, the daemon setting is skipped and says so.
can_private_syslog() {
    [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null 2>&1 &&
        command -v rsyslogd >/dev/null 2>&1 &&
        unshare --mount --propagation private true 2>/dev/null
}

run_log() {  # run_log FILE
    if can_private_syslog; then
        d=$(mktemp -d /tmp/jobhost-bench-syslog.XXXXXX)
        run_side "$1" unshare --mount --propagation private sh tests/integration/private_syslog.sh \
            "$d" "$ROOT/build/bench/bench_log" --syslog-file "$d/syslog.log" "$LOG_RECORDS"
        [ -s "$d/rsyslog.pid" ] && kill "$(cat "$d/rsyslog.pid")" 2>/dev/null
        sleep 0.2
        rm -rf "$d"
    else
        run_side "$1" "$ROOT/build/bench/bench_log" "$LOG_RECORDS"
    fi
}

ours() {  # ours WORKLOAD ROUND
    w=$1; r=$2; f="$OUT/${w}_jobhost_r$r.txt"
    case $w in
    memory)
        run_side "$f.1.txt" "$BIN" --plugins "$PLUGDIR" memory 10000
        run_side "$f.2.txt" "$BIN" --plugins "$PLUGDIR" memory 100000
        join "$f" "$f.1.txt" "$f.2.txt" ;;
    scale)
        lim=900
        case ",$SCALE_SIZES," in *,1000000,*) lim=3600 ;; esac
        LIMIT=$lim run_side "$f" "$PY" tests/bench/bench_daemon.py --sizes "$SCALE_SIZES" ;;
    log) run_log "$f" ;;
    store)
        S=$ROOT/build/bench/bench_store
        run_side "$f.on.txt" "$S" --plugins "$PLUGDIR" throughput 100000 on
        run_side "$f.off.txt" "$S" --plugins "$PLUGDIR" throughput 100000 off
        run_side "$f.hand.txt" "$S" --plugins "$PLUGDIR" handoff 200000
        join "$f" "$f.on.txt" "$f.off.txt" "$f.hand.txt" ;;
    oneshot)
        # warn and the default manifest's logging, in this order in odd
        # rounds and the other in even ones
        if [ $((r % 2)) -eq 1 ]; then
            run_side "$f.1.txt" "$BIN" --plugins "$PLUGDIR" oneshot
            run_side "$f.2.txt" "$BIN" --plugins "$PLUGDIR" oneshot_info
        else
            run_side "$f.2.txt" "$BIN" --plugins "$PLUGDIR" oneshot_info
            run_side "$f.1.txt" "$BIN" --plugins "$PLUGDIR" oneshot
        fi
        prefix info_ "$f.2.txt"
        join "$f" "$f.1.txt" "$f.2.txt" ;;
    *) run_side "$f" "$BIN" --plugins "$PLUGDIR" "$w" ;;
    esac
}

peer() {  # peer WORKLOAD ROUND
    w=$1; r=$2; f="$OUT/${w}_peer_r$r.txt"
    a=$ANCHORS_DIR
    case $w in
    oneshot)
        [ $have_aps_anchors = 1 ] || return 0
        run_side "$f.1.txt" "$PY" "$a/aps_dispatch_oneshot.py"
        # with its INFO logging on; 100,000 jobs would pass the anchor's 50 s
        run_side "$f.2.txt" "$PY" tests/bench/aps_oneshot_info.py "$a/aps_dispatch_oneshot.py" \
            --jobs 20000
        prefix info_ "$f.2.txt"
        join "$f" "$f.1.txt" "$f.2.txt" ;;
    burst)   [ $have_aps_anchors = 1 ] && run_side "$f" "$PY" "$a/aps_dispatch_interval.py" ;;
    latency) [ $have_aps_anchors = 1 ] && run_side "$f" "$PY" "$a/aps_start_latency.py" ;;
    memory)  [ $have_aps_anchors = 1 ] && run_side "$f" "$PY" "$a/aps_memory.py" ;;
    idle)    [ $have_aps_anchors = 1 ] && run_side "$f" "$PY" "$a/aps_idle_cpu.py" ;;
    metrics) [ $have_prom = 1 ] && run_side "$f" "$PY" "$a/prom_exposition.py" --reps 5 ;;
    store)   [ $have_aps_anchors = 1 ] && [ $have_sqlalchemy = 1 ] &&
                 run_side "$f" "$PY" "$a/aps_dispatch_oneshot_sqlite.py" --jobs 5000 ;;
    scale)
        # start time: ours (the anchor has none); memory: the anchor
        [ $have_aps = 1 ] || return 0
        parts=
        LIMIT=900 run_side "$f.start.txt" "$PY" tests/bench/aps_start.py --jobs "$SCALE_SIZES"
        parts="$f.start.txt"
        # the anchor gives each N 40 s: 1,000,000 jobs do not fit in it
        mem_sizes=$(echo "$SCALE_SIZES" | tr ',' '\n' | grep -vx 1000000 | paste -sd, -)
        if [ $have_aps_anchors = 1 ] && [ -n "$mem_sizes" ]; then
            LIMIT=900 run_side "$f.mem.txt" "$PY" "$a/aps_memory.py" --jobs "$mem_sizes"
            parts="$parts $f.mem.txt"
        fi
        # shellcheck disable=SC2086
        join "$f" $parts ;;
    *) : ;;  # reload, overhead, floor, log: no peer workload
    esac
    return 0
}

WORKLOADS="oneshot burst latency memory idle metrics reload overhead floor scale log store"
r=1
while [ "$r" -le "$ROUNDS" ]; do
    for w in $WORKLOADS; do
        want "$w" || continue
        echo "== round $r/$ROUNDS: $w" >&2
        if [ $((r % 2)) -eq 1 ]; then
            ours "$w" "$r"; peer "$w" "$r"
        else
            peer "$w" "$r"; ours "$w" "$r"
        fi
    done
    r=$((r + 1))
done

# The jobs API on a run store of BENCH_HISTORY_RUNS runs (10,000,000 by
# default, over 10 jobs), once: no peer workload.
if want history; then
    H=$OUT/history.db
    run_side "$OUT/history_jobhost_r1.txt.build.txt" "$ROOT/build/bench/bench_store" \
        history "${BENCH_HISTORY_RUNS:-10000000}" 10 "$H"
    LIMIT=300 run_side "$OUT/history_jobhost_r1.txt.api.txt" "$PY" tests/bench/bench_store_api.py \
        --store "$H"
    join "$OUT/history_jobhost_r1.txt" "$OUT/history_jobhost_r1.txt.build.txt" \
        "$OUT/history_jobhost_r1.txt.api.txt"
    rm -f "$H" "$H-wal" "$H-shm"
fi

# Reading manifests has no peer workload.
if want manifest; then
    # shellcheck disable=SC2086
    cc $CFLAGS -o "$ROOT/build/bench/bench_manifest" tests/bench/bench_manifest.c $OBJS $LIBS &&
        "$ROOT/build/bench/bench_manifest" > "$OUT/manifest.txt" 2>&1
fi

# Claims through PostgreSQL: one node, then three at 2,000 firings/s.
if want cluster; then
    {
        echo "loadavg_1min_at_start=$(cut -d' ' -f1 /proc/loadavg)"
        timeout 120 "$PY" tests/bench/bench_cluster.py --nodes 1 --jobs 100 --period 100ms \
            --seconds 10
        timeout 120 "$PY" tests/bench/bench_cluster.py --nodes 3 --jobs 200 --period 100ms \
            --seconds 10
    } > "$OUT/cluster.txt" 2>&1
fi

echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/env.txt"
if [ -x "$PY" ]; then
    "$PY" tests/bench/summarize.py "$OUT" tests/bench/results.json
else
    python3 tests/bench/summarize.py "$OUT" tests/bench/results.json
fi
if [ -s "$OUT/manifest.txt" ]; then
    echo
    echo "== manifest (no peer workload): load time and bytes kept per job"
    cat "$OUT/manifest.txt"
fi
if [ -s "$OUT/cluster.txt" ]; then
    echo
    echo "== cluster (no peer workload): claims through one PostgreSQL"
    cat "$OUT/cluster.txt"
fi
