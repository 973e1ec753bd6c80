#!/bin/sh
# tests/fuzz/run.sh — build the libFuzzer targets and run each for a bounded time.
#
#   tests/fuzz/run.sh                  every target, FUZZ_SECONDS (30) each
#   tests/fuzz/run.sh cron units       only these targets
#   FUZZ_SECONDS=300 tests/fuzz/run.sh a longer run
#   FUZZ_SECONDS=0 tests/fuzz/run.sh   build and replay seeds and saved crashes only
#
# Each target tests/fuzz/fuzz_<name>.c is built with clang into
# build/fuzz/fuzz_<name> (-fsanitize=fuzzer,address,undefined, every UBSan
# report fatal). Then:
#   1. the inputs saved under tests/fuzz/crashes/<name>-* are replayed: once
#      the bug they show is fixed they are regression tests; until then they
#      fail the target, which is then not fuzzed (it would find them again);
#   2. the target fuzzes for FUZZ_SECONDS (-max_total_time) on
#      build/fuzz/corpus-<name>, a working copy of tests/fuzz/corpus/<name>
#      (the committed seeds are never written to; the working copy keeps what
#      earlier local runs found), with tests/fuzz/<name>.dict when there is one.
# A crash, sanitizer report, leak, timeout (-timeout, 10 s per input) or
# out-of-memory is a failure: the input is kept in build/fuzz/artifacts-<name>/
# and the report is printed. Prints "fuzz_<name>: ok (N runs)" per target and
# exits 1 when any target failed (or did not build).
#
# Run from anywhere; works in the repository root. Needs clang with
# compiler-rt (Debian: clang, libclang-rt-14-dev) and the -dev packages the
# daemon builds with (libyaml, libmicrohttpd, zlib).
#
# Environment: FUZZ_SECONDS (default 30), FUZZ_CC (default clang), FUZZ_CFLAGS
# (added to the compile line), FUZZ_ARGS (added to every libFuzzer command
# line, e.g. "-jobs=2" or "-only_ascii=1").
set -u

cd "$(dirname "$0")/../.." || exit 2

SECONDS_EACH=${FUZZ_SECONDS:-30}
case $SECONDS_EACH in
'' | *[!0-9]*)
    echo "run.sh: FUZZ_SECONDS must be a whole number of seconds, not \"$SECONDS_EACH\"" >&2
    exit 2
    ;;
esac
CC_FUZZ=${FUZZ_CC:-clang}
OUT=build/fuzz
ALL_TARGETS="manifest cron units logfmt http utf8 proto path"

CFLAGS="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
 -fno-sanitize-recover=all -std=gnu11 -D_GNU_SOURCE -pthread -Isdk/include -Ihost \
 -Wall -Wextra -Wno-missing-field-initializers"

# What each target links, and the longest input it is given. The manifest
# target brings its own host/core/manifest_file.c (an in-memory file for
# include:), so fuzzing never reads the machine's files.
sources() {
    case $1 in
    manifest) echo host/core/manifest.c host/core/schema.c \
        host/core/yamltree.c host/lib/arena.c host/lib/idtable.c host/lib/listen.c \
        host/lib/units.c host/lib/util.c host/lib/trigger.c \
        host/lib/tz.c host/lib/civil.c host/core/log.c host/core/log_record.c \
        host/core/log_queue.c host/core/log_capture.c host/lib/logfmt.c host/lib/numfmt.c \
        host/lib/utf8.c host/core/clock.c host/lib/sha256.c host/lib/suggest.c ;;
    cron) echo host/lib/trigger.c host/lib/tz.c host/lib/civil.c host/lib/units.c host/lib/util.c ;;
    units) echo host/lib/units.c ;;
    logfmt) echo host/lib/logfmt.c tests/common/logfmt_parse.c host/lib/util.c host/lib/trigger.c host/lib/tz.c \
        host/lib/civil.c host/lib/units.c host/lib/numfmt.c host/lib/utf8.c ;;
    http) echo host/io/http_router.c host/io/http_stream.c host/io/http_deferred.c \
        host/io/http_server.c host/io/http_share.c host/lib/listen.c host/lib/sha256.c \
        host/core/metrics.c host/core/safe_open.c \
        host/lib/util.c host/core/clock.c host/lib/numfmt.c host/lib/utf8.c ;;
    utf8) echo host/lib/utf8.c ;;
    proto) echo host/core/isolate_proto.c host/core/record.c host/lib/utf8.c host/lib/util.c \
        host/core/clock.c host/lib/numfmt.c ;;
    path) echo host/core/safe_open.c ;;
    esac
}
libs() {
    case $1 in
    manifest) echo -lyaml -lm ;;
    http) echo -lmicrohttpd -lz -lm ;;
    proto) echo -ljansson -lm ;;
    *) echo -lm ;;
    esac
}
max_len() {
    case $1 in
    manifest) echo 4096 ;;
    cron) echo 256 ;;
    units) echo 64 ;;
    logfmt) echo 1024 ;;
    http) echo 2048 ;;
    utf8) echo 512 ;;
    proto) echo 8192 ;;
    path) echo 300 ;;
    esac
}

