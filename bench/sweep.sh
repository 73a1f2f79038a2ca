#!/usr/bin/env bash
# sweep.sh - latency and bandwidth against message size for rsm, UCX and the limits, in one
# run on this machine, written as one JSON file for bench/plot.py.
#
# usage: bench/sweep.sh [options] OUT.json
#   --sizes "S ..."   message sizes (default "8 64 512 4K 32K 256K 1M 8M"; 8 B .. 8 MiB)
#   --quick           fewer iterations everywhere (about 2 min instead of ~5)
#   --no-pin          do not pin the two sides of each test to two CPUs
#   --no-build        do not run `cargo build --release -p rsm-cli -p rsmd` first
#
# What runs (each on this machine, one after the other):
#   rsm     rsmctl bench --json: put/get latency and bandwidth, loopback and tcp0, implicit
#           mode, at every size; tcp0 put bandwidth also in explicit mode
#   UCX     ucx_perftest as ../shared/bench/peers.sh runs it (server + client on 127.0.0.1,
#           pinned to two CPUs), at every size: posix ucp_put_lat, ucp_get, ucp_put_bw;
#           tcp ucp_put_lat, ucp_put_bw
#   limits  ../shared/bench/baselines.c at every size: memcpy-bw, tcp-pingpong, tcp-stream;
#           shm-pingpong (8 B)
# Environment: RSM_PEERS_DIR (default ../shared/bench next to the repository), RSMCTL.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
peers_dir=${RSM_PEERS_DIR:-$root/../shared/bench}
rsmctl=${RSMCTL:-$root/target/release/rsmctl}

sizes="8 64 512 4K 32K 256K 1M 8M" quick=0 pin=1 build=1 out=''
while [ $# -gt 0 ]; do
    case $1 in
    --sizes) sizes=${2:?--sizes needs a list}; shift ;;
    --quick) quick=1 ;;
    --no-pin) pin=0 ;;
    --no-build) build=0 ;;
    -h | --help) sed -n '2,/^set /s/^# \{0,1\}//p' "$0"; exit 0 ;;
    -*) echo "sweep.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    *) [ -z "$out" ] || { echo "sweep.sh: one output file only" >&2; exit 2; }; out=$1 ;;
    esac
    shift
done
[ -n "$out" ] || { echo "usage: bench/sweep.sh [options] OUT.json (try --help)" >&2; exit 2; }

say() { echo "sweep.sh: $*" >&2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/rsm-sweep.XXXXXX")
bg_pids=()
cleanup() {
    local p
    for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${bg_pids[@]}"; do wait "$p" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

forget() {
    local p keep=()
    for p in "${bg_pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    bg_pids=("${keep[@]}")
}

# Run a command in the background and wait for it, so that a signal interrupts the wait and
# cleanup kills the command by its PID.
run_bg() {
    local pid rc
    "$@" &
    pid=$!
    bg_pids+=("$pid")
    wait "$pid"
    rc=$?
    forget "$pid"
    return "$rc"
}

bytes() { # 4K -> 4096
    case $1 in
    *[kK]) echo $((${1%[kK]} * 1024)) ;;
    *[mM]) echo $((${1%[mM]} * 1048576)) ;;
    *) echo "$1" ;;
    esac
}
clamp() { local v=$1; [ "$v" -lt "$2" ] && v=$2; [ "$v" -gt "$3" ] && v=$3; echo "$v"; }

