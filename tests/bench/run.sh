#!/bin/sh
# jobhost benchmarks, side by side with the reference workloads of
# ../shared/anchors/ on APScheduler and prometheus_client, in one invocation.
#
#   make bench                       (builds everything, then runs this)
#   sh tests/bench/run.sh            (from the repository root)
#   BENCH_ROUNDS=1 sh tests/bench/run.sh          one round instead of 3
#   BENCH_ONLY=latency,idle sh tests/bench/run.sh  only those workloads
#   BENCH_OUT=DIR                    where the raw outputs go (build/bench/out)
#   ANCHORS=DIR                      the anchors (../shared/anchors)
#
# Workloads: oneshot burst latency memory idle metrics reload overhead floor log
# manifest (floor: not jobhost, what a bare timer wake-up and thread hand-off
# cost on this machine, to read the latency figures against; manifest: reading
# 1k to 1M jobs, one round, printed after the table).
# Each runs BENCH_ROUNDS times (default 3) on jobhost and, when the peer is
# importable by /usr/bin/python3, on the peer's anchor script, alternating
# (jobhost first in odd rounds, the peer first in even ones). Every figure is
# the median of the rounds with min and max; tests/bench/summarize.py prints
# the table and writes tests/bench/results.json. Figures, never pass/fail:
# the exit status is 0 unless something could not run at all.
#
# About 8-9 minutes for 3 rounds on 2 vCPUs, most of it the peers'.
set -u
cd "$(dirname "$0")/../.." || exit 1
ROOT=$(pwd)
ROUNDS=${BENCH_ROUNDS:-3}
ONLY=${BENCH_ONLY:-}
OUT=${BENCH_OUT:-$ROOT/build/bench/out}
ANCHORS=${ANCHORS:-$ROOT/../shared/anchors}
PY=/usr/bin/python3
BIN=$ROOT/build/bench/bench_sched
PLUGDIR=$ROOT/build/bench/plugins

# --- build ---------------------------------------------------------------------
# Under `make bench` everything is already built; run by hand, build it.
if [ -z "${MAKELEVEL:-}" ]; then
    make --no-print-directory all >/dev/null || { echo "bench: make all failed" >&2; exit 1; }
