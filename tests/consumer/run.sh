#!/usr/bin/env bash
# run.sh — the consumer_install test: install a seglog build tree into a scratch prefix and build
# tests/consumer/consumer.c against the installed files only, three ways:
#   1. cc ... $(pkg-config --cflags --libs seglog)            -> libseglog.so (LD_LIBRARY_PATH)
#   2. cc ... $(pkg-config --static --cflags --libs seglog)   -> libseglog.a, no libseglog.so
#   3. a CMake project with find_package(seglog REQUIRED)     -> seglog::seglog and
#                                                                seglog::seglog_static
# and run every binary. CTest passes the build's own settings (CMakeLists.txt, test
# consumer_install); by hand, from the repository root after a build:
#   tests/consumer/run.sh --build-dir build --source-dir tests/consumer --work-dir /tmp/consumer \
#       --libdir lib --includedir include
# Exit status: 0 pass, 1 fail, 77 skip (a tool the test needs is missing).
set -euo pipefail

build_dir="" source_dir="" work_dir="" libdir="lib" includedir="include"
cc="${CC:-cc}" cmake_bin="cmake" config="" flags=""

usage() {
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
    echo "options: --build-dir D --source-dir D --work-dir D --libdir REL --includedir REL"
    echo "         --cc PATH --cmake PATH --config CFG --flags 'extra compile+link flags'"
}

while [ $# -gt 0 ]; do
    case "$1" in
    --build-dir) build_dir="$2"; shift 2 ;;
    --source-dir) source_dir="$2"; shift 2 ;;
    --work-dir) work_dir="$2"; shift 2 ;;
    --libdir) libdir="$2"; shift 2 ;;
    --includedir) includedir="$2"; shift 2 ;;
    --cc) cc="$2"; shift 2 ;;
    --cmake) cmake_bin="$2"; shift 2 ;;
    --config) config="$2"; shift 2 ;;
    --flags) flags="$2"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument '$1'" >&2; usage >&2; exit 1 ;;
    esac
done

if [ -z "$build_dir" ] || [ -z "$work_dir" ]; then
    echo "run.sh: --build-dir and --work-dir are required" >&2
    exit 1
fi
if [ -z "$source_dir" ]; then
    source_dir="$(cd "$(dirname "$0")" && pwd)"
fi
flags="${flags//;/ }" # CMake passes a list

step() { printf '\n== consumer_install: %s\n' "$*"; }
fail() { printf 'consumer_install: FAIL: %s\n' "$*" >&2; exit 1; }

command -v pkg-config >/dev/null 2>&1 || { echo "consumer_install: no pkg-config; skipped"; exit 77; }
command -v "$cc" >/dev/null 2>&1 || fail "no C compiler '$cc'"

work_dir="$(mkdir -p "$work_dir" && cd "$work_dir" && pwd)"
prefix="$work_dir/prefix"
bin="$work_dir/bin"
rm -rf "$prefix" "$bin" "$work_dir/cmake-build"
mkdir -p "$bin"