# The two CPUs: the first two this process may use (as peers.sh).
cpus=()
IFS=, read -ra ranges <<<"$(awk '/^Cpus_allowed_list/ { print $2 }' /proc/self/status)"
for r in "${ranges[@]}"; do
    case $r in
    *-*) for ((c = ${r%-*}; c <= ${r#*-}; c++)); do cpus+=("$c"); done ;;
    *) cpus+=("$r") ;;
    esac
done
if [ "$pin" = 1 ] && [ ${#cpus[@]} -ge 2 ]; then
    pin_opt=(--cpus "${cpus[0]},${cpus[1]}")
    rsm_pin=(--cpus "${cpus[0]},${cpus[1]}")
    ucx_srv_cpu=(-c "${cpus[0]}")
    ucx_cli_cpu=(-c "${cpus[1]}")
else
    pin=0 pin_opt=(--no-pin) rsm_pin=(--no-pin) ucx_srv_cpu=() ucx_cli_cpu=()
fi

if [ "$build" = 1 ]; then
    say "cargo build --release -p rsm-cli -p rsmd"
    (cd "$root" && cargo build --release -q -p rsm-cli -p rsmd) || { say "build failed"; exit 1; }
fi
[ -x "$rsmctl" ] || { say "$rsmctl not found (build first, or set RSMCTL)"; exit 1; }
bin=$work/baselines
cc -O2 -o "$bin" "$peers_dir/baselines.c" || { say "building $peers_dir/baselines.c failed"; exit 1; }
have_ucx=0
command -v ucx_perftest >/dev/null 2>&1 && have_ucx=1
[ "$have_ucx" = 1 ] || say "ucx_perftest not found (peers.sh installs ucx-utils); UCX lines left out"

points=$work/points # lines: source name size value unit
: >"$points"
failures=0
t_start=$SECONDS

# --- limits -------------------------------------------------------------------------------
baseline() { # SIZE ARGS...: one baselines run, its metric lines recorded with the size
    local size=$1
    shift
    say "  baselines $*"
    if run_bg timeout -k 5 120 "$bin" "${pin_opt[@]}" "$@" >"$work/out" 2>"$work/err"; then
        awk -v s="$size" '$1 == "metric" { print "limit", $2, s, $3, $4 }' "$work/out" >>"$points"
    else
        say "  FAILED: baselines $*: $(tail -n 1 "$work/err")"
        failures=$((failures + 1))
    fi
}
say "limits"
[ "$quick" = 1 ] && secs=0.1 ssecs=0.3 || secs=0.3 ssecs=1
baseline 8 --iters $([ "$quick" = 1 ] && echo 20000 || echo 100000) shm-pingpong
for s in $sizes; do
    b=$(bytes "$s")
    baseline "$b" --secs "$secs" --trials 3 memcpy-bw "$b"
    n=$(clamp $((256 * 1048576 / b)) 200 $([ "$quick" = 1 ] && echo 10000 || echo 50000))
    baseline "$b" --iters "$n" tcp-pingpong "$b"
    baseline "$b" --secs "$ssecs" tcp-stream "$b"
done

# --- UCX (as peers.sh: server in the background, client on a fresh port) -----------------
port_used() {
    awk -v p="$(printf '%04X' "$1")" 'FNR > 1 { split($2, a, ":"); if (a[2] == p) f = 1 }
        END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
wait_listen() {
    local p i
    p=$(printf '%04X' "$1")
    for ((i = 0; i < 200; i++)); do
        kill -0 "$2" 2>/dev/null || return 1
        awk -v p="$p" 'FNR > 1 && $4 == "0A" { split($2, a, ":"); if (a[2] == p) f = 1 }
            END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}
used_ports=' '
pick_port() {
    while :; do
        port=$((20000 + RANDOM % 12000))
        case $used_ports in *" $port "*) continue ;; esac
        port_used "$port" && continue
        used_ports+="$port "
        return
    done
}
# The value wanted from ucx_perftest's table (the parser of peers.sh): lat = the 50%ile
# latency in ns, bw = the "overall" bandwidth in GB/s (UCX's MB/s are MiB/s).
ucx_parse() {
    awk -v want="$1" '
    function trim(s) { gsub(/^ +| +$/, "", s); return s }
    function cells(row, txt, lo, hi,   i, n) {
        n = 0
        for (i = 1; i <= length(row); i++)
            if (substr(row, i, 1) == "|") {
                if (n > 0) { hi[n] = i - 1; txt[n] = trim(substr(row, lo[n], i - lo[n])) }
                lo[++n] = i + 1
            }
        return n - 1
    }
    /\(usec\)/ && /\(MB\/s\)/ { ng = cells($0, gt, gl, gh) }
    /# iterations/            { ns = cells($0, st, sl, sh) }
    /^Final:/                 { nf = split($0, fv, " ") }
    END {
        if (!ng || !ns || nf != ns) exit 1
        for (j = 2; j <= ns; j++) {
            mid = int((sl[j] + sh[j]) / 2); g = ""
            for (k = 1; k <= ng; k++) if (gl[k] <= mid && mid <= gh[k]) g = gt[k]
            col = g "/" st[j]
            if (want == "lat" && col ~ /^latency \(usec\)\/([0-9.]+%ile|typical)$/) {
                printf "%.1f ns\n", fv[j] * 1000; exit
            }
            if (want == "bw" && col == "bandwidth (MB/s)/overall") {
                printf "%.4f GB/s\n", fv[j] * 1048576 / 1e9; exit
            }
        }
        exit 1
    }'
}
ucx() { # NAME lat|bw TLS NET_DEVICES TEST SIZE ITERS
    local name=$1 want=$2 tls=$3 dev=$4 test=$5 size=$6 n=$7 srv val
    local envs=(UCX_TLS="$tls")
    [ -n "$dev" ] && envs+=(UCX_NET_DEVICES="$dev")
    pick_port
    say "  UCX_TLS=$tls ucx_perftest -t $test -s $size -n $n"
    env "${envs[@]}" timeout -k 5 120 ucx_perftest -p "$port" "${ucx_srv_cpu[@]}" >"$work/ucx-server.log" 2>&1 &
    srv=$!
    bg_pids+=("$srv")
    : >"$work/ucx-client.log"
    if wait_listen "$port" "$srv" &&
        run_bg env "${envs[@]}" timeout -k 5 120 ucx_perftest 127.0.0.1 -p "$port" \
            -t "$test" -s "$size" -n "$n" "${ucx_cli_cpu[@]}" >"$work/ucx-client.log" 2>&1 &&
        val=$(ucx_parse "$want" <"$work/ucx-client.log"); then
        echo "ucx $name $size $val" >>"$points"
    else
        say "  FAILED: $name $size; ucx_perftest said:"
        cat "$work/ucx-client.log" "$work/ucx-server.log" | grep -v '^[+|]' | tail -n 3 | sed 's/^/    /' >&2
        failures=$((failures + 1))
    fi
    kill "$srv" 2>/dev/null
    wait "$srv" 2>/dev/null
    forget "$srv"
}
if [ "$have_ucx" = 1 ]; then
    say "UCX"
    [ "$quick" = 1 ] && div=4 || div=1
    for s in $sizes; do
        b=$(bytes "$s")
        # At least 1000 round trips per latency test: UCX's first ones over tcp can take
        # 50-200 ms each at 256 KiB and up, which a median over ~100 does not hide. At most
        # 5000 over tcp: on a loaded 2-CPU machine a spinning put_lat can stall for seconds.
        nl=$(clamp $((64 * 1048576 / b / div)) $((1000 / div)) $((100000 / div)))
        nb=$(clamp $((512 * 1048576 / b / div)) 64 $((100000 / div)))
        ntl=$(clamp $((256 * 1048576 / b / div)) $((1000 / div)) $((5000 / div)))
        ntb=$(clamp $((256 * 1048576 / b / div)) 32 $((20000 / div)))
        [ ${#cpus[@]} -ge 2 ] && ucx ucx_posix_put_lat lat posix,self '' ucp_put_lat "$b" "$nl"
        ucx ucx_posix_get_lat lat posix,self '' ucp_get "$b" "$nl"
        ucx ucx_posix_put_bw bw posix,self '' ucp_put_bw "$b" "$nb"
        [ ${#cpus[@]} -ge 2 ] && ucx ucx_tcp_put_lat lat tcp,self lo ucp_put_lat "$b" "$ntl"
        ucx ucx_tcp_put_bw bw tcp,self lo ucp_put_bw "$b" "$ntb"
    done
fi

# --- rsm ------------------------------------------------------------------------------------
say "rsm"
size_list=$(echo "$sizes" | tr -s ' ' ',')
q=()
[ "$quick" = 1 ] && q=(--quick)
if ! run_bg "$rsmctl" bench --json "${q[@]}" "${rsm_pin[@]}" --controller loopback,tcp0 --op put,get \
    --kind lat,bw --mode implicit --size "$size_list" >"$work/rsm.json"; then
    say "rsmctl bench failed"
    failures=$((failures + 1))
fi
if ! run_bg "$rsmctl" bench --json "${q[@]}" "${rsm_pin[@]}" --controller tcp0 --op put --kind bw \
    --mode explicit --size "$size_list" >>"$work/rsm.json"; then
    say "rsmctl bench (tcp0 explicit put bw) failed"
    failures=$((failures + 1))
fi

# --- one JSON -------------------------------------------------------------------------------
python3 - "$points" "$work/rsm.json" "$out" "$quick" "$pin" "$((SECONDS - t_start))" "$failures" <<'EOF'
import json, platform, subprocess, sys, time
points, rsm_file, out, quick, pin, secs, failures = sys.argv[1:]
peer = []
for line in open(points):
    src, name, size, value, unit = line.split()
    peer.append({"source": src, "name": name, "size": int(size), "value": float(value), "unit": unit})
rsm = [json.loads(l) for l in open(rsm_file) if l.strip().startswith("{")]
def cmd(*a):
    try:
        return subprocess.run(a, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "")
ucx = next((l.split()[-1] for l in cmd("ucx_info", "-v").splitlines() if "Version" in l), "none")
doc = {
    "tool": "bench/sweep.sh",
    "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "host": {"kernel": platform.release(), "cpu": cpu, "cpus": len(__import__("os").sched_getaffinity(0)),
             "loadavg": open("/proc/loadavg").read().split()[:3]},
    "ucx_version": ucx, "quick": quick == "1", "pinned": pin == "1", "secs": int(secs),
    "failures": int(failures), "rsm": rsm, "peers": peer,
}
json.dump(doc, open(out, "w"), indent=1)
print(f"sweep.sh: wrote {out}: {len(rsm)} rsm records, {len(peer)} peer/limit points, "
      f"{failures} failure(s), {secs} s", file=sys.stderr)
EOF
[ "$failures" -eq 0 ]
