#!/usr/bin/env bash
# compare.sh - rsm against its peers and limits, measured in the same run on this machine.
#
# usage: bench/compare.sh [options] [OUT.json] [-- RSMCTL-BENCH-ARGS...]
#   OUT.json          also write everything (rsm records, peer metrics, comparisons) here
#   --quick           peers.sh --quick and rsmctl bench --quick (about 40 s instead of ~2.5 min)
#   --runs N          peers.sh runs per test (default: its own, 3; 1 with --quick)
#   --rsm-runs N      rsmctl bench runs (default 1); the median over runs is compared
#   --rounds N        N rounds, each one run of peers.sh (--runs 1) followed by one of rsm
#                     (overrides --runs and --rsm-runs); medians over rounds on both sides.
#                     Interleaving keeps a drift of the machine (the host moving the vCPUs)
#                     from landing on one side only
#   --peers-json F    use an earlier peers.sh --json result instead of running peers.sh
#                     (then the numbers are NOT from the same run: only for quick iteration)
#   --no-pin          pass --no-pin to both sides
#   --no-build        do not run `cargo build --release -p rsm-cli -p rsmd` first
#   --strict          exit 1 if any target is missed
#   --no-block        skip the second rsm run with blocking network waits (--wait block)
# Arguments after `--` go to `rsmctl bench` (e.g. `-- --max-time 10`).
#
# Environment: RSM_PEERS_SH (default: ../shared/bench/peers.sh next to the repository),
# RSMCTL (default: target/release/rsmctl of this repository).
#
# Prints one row per target of issue 5: metric, rsm value, peer value, ratio rsm/peer,
# target, pass/fail; then rows against the physical limits for information. See
# bench/README.md.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
peers_sh=${RSM_PEERS_SH:-$root/../shared/bench/peers.sh}
rsmctl=${RSMCTL:-$root/target/release/rsmctl}

quick=0 runs='' rsm_runs=1 rounds=0 peers_json='' no_pin=0 build=1 strict=0 block=1 out='' bench_args=()
while [ $# -gt 0 ]; do
    case $1 in
    --quick) quick=1 ;;
    --runs) runs=${2:?--runs needs a number}; shift ;;
    --rsm-runs) rsm_runs=${2:?--rsm-runs needs a number}; shift ;;
    --rounds) rounds=${2:?--rounds needs a number}; shift ;;
    --peers-json) peers_json=${2:?--peers-json needs a file}; shift ;;
    --no-pin) no_pin=1 ;;
    --no-build) build=0 ;;
    --strict) strict=1 ;;
    --no-block) block=0 ;;
    -h | --help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    --) shift; bench_args=("$@"); break ;;
    -*) echo "compare.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    *) [ -z "$out" ] || { echo "compare.sh: one output file only" >&2; exit 2; }; out=$1 ;;
    esac
    shift
done
case $rsm_runs in '' | *[!0-9]* | 0) echo "compare.sh: --rsm-runs needs a positive number" >&2; exit 2 ;; esac
case $rounds in '' | *[!0-9]*) echo "compare.sh: --rounds needs a positive number" >&2; exit 2 ;; esac
if [ "$rounds" -gt 0 ]; then
    [ -z "$peers_json" ] || { echo "compare.sh: --rounds measures the peers itself; drop --peers-json" >&2; exit 2; }
    runs=1 rsm_runs=$rounds
fi

