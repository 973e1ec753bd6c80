#!/bin/sh
# The SDK as compilers see it: the header alone, as ISO C11 with -pedantic
# and as C++17; the template, the shipped plugins and the README's tutorial
# plugin, built with the README's flags; and the records that must not
# compile (refused.c, refused.cc), each refused by gcc and clang (g++ and
# clang++ for C++). Prints "test_compile.sh: N passed, N failed".
cd "$(dirname "$0")/../.." || exit 1
out=build/abi/compile
mkdir -p "$out"
pass=0
fail=0
CFLAGS="-std=c11 -pedantic -Wall -Wextra -Werror -fPIC -fvisibility=hidden -Isdk/include"
CXXFLAGS="-std=c++17 -pedantic -Wall -Wextra -Werror -Wshadow -fPIC -fvisibility=hidden -Isdk/include"
LDFLAGS="-shared -Wl,-z,defs"

ok() { pass=$((pass + 1)); echo "ok    $*"; }
bad() { fail=$((fail + 1)); echo "FAIL  $*"; }

have() {
    command -v "$1" >/dev/null 2>&1 && return 0
    bad "$1 is not installed (make deps)"
    return 1
}

# must_build WHAT COMPILER FLAGS... : builds, or fails with the compiler's words
must_build() {
    what=$1
    shift
    if "$@" >"$out/log" 2>&1; then
        ok "$what"
    else
        bad "$what"
        sed 's/^/      /' "$out/log" | head -20
    fi
}

# must_refuse WHAT COMPILER FLAGS... : the compiler must not accept it
must_refuse() {
    what=$1
    shift
    if "$@" >"$out/log" 2>&1; then
        bad "$what (compiled, must not)"
    else
        ok "$what (refused)"
    fi
}

printf '#include <jobhost/plugin.h>\n' >"$out/header.c"
cp "$out/header.c" "$out/header.cc"

# The five-minute plugin of the README, as a new user would copy it.
awk '/^## Write a plugin in five minutes/ { in_tut = 1 }
     in_tut && /^   ```c$/ { grab = 1; next }
     grab && /^   ```$/ { exit }
     grab { sub(/^   /, ""); print }' README.md >"$out/greet.c"

for cc in gcc clang; do
    have $cc || continue
    must_build "$cc: the header as C11 -pedantic" $cc $CFLAGS -c -o "$out/header.o" "$out/header.c"
    must_build "$cc: sdk/template/plugin_template.c" \
        $cc $CFLAGS $LDFLAGS -o "$out/template.so" sdk/template/plugin_template.c
    for p in plugins/*.c; do
        # as the README builds a plugin (the shipped ones use GNU extensions)
        must_build "$cc: $p" $cc -shared -fPIC -fvisibility=hidden -Wall -Wextra -Werror \
            -Isdk/include -Wl,-z,defs -o "$out/plugin.so" "$p"
    done
    if [ -s "$out/greet.c" ]; then
        # the README's one-line build command
        must_build "$cc: README tutorial plugin" \
            $cc -shared -fPIC -fvisibility=hidden -Wall -Wextra -Werror -Isdk/include \
            -Wl,-z,defs -o "$out/greet.so" "$out/greet.c"
    else
        bad "README: no tutorial plugin found under \"Write a plugin in five minutes\""
    fi
    must_build "$cc: refused.c without a case" \
        $cc $CFLAGS $LDFLAGS -o "$out/refused.so" tests/abi/refused.c
    for case in int_from_string str_from_int f64_from_int bool_from_string dur_from_double \
        untyped_pair odd_pair missing_value key_not_a_string; do
        must_refuse "$cc: record $case" \
            $cc $CFLAGS -DCASE_$case -c -o "$out/refused.o" tests/abi/refused.c
    done
done

for cxx in g++ clang++; do
    have $cxx || continue
    must_build "$cxx: the header as C++17 -pedantic" \
        $cxx $CXXFLAGS -c -o "$out/header.o" "$out/header.cc"
    must_build "$cxx: refused.cc without a case" \
        $cxx $CXXFLAGS $LDFLAGS -o "$out/refused.so" tests/abi/refused.cc
    for case in int_from_string str_from_int f64_from_int bool_from_int dur_from_double \
        untyped_pair odd_pair; do
        must_refuse "$cxx: record $case" \
            $cxx $CXXFLAGS -DCASE_$case -c -o "$out/refused.o" tests/abi/refused.cc
    done
done

echo
echo "test_compile.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