targets=${*:-$ALL_TARGETS}
for t in $targets; do
    case " $ALL_TARGETS " in
    *" $t "*) ;;
    *)
        echo "run.sh: unknown target \"$t\" (known: $ALL_TARGETS)" >&2
        exit 2
        ;;
    esac
done

if ! command -v "$CC_FUZZ" >/dev/null 2>&1; then
    echo "run.sh: $CC_FUZZ not found (apt-get install clang libclang-rt-14-dev)" >&2
    exit 2
fi
mkdir -p "$OUT"
# Stacks for UBSan reports too (ASan prints them anyway).
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1"

failed=0

# --- build --------------------------------------------------------------------
built=
for t in $targets; do
    # shellcheck disable=SC2046,SC2086 # word splitting of the lists is intended
    if $CC_FUZZ $CFLAGS ${FUZZ_CFLAGS:-} -Itests/fuzz -Itests/common -o "$OUT/fuzz_$t" "tests/fuzz/fuzz_$t.c" \
        $(sources "$t") $(libs "$t") >"$OUT/build-$t.log" 2>&1; then
        built="$built $t"
    else
        echo "fuzz_$t: FAILED (build; $OUT/build-$t.log)"
        sed 's/^/  /' "$OUT/build-$t.log" | head -n 40
        failed=1
    fi
done

# Prints what went wrong from a libFuzzer log: the failed check or sanitizer
# report, with the frames in our code, and the summary.
show_report() {
    awk '/fuzz check failed|==[0-9]+==ERROR|runtime error:|ERROR: libFuzzer/ {on = 1}
         /^stat::|^MS: / {on = 0}
         on && !/fuzzer::|libc_start|in _start|__sanitizer_print|pthread_kill|raise\.c|abort\.c|in main |NOTE: libFuzzer|Combine libFuzzer|^ *$/' \
        "$1" | head -n 30 | sed 's/ (BuildId: [0-9a-f]*)//; s/^/  /'
}

# --- replay saved crashes, then fuzz ------------------------------------------
for t in $built; do
    bin=$OUT/fuzz_$t
    log=$OUT/fuzz_$t.log
    status=ok

    for c in tests/fuzz/crashes/"$t"-*; do
        [ -f "$c" ] || continue
        if ! "$bin" -runs=1 -rss_limit_mb=2048 -timeout=10 "$c" >"$OUT/replay-$t.log" 2>&1; then
            echo "fuzz_$t: FAILED (saved crash $c still fails; replay: $bin $c)"
            show_report "$OUT/replay-$t.log"
            status=failed
        fi
    done
    if [ $status = failed ]; then
        # Fuzzing would only find the known bug again: fix it first.
        failed=1
        continue
    fi

    corpus=$OUT/corpus-$t
    artifacts=$OUT/artifacts-$t
    mkdir -p "$corpus" "$artifacts"
    if [ -d "tests/fuzz/corpus/$t" ]; then
        cp -R "tests/fuzz/corpus/$t/." "$corpus/"
    fi
    dict=
    [ -f "tests/fuzz/$t.dict" ] && dict=-dict=tests/fuzz/$t.dict

    if [ "$SECONDS_EACH" -gt 0 ]; then
        run_args="-max_total_time=$SECONDS_EACH"
    else
        run_args="-runs=0" # only the corpus: every seed once
    fi
    # shellcheck disable=SC2086
    "$bin" "$corpus" $run_args -max_len="$(max_len "$t")" -timeout=10 \
        -rss_limit_mb=2048 -artifact_prefix="$artifacts/" -print_final_stats=1 \
        $dict ${FUZZ_ARGS:-} >"$log" 2>&1
    rc=$?
    if [ $rc -ne 0 ]; then
        artifact=$(grep -o "Test unit written to [^ ]*" "$log" | tail -n 1 | cut -d' ' -f5)
        echo "fuzz_$t: FAILED (exit $rc${artifact:+; input saved as $artifact; replay: $bin $artifact}; log $log)"
        show_report "$log"
        status=failed
    fi
    if [ $status = ok ]; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
        speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
        corp=$(grep -o 'corp: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
        echo "fuzz_$t: ok (${runs:-0} runs)"
        echo "  ${speed:-0} exec/s, coverage ${cov:-?} edges, corpus ${corp:-?} inputs; log $log"
    else
        failed=1
    fi
done

exit $failed