fi
# The release build's flags (Makefile: BASE_CFLAGS with OPT=-O2); the host
# objects of build/release but main.o; the daemon's libraries.
CFLAGS="-std=gnu11 -O2 -g -pthread -D_GNU_SOURCE -Isdk/include -Ihost -Wall -Wextra"
PLUGIN_CFLAGS="-std=gnu11 -O2 -g -fPIC -fvisibility=hidden -shared -Wl,-z,defs -Isdk/include -Wall -Wextra"
LIBS="-lyaml -lmicrohttpd -ljansson -lz -ldl -lm -pthread -lcunit"
if pkg-config --exists libsystemd 2>/dev/null; then LIBS="$LIBS -lsystemd"; fi
OBJS=$(find build/release/host -name '*.o' 2>/dev/null | grep -v '/host/main\.o$' | sort)
[ -n "$OBJS" ] || { echo "bench: no objects under build/release/host (run make)" >&2; exit 1; }
mkdir -p "$PLUGDIR" "$OUT"
# shellcheck disable=SC2086
cc $CFLAGS -o "$BIN" tests/bench/bench_sched.c $OBJS $LIBS || exit 1
# shellcheck disable=SC2086
cc $PLUGIN_CFLAGS -o "$PLUGDIR/bench_probe.so" tests/bench/bench_probe.c || exit 1
install -m 0755 tests/plugins/ok.so "$PLUGDIR/ok.so" || exit 1
chmod 0755 "$PLUGDIR"
rm -f "$OUT"/*.txt "$OUT"/*.err

# --- the machine -----------------------------------------------------------------
if [ -r "$ANCHORS/env_info.sh" ]; then
    sh "$ANCHORS/env_info.sh" > "$OUT/env.txt" 2>/dev/null
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

have_aps=0
have_prom=0
[ -x "$PY" ] && "$PY" -c 'import apscheduler' 2>/dev/null && have_aps=1
[ -x "$PY" ] && "$PY" -c 'import prometheus_client' 2>/dev/null && have_prom=1
[ -d "$ANCHORS" ] || { have_aps=0; have_prom=0; }
echo "peer_apscheduler=$have_aps" >> "$OUT/env.txt"
echo "peer_prometheus_client=$have_prom" >> "$OUT/env.txt"

echo "== jobhost benchmarks: machine"
sed -n 's/^\(cpu_model\|cpu_count\|hypervisor\|kernel\|os\|mem_total_kib\|python_version\|apscheduler_version\|prometheus_client_version\|promtool_version\|jobhost_commit\|loadavg_start\)=/  \1=/p' "$OUT/env.txt"
cat <<'EOF'
== what each side does
  jobhost: build/bench/bench_sched (tests/bench/bench_sched.c), linked with the
    release host objects (-O2); jobs are real plugin .so files loaded through
    generation_build (a private copy dlopen()ed, as the daemon does): ok.so, or
    bench_probe.so (ok.so's body + a start-time record) where runs are timed;
    real scheduler thread (timerfd) and executor (host.workers = CPUs), every
    run through run_job(), metrics registry on, log level warn (no per-run
    records, skips still logged), jobhost's default job settings.
  peer:    the anchors in ../shared/anchors run by /usr/bin/python3:
    APScheduler BackgroundScheduler (ThreadPoolExecutor, 10 threads,
    MemoryJobStore, its defaults) and prometheus_client generate_latest().
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
run_side() {
    file=$1; shift
    start=$(date +%s.%N)
    load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null)
    timeout 150 "$@" > "$file" 2> "${file%.txt}.err"
    rc=$?
    echo "loadavg_1min_at_start=$load" >> "$file"
    echo "rc=$rc" >> "$file"
    echo "wall_s=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')" >> "$file"
    echo "stderr_lines=$(wc -l < "${file%.txt}.err")" >> "$file"
    [ "$rc" -eq 0 ] || echo "   ($file: rc=$rc, see ${file%.txt}.err)" >&2
}

ours() {  # ours WORKLOAD ROUND
    w=$1; r=$2; f="$OUT/${w}_jobhost_r$r.txt"
    case $w in
    memory)
        run_side "$f.1" "$BIN" --plugins "$PLUGDIR" memory 10000
        run_side "$f.2" "$BIN" --plugins "$PLUGDIR" memory 100000
        cat "$f.1" "$f.2" | grep -v '^\(rc\|wall_s\|stderr_lines\)=' > "$f"
        grep -h '^rc=' "$f.1" "$f.2" | sort -r | head -n1 >> "$f"
        rm -f "$f.1" "$f.2" "$f.1.err" "$f.2.err" ;;
    *) run_side "$f" "$BIN" --plugins "$PLUGDIR" "$w" ;;
    esac
}

peer() {  # peer WORKLOAD ROUND
    w=$1; r=$2; f="$OUT/${w}_peer_r$r.txt"
    case $w in
    oneshot) [ $have_aps = 1 ] && run_side "$f" "$PY" "$ANCHORS/aps_dispatch_oneshot.py" ;;
    burst)   [ $have_aps = 1 ] && run_side "$f" "$PY" "$ANCHORS/aps_dispatch_interval.py" ;;
    latency) [ $have_aps = 1 ] && run_side "$f" "$PY" "$ANCHORS/aps_start_latency.py" ;;
    memory)  [ $have_aps = 1 ] && run_side "$f" "$PY" "$ANCHORS/aps_memory.py" ;;
    idle)    [ $have_aps = 1 ] && run_side "$f" "$PY" "$ANCHORS/aps_idle_cpu.py" ;;
    metrics) [ $have_prom = 1 ] && run_side "$f" "$PY" "$ANCHORS/prom_exposition.py" --reps 5 ;;
    *) : ;;  # reload, overhead, floor: no peer workload
    esac
    return 0
}

WORKLOADS="oneshot burst latency memory idle metrics reload overhead floor"
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

# Logging has no peer workload: its figures are printed after the table.
if want log; then
    # shellcheck disable=SC2086
    cc $CFLAGS -o "$ROOT/build/bench/bench_log" tests/bench/bench_log.c $OBJS $LIBS &&
        "$ROOT/build/bench/bench_log" > "$OUT/log.txt" 2>&1
fi

# Reading manifests has no peer workload either.
if want manifest; then
    # shellcheck disable=SC2086
    cc $CFLAGS -o "$ROOT/build/bench/bench_manifest" tests/bench/bench_manifest.c $OBJS $LIBS &&
        "$ROOT/build/bench/bench_manifest" > "$OUT/manifest.txt" 2>&1
fi

echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/env.txt"
if [ -x "$PY" ]; then
    "$PY" tests/bench/summarize.py "$OUT" tests/bench/results.json
else
    python3 tests/bench/summarize.py "$OUT" tests/bench/results.json
fi
if [ -s "$OUT/log.txt" ]; then
    echo
    echo "== logging (no peer workload): file sink throughput from 2 threads, cost per run"
    cat "$OUT/log.txt"
fi
if [ -s "$OUT/manifest.txt" ]; then
    echo
    echo "== manifest (no peer workload): load time and bytes kept per job"
    cat "$OUT/manifest.txt"
fi
