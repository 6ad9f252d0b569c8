#!/usr/bin/env bash
# readme_example.sh — runs the README's example program (tests/example_quickstart.c, built by CMake
# as example_quickstart) on a fresh store, checks what it printed, and checks that the README shows
# that very file, so the documented example can never drift from one that builds and runs.
set -euo pipefail
bin=$1 src=$2 readme=$3
dir=$(mktemp -d "${TMPDIR:-/var/tmp}/seglog-example-XXXXXX")
trap 'rm -rf "$dir"' EXIT
out=$("$bin" "$dir/store")
echo "$out"
grep -q '^appended alpha at LSN 1$' <<<"$out"
grep -q '^new segment 2 at LSN 4, chain version 2$' <<<"$out"
grep -q '^read LSN 4: delta$' <<<"$out"
[ "$(grep -c '^read LSN' <<<"$out")" = 4 ]
# The README's block between the markers is the source file, byte for byte.
awk '/<!-- example:begin -->/{f=1;next} /<!-- example:end -->/{f=0} f' "$readme" |
    sed '1d;$d' | diff -u "$src" - >/dev/null ||
    { echo "README.md's example differs from $src"; exit 1; }
echo "example: OK"
