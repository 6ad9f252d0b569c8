# bench-common.sh — sourced by bench-wal.sh and bench-seglog.sh, the two benchmarks of record
# that run a C benchmark (wal-bench, seglog-bench) over a matrix of configurations. What they
# share: their options (--build, --dir, --runs, --seconds, --quick), finding the binary in the
# build directory, the data directory and its free-space check, the git revision stamped into
# the results' meta line, and running one configuration into results.jsonl.
#
# The sourcing script sets SCRIPT (its own name, the prefix of every message) and TOOL (the
# binary's name) before it sources this file, and defines usage(). The functions set the
# script's globals (BUILD, DATADIR, BENCH, FSTYPE, FAILED ...).
# shellcheck shell=bash disable=SC2034

die() { echo "$SCRIPT: $*" >&2; exit 2; }

# bench_parse_args "$@": sets BUILD, DATADIR, RUNS and SECONDS_EACH (--quick: 1 run of 2 s).
bench_parse_args() {
    BUILD=build
    DATADIR=
    RUNS=3
    SECONDS_EACH=5
    local quick=0
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --build) [[ $# -ge 2 ]] || die "--build needs a value"; BUILD=$2; shift 2 ;;
            --build=*) BUILD=${1#*=}; shift ;;
            --dir) [[ $# -ge 2 ]] || die "--dir needs a value"; DATADIR=$2; shift 2 ;;
            --dir=*) DATADIR=${1#*=}; shift ;;
            --runs) [[ $# -ge 2 ]] || die "--runs needs a value"; RUNS=$2; shift 2 ;;
            --runs=*) RUNS=${1#*=}; shift ;;
            --seconds) [[ $# -ge 2 ]] || die "--seconds needs a value"; SECONDS_EACH=$2; shift 2 ;;
            --seconds=*) SECONDS_EACH=${1#*=}; shift ;;
            --quick) quick=1; shift ;;
            -h|--help) usage; exit 0 ;;
            *) die "unknown argument: $1 (see --help)" ;;
        esac
    done
    [[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer, got '$RUNS'"
    [[ $SECONDS_EACH =~ ^[1-9][0-9]*$ ]] || die "--seconds must be a positive integer, got '$SECONDS_EACH'"
    if [[ $quick == 1 ]]; then RUNS=1; SECONDS_EACH=2; fi
}

# bench_find_binary: sets BENCH to the first executable of BUILD/tools/TOOL, BUILD/TOOL and
# BUILD/bin/TOOL, or dies.
bench_find_binary() {
    BENCH=
    local c
    for c in "$BUILD/tools/$TOOL" "$BUILD/$TOOL" "$BUILD/bin/$TOOL"; do
        if [[ -x $c ]]; then BENCH=$c; break; fi
    done
    [[ -n $BENCH ]] || die "$TOOL not found in $BUILD (tools/$TOOL, $TOOL, bin/$TOOL); build it first or pass --build DIR"
}

# bench_make_datadir TEMPLATE NEED_MIB: creates DATADIR (mktemp -d TEMPLATE when none was given),
# makes it absolute, dies when it has less than NEED_MIB MiB free, and sets FSTYPE ("ext4 on
# /dev/vda1").
bench_make_datadir() {
    local template=$1 need_mib=$2
    if [[ -z $DATADIR ]]; then
        DATADIR=$(mktemp -d "$template")
    else
        mkdir -p "$DATADIR" || die "cannot create $DATADIR"
    fi
    DATADIR=$(cd "$DATADIR" && pwd)
    local avail_mib
    avail_mib=$(df -Pm "$DATADIR" | awk 'NR==2 {print $4}')
    [[ $avail_mib -ge $need_mib ]] || die "$DATADIR has ${avail_mib} MiB free, needs ${need_mib} MiB"
    FSTYPE=$(df -PT "$DATADIR" | awk 'NR==2 {print $2 " on " $1}')
}

# bench_git_rev: the short commit of the checkout these scripts are in, or "unknown".
bench_git_rev() {
    git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --short HEAD 2>/dev/null || echo unknown
}

# bench_run LABEL RUN TOOL-ARGS... : runs BENCH --dir BENCH_DIR --seconds SECONDS_EACH --json
# TOOL-ARGS, killed after BENCH_TIMEOUT_S, and appends its JSON line to RESULTS with the label
# and run; a failure appends an "error" line instead and sets FAILED=1.
bench_run() {
    local label=$1 run=$2; shift 2
    local line rc=0
    local limit=$BENCH_TIMEOUT_S
    line=$(timeout -k 10 "$limit" "$BENCH" --dir "$BENCH_DIR" --seconds "$SECONDS_EACH" --json "$@" \
        2>"$DATADIR/$TOOL.err") || rc=$?
    if [[ $rc -ne 0 || -z $line ]]; then
        local why
        why=$(tr '\n' ' ' <"$DATADIR/$TOOL.err" | head -c 400)
        if [[ $rc -eq 124 || $rc -eq 137 ]]; then why="timed out after ${limit} s (hang?) $why"; fi
        echo "$SCRIPT: $TOOL $label (run $run) failed, exit $rc: $why" >&2
        python3 -c 'import json,sys; print(json.dumps({"kind": sys.argv[5], "config": sys.argv[1], "run": int(sys.argv[2]), "exit": int(sys.argv[3]), "error": sys.argv[4]}))' \
            "$label" "$run" "$rc" "$why" "$TOOL" >>"$RESULTS"
        FAILED=1
        return 0
    fi
    python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d.update(kind=sys.argv[5], config=sys.argv[2], run=int(sys.argv[3]), args=sys.argv[4]); print(json.dumps(d))' \
        "$line" "$label" "$run" "$*" "$TOOL" >>"$RESULTS"
}
