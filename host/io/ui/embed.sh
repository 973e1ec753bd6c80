#!/bin/sh
# embed.sh OUT.c FILE... — writes the status page's files (host/io/ui/) as
# C arrays for io/ui.c, each with a weak ETag made of its SHA-256, so the
# page ships inside the binary and loads nothing from elsewhere. Needs only
# od, sed and sha256sum (coreutils).
set -eu
out=$1
shift
tmp=$out.tmp
{
    echo '/* Generated from host/io/ui/ by host/io/ui/embed.sh: do not edit. */'
    echo '#include "io/ui_assets.h"'
    echo
    i=0
    for f in "$@"; do
        echo "static const unsigned char a$i[] = {"
        od -An -v -tx1 "$f" | sed -e 's/^ *//' -e 's/ *$//' -e '/^$/d' -e 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'
        echo "};"
        i=$((i + 1))
    done
    echo
    echo "const struct ui_asset ui_assets[] = {"
    i=0
    for f in "$@"; do
        name=$(basename "$f")
        sum=$(sha256sum "$f" | cut -c1-16)
        echo "    {\"$name\", \"W/\\\"$sum\\\"\", a$i, sizeof(a$i)},"
        i=$((i + 1))
    done
    echo "    {NULL, NULL, NULL, 0},"
    echo "};"
} >"$tmp"
mv "$tmp" "$out"