say() { echo "compare.sh: $*" >&2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/rsm-compare.XXXXXX")
child=''
cleanup() {
    # peers.sh and rsmctl bench stop their own children (agents, ucx_perftest) on TERM.
    [ -n "$child" ] && kill "$child" 2>/dev/null && wait "$child" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# run_fg CMD...: run in the background and wait, so that a signal reaches cleanup at once
run_fg() {
    "$@" &
    child=$!
    wait "$child"
    local rc=$?
    child=''
    return "$rc"
}

if [ "$build" = 1 ]; then
    say "building rsmctl and rsmd (release)"
    (cd "$root" && cargo build --release --quiet -p rsm-cli -p rsmd) || { say "build failed"; exit 1; }
fi
[ -x "$rsmctl" ] || { say "no rsmctl at $rsmctl (set RSMCTL or drop --no-build)"; exit 1; }

load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# --- peers and limits --------------------------------------------------------
# run_peers OUT.json: one peers.sh run (its --runs runs per test) into OUT.json
run_peers() {
    [ -f "$peers_sh" ] || { say "peers.sh not found at $peers_sh (set RSM_PEERS_SH)"; return 1; }
    local popts=(--json "$1")
    [ "$quick" = 1 ] && popts+=(--quick)
    [ -n "$runs" ] && popts+=(--runs "$runs")
    [ "$no_pin" = 1 ] && popts+=(--no-pin)
    say "running $peers_sh ${popts[*]}"
    run_fg bash "$peers_sh" "${popts[@]}" >>"$work/peers.txt"
    local rc=$?
    if [ ! -s "$1" ]; then
        say "peers.sh wrote no results (exit $rc)"
        return 1
    fi
    [ "$rc" = 0 ] || say "peers.sh reported failed tests (exit $rc); comparing what it measured"
    return 0
}

if [ -n "$peers_json" ]; then
    say "using $peers_json (not measured in this run)"
    cp "$peers_json" "$work/peers.json" || exit 1
elif [ "$rounds" = 0 ]; then
    run_peers "$work/peers.json" || exit 1
fi

# --- rsm ---------------------------------------------------------------------
bopts=(bench --json)
[ "$quick" = 1 ] && bopts+=(--quick)
[ "$no_pin" = 1 ] && bopts+=(--no-pin)
rsm_files=()
rsm_failed=0
for ((r = 1; r <= rsm_runs; r++)); do
    if [ "$rounds" -gt 0 ]; then
        say "round $r/$rounds"
        run_peers "$work/peers-$r.json" || exit 1
    fi
    say "running rsmctl ${bopts[*]} ${bench_args[*]} (run $r/$rsm_runs)"
    t0=$SECONDS
    run_fg "$rsmctl" "${bopts[@]}" "${bench_args[@]}" >"$work/rsm-$r.jsonl"
    rc=$?
    say "rsmctl bench took $((SECONDS - t0)) s (exit $rc)"
    [ "$rc" = 0 ] || rsm_failed=1
    rsm_files+=("$work/rsm-$r.jsonl")
    # The same network latencies with blocking waits (no spin in the library or the agents),
    # for the targets "in the same waiting mode".
    if [ "$block" = 1 ]; then
        say "running rsmctl ${bopts[*]} --wait block (network latencies, run $r/$rsm_runs)"
        t0=$SECONDS
        run_fg "$rsmctl" "${bopts[@]}" --wait block --controller tcp0 --op put,get,signal --kind lat --size 8 \
            >"$work/rsm-block-$r.jsonl"
        rc=$?
        say "rsmctl bench --wait block took $((SECONDS - t0)) s (exit $rc)"
        [ "$rc" = 0 ] || rsm_failed=1
        rsm_files+=("$work/rsm-block-$r.jsonl")
    fi
done

load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# --- compare -----------------------------------------------------------------
# With rounds, compare.py takes every round's peers file and compares medians over them.
copts=(--load-before "$load_before" --load-after "$load_after")
if [ "$rounds" -gt 0 ]; then
    for ((r = 1; r <= rounds; r++)); do copts+=(--peers "$work/peers-$r.json"); done
else
    copts+=(--peers "$work/peers.json")
fi
[ -n "$out" ] && copts+=(--out "$out")
[ "$strict" = 1 ] && copts+=(--strict)
[ -z "$peers_json" ] && copts+=(--same-run)
python3 "$here/compare.py" "${copts[@]}" "${rsm_files[@]}"
rc=$?
[ "$rsm_failed" = 0 ] || { say "some rsm measurements failed (see above)"; [ "$rc" = 0 ] && rc=1; }
exit "$rc"