# Absolute lib/include dirs (e.g. -DCMAKE_INSTALL_LIBDIR=/usr/lib) do not move with --prefix.
for d in "$libdir" "$includedir"; do
    case "$d" in /*)
        echo "consumer_install: install dir '$d' is absolute, so --prefix cannot move it; skipped"
        exit 77 ;;
    esac
done

step "install $build_dir into $prefix"
install_args=(--install "$build_dir" --prefix "$prefix")
[ -n "$config" ] && install_args+=(--config "$config")
"$cmake_bin" "${install_args[@]}"

step "installed files"
for f in "$includedir/seglog.h" "$libdir/libseglog.a" "$libdir/libseglog.so" \
    "$libdir/libseglog.so.0" "$libdir/pkgconfig/seglog.pc" \
    "$libdir/cmake/seglog/seglogConfig.cmake" "$libdir/cmake/seglog/seglogConfigVersion.cmake" \
    "$libdir/cmake/seglog/seglogTargets.cmake"; do
    [ -e "$prefix/$f" ] || fail "missing $prefix/$f"
    echo "ok $f"
done
# The public header must not drag in third-party headers (STYLE.md: seglog.h shows neither).
if grep -E '#include[[:space:]]*[<"](liburing|rocksdb)' "$prefix/$includedir/seglog.h"; then
    fail "installed seglog.h includes a third-party header"
fi
# The shared library exports only the seglog_ API (-fvisibility=hidden + SEGLOG_API).
if command -v nm >/dev/null 2>&1; then
    leaked="$(nm -D --defined-only "$prefix/$libdir/libseglog.so" | awk '$2 ~ /^[TDBR]$/ {print $3}' |
        grep -v -E '^seglog_' || true)"
    [ -z "$leaked" ] || fail "libseglog.so exports non-API symbols: ${leaked//$'\n'/ }"
    echo "ok exported symbols: $(nm -D --defined-only "$prefix/$libdir/libseglog.so" |
        awk '$2 ~ /^[TDBR]$/ {print $3}' | tr '\n' ' ')"
fi

export PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
strict=(-std=c11 -Wall -Wextra -Wpedantic -Wstrict-prototypes -Werror)

step "pkg-config, shared"
pkg-config --exists --print-errors seglog || fail "pkg-config cannot find seglog"
echo "seglog $(pkg-config --modversion seglog): $(pkg-config --cflags --libs seglog)"
# shellcheck disable=SC2046,SC2086
"$cc" "${strict[@]}" $flags "$source_dir/consumer.c" -o "$bin/consumer_pc_shared" \
    $(pkg-config --cflags --libs seglog)
LD_LIBRARY_PATH="$prefix/$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$bin/consumer_pc_shared"
if command -v ldd >/dev/null 2>&1; then
    LD_LIBRARY_PATH="$prefix/$libdir" ldd "$bin/consumer_pc_shared" | grep -F "$prefix/$libdir/libseglog.so.0" ||
        fail "consumer_pc_shared does not load libseglog.so.0 from $prefix/$libdir"
fi

step "pkg-config --static, libseglog.a"
static_libs="$(pkg-config --static --libs seglog)"
echo "pkg-config --static --libs seglog: $static_libs"
static_libs="${static_libs/-lseglog/-l:libseglog.a}" # the .a even though the .so sits beside it
# shellcheck disable=SC2046,SC2086
"$cc" "${strict[@]}" $flags "$source_dir/consumer.c" -o "$bin/consumer_pc_static" \
    $(pkg-config --static --cflags seglog) $static_libs
if command -v readelf >/dev/null 2>&1 && readelf -d "$bin/consumer_pc_static" | grep -q 'libseglog'; then
    fail "consumer_pc_static still needs libseglog.so"
fi
env -u LD_LIBRARY_PATH "$bin/consumer_pc_static"

step "find_package(seglog) with CMAKE_PREFIX_PATH=$prefix"
cmake_args=(-S "$source_dir" -B "$work_dir/cmake-build"
    -DCMAKE_PREFIX_PATH="$prefix"
    -DCMAKE_C_COMPILER="$cc"
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
[ -n "$config" ] && cmake_args+=(-DCMAKE_BUILD_TYPE="$config")
if [ -n "$flags" ]; then
    cmake_args+=(-DCMAKE_C_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags")
fi
"$cmake_bin" "${cmake_args[@]}"
found_dir="$(sed -n 's/^seglog_DIR:PATH=//p' "$work_dir/cmake-build/CMakeCache.txt")"
[ "$found_dir" = "$prefix/$libdir/cmake/seglog" ] ||
    fail "find_package used '$found_dir', not $prefix/$libdir/cmake/seglog"
"$cmake_bin" --build "$work_dir/cmake-build"
LD_LIBRARY_PATH="$prefix/$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$work_dir/cmake-build/consumer_shared"
env -u LD_LIBRARY_PATH "$work_dir/cmake-build/consumer_static"

printf '\nconsumer_install: PASS (pkg-config shared, pkg-config static, find_package shared+static)\n'
