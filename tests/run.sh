#!/bin/sh
# Runs every test of one build variant (release, asan, tsan): the CUnit
# binaries in build/VARIANT/tests/, then the integration tests against that
# variant's daemon. Prints one closing line "N passed, N failed".
variant=${1:-release}
cd "$(dirname "$0")/.." || exit 1
if [ "$variant" = release ]; then
    JOBHOST=$PWD/host/jobhost
else
    JOBHOST=$PWD/build/$variant/jobhost
fi
export JOBHOST JOBHOST_VARIANT=$variant
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0

run_one() {
    name=$1
    shift
    "$@" >"$log.out" 2>&1
    rc=$?
    cat "$log.out"
    line=$(grep -E '^[A-Za-z0-9_.-]+: [0-9]+ passed, [0-9]+ failed' "$log.out" | tail -n 1)
    if [ -z "$line" ]; then
        echo "$name: 0 passed, 1 failed (exit $rc, no summary)"
        echo "$name 0 1" >>"$log"
        status=1
        return
    fi
    p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed.*/\1/')
    f=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed.*/\2/')
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1 # crashed or a sanitizer report after the tests passed
    fi
    [ "$f" -eq 0 ] || status=1
    echo "$name $p $f" >>"$log"
}

for t in build/$variant/tests/test_*; do
    [ -x "$t" ] || continue
    echo "== unit: $t"
    run_one "$(basename "$t")" "$t"
done
if [ "$variant" = release ]; then
    # what compilers accept of the SDK does not depend on the host's build
    echo "== compile: tests/abi/test_compile.sh"
    run_one test_compile.sh sh tests/abi/test_compile.sh
fi
for t in tests/integration/test_*.py; do
    [ -f "$t" ] || continue
    echo "== integration: $t"
    run_one "$(basename "$t")" /usr/bin/python3 "$t"
done
rm -f "$log.out"

echo
echo "== summary ($variant)"
awk '{ printf "  %-32s %5d passed, %d failed\n", $1, $2, $3; p += $2; f += $3 }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
exit $status
