#!/usr/bin/env python3
"""Compare `rsmctl bench --json` records with `peers.sh --json` metrics (stdlib only).

usage: compare.py --peers PEERS.json [--peers PEERS.json...] [--out MERGED.json] [--strict]
                  RSM.jsonl [RSM.jsonl...]

Each RSM.jsonl holds one JSON object per line as `rsmctl bench --json` prints them; with
several files (several runs), the median over runs of each measurement is compared. Several
--peers files are rounds of `peers.sh --json`: each metric's median over them is compared,
every round's value kept in its `runs`. Prints
the targets of issue 5 (ratio rsm/peer, target, pass/fail) and, for information, ratios
against the physical limits. Called by bench/compare.sh.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import sys

# (rsm selector, peer metric, multiplier of the peer metric, "lat" (lower is better) or
#  "bw" (higher is better), target ratio rsm/(multiplier*peer)). Selector: controller
#  ("tcp" = any network controller), op, kind, size, mode (None = every mode measured), and
#  optionally how network waits were done ("spin", the default, or "block": `--wait block`).
TARGETS = [
    (("loopback", "put", "lat", 8, None), "ucx_posix_put_lat_8B_p50", 1, "lat", 1.0),
    (("loopback", "get", "lat", 8, None), "ucx_posix_get_lat_8B_p50", 1, "lat", 1.0),
    (("loopback", "put", "bw", 1 << 20, None), "memcpy_bw_1MiB", 1, "bw", 0.9),
    (("loopback", "get", "bw", 1 << 20, None), "memcpy_bw_1MiB", 1, "bw", 0.9),
    (("tcp", "put", "lat", 8, "implicit"), "ucx_tcp_put_lat_8B_p50", 1, "lat", 0.8),
    (("tcp", "put", "lat", 8, "explicit"), "ucx_tcp_put_lat_8B_p50", 1, "lat", 0.8),
    # "get of 8 B at most 1.3 x the raw TCP ping-pong round trip in the same waiting mode":
    # spinning waits against the busy-polling ping-pong, blocking ones against the blocking one.
    (("tcp", "get", "lat", 8, None, "spin"), "tcp_busy_pingpong_8B_p50", 2, "lat", 1.3),
    (("tcp", "get", "lat", 8, None, "block"), "tcp_pingpong_8B_p50", 2, "lat", 1.3),
    (("tcp", "put", "bw", 1 << 20, "explicit"), "tcp_stream_bw_1MiB", 1, "bw", 0.8),
    (("tcp", "put", "bw", 1 << 20, "explicit"), "ucx_tcp_put_bw_1MiB", 1, "bw", 3.0),
    (("loopback", "signal", "lat", 0, None), "eventfd_pingpong_8B_p50", 1, "lat", 1.3),
    (("tcp", "signal", "lat", 0, None), "tcp_pingpong_8B_p50", 1, "lat", 1.3),
    (("tcp", "signal", "lat", 0, None, "block"), "tcp_pingpong_8B_p50", 1, "lat", 1.3),
]

# Against the limits and other peers, for information (no target).
INFO = [
    (("loopback", "put", "lat", 8, None), "shm_pingpong_8B_p50", 1, "lat"),
    (("loopback", "put", "bw", 1 << 20, None), "ucx_posix_put_bw_1MiB", 1, "bw"),
    (("loopback", "get", "bw", 1 << 20, None), "ucx_posix_get_bw_1MiB", 1, "bw"),
    (("tcp", "put", "lat", 8, None), "tcp_busy_pingpong_8B_p50", 1, "lat"),
    (("tcp", "put", "lat", 8, None, "block"), "ucx_tcp_put_lat_8B_p50", 1, "lat"),
    (("tcp", "put", "lat", 8, None, "block"), "tcp_pingpong_8B_p50", 1, "lat"),
    (("tcp", "get", "lat", 8, None), "tcp_pingpong_8B_p50", 2, "lat"),
    (("tcp", "get", "lat", 8, None), "ucx_tcp_get_lat_8B_p50", 1, "lat"),
    (("tcp", "barrier", "lat", 8, "explicit"), "tcp_pingpong_8B_p50", 2, "lat"),
    (("tcp", "barrier", "lat", 8, "explicit"), "tcp_busy_pingpong_8B_p50", 2, "lat"),
    (("tcp", "put", "bw", 1 << 20, None), "tcp_stream_bw_1MiB", 1, "bw"),
]


def fmt_size(s):
    if s == 0:
        return ""
    if s >= 1 << 20 and s % (1 << 20) == 0:
        return f"{s >> 20} MiB"
    if s >= 1 << 10 and s % (1 << 10) == 0:
        return f"{s >> 10} KiB"
    return f"{s} B"


def fmt_val(v, kind):
    if v is None:
        return "n/a"
    if kind == "bw":
        return f"{v:.3f} GB/s"
    if v < 10_000:
        return f"{v:.1f} ns"
    if v < 10_000_000:
        return f"{v / 1e3:.2f} us"
    return f"{v / 1e6:.2f} ms"


def load_rsm(files):
    """Records per key, the median over runs of median_ns, p99_ns and gbps."""
    runs = {}
    order = []
    for f in files:
        with open(f) as fh:
            for line in fh:
                line = line.strip()
                if not line.startswith("{"):
                    continue
                r = json.loads(line)
                r.setdefault("wait", "spin")
                key = (r["controller"], r["op"], r["kind"], r["size"], r["mode"], r["wait"])
                if key not in runs:
                    runs[key] = []
                    order.append(key)
                runs[key].append(r)
    merged = {}
    for key in order:
        rs = runs[key]
        m = dict(rs[0])
        for field in ("median_ns", "p99_ns", "gbps"):
            m[field] = statistics.median(r[field] for r in rs)
        m["iterations"] = sum(r["iterations"] for r in rs)
        m["runs"] = len(rs)
        # Each run's figures, so that the spread behind a median stays visible.
        m["run_median_ns"] = [r["median_ns"] for r in rs]
        m["run_gbps"] = [r["gbps"] for r in rs]
        merged[key] = m
    return merged


def select(rsm, sel):
    ctl, op, kind, size, mode = sel[:5]
    wait = sel[5] if len(sel) > 5 else "spin"
    out = []
    for key, r in rsm.items():
        c, o, k, s, md, w = key
        if w != wait:
            continue
        if ctl == "tcp" and c == "loopback":
            continue
        if ctl != "tcp" and c != ctl:
            continue
        if (o, k, s) != (op, kind, size):
            continue
        if mode is not None and md != mode:
            continue
        out.append(r)
    return out


def label(r):
    parts = [r["controller"], r["op"]]
    if r["size"]:
        parts.append(fmt_size(r["size"]))
    parts.append("lat" if r["kind"] == "lat" else "bw")
    if r["mode"] != "none":
        parts.append(f"({r['mode']})")
    if r.get("wait") == "block":
        parts.append("[block]")
    return " ".join(parts)


def rows_for(rsm, peers, sel, peer_name, mult, kind, target):
    rows = []
    found = select(rsm, sel)
    pm = peers.get(peer_name)
    peer_val = pm["value"] * mult if pm else None
    peer_label = (f"{mult}x " if mult != 1 else "") + peer_name
    if not found:
        ctl, op, k, size, mode = sel[:5]
        wait = sel[5] if len(sel) > 5 else "spin"
        found_label = " ".join(
            x for x in [ctl, op, fmt_size(size), k, f"({mode})" if mode else "", "[block]" if wait == "block" else ""]
            if x)
        rows.append(dict(metric=found_label, rsm=None, peer=peer_label, peer_value=peer_val, ratio=None,
                         target=target, kind=kind, result="missing (not measured by rsm)"))
        return rows
    for r in found:
        v = r["gbps"] if kind == "bw" else r["median_ns"]
        ratio = v / peer_val if (peer_val and v is not None) else None
        if target is None:
            result = "info"
        elif ratio is None:
            result = "skip (no peer value)"
        elif kind == "bw":
            result = "pass" if ratio >= target else "FAIL"
        else:
            result = "pass" if ratio <= target else "FAIL"
        rows.append(dict(metric=label(r), rsm=v, peer=peer_label, peer_value=peer_val, ratio=ratio,
                         target=target, kind=kind, result=result, rsm_p99_ns=r.get("p99_ns")))
    return rows


def print_table(title, rows, with_target):
    print(title)
    hdr = f"{'metric':<34} {'rsm':>12}  {'peer':<32} {'peer value':>12} {'ratio':>7}"
    if with_target:
        hdr += f"  {'target':<7} result"
    print(hdr)
    for r in rows:
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "-"
        line = (f"{r['metric']:<34} {fmt_val(r['rsm'], r['kind']):>12}  {r['peer']:<32} "
                f"{fmt_val(r['peer_value'], r['kind']):>12} {ratio:>7}")
        if with_target:
            op = ">=" if r["kind"] == "bw" else "<="
            line += f"  {op}{r['target']:<5.2f} {r['result']}"
        print(line)


def merge_peers(docs):
    """One peers document from `peers.sh --json` rounds: per metric the median over rounds."""
    if len(docs) == 1:
        return docs[0]
    merged = dict(docs[0])
    merged["runs"] = len(docs)
    merged["rounds"] = len(docs)
    merged["failures"] = sum(d.get("failures", 0) for d in docs)
    metrics = {}
    for d in docs:
        for name, m in d.get("metrics", {}).items():
            metrics.setdefault(name, dict(m, runs=[]))["runs"].append(m["value"])
    for m in metrics.values():
        m["value"] = statistics.median(m["runs"])
    merged["metrics"] = metrics
    return merged


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peers", required=True, action="append",
                    help="peers.sh --json output (repeat for rounds: medians over them)")
    ap.add_argument("--out", help="write the merged results here")
    ap.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    ap.add_argument("--same-run", action="store_true", help="(compare.sh) peers were measured in this run")
    ap.add_argument("--load-before", default="")
    ap.add_argument("--load-after", default="")
    ap.add_argument("rsm", nargs="+", help="rsmctl bench --json output(s)")
    a = ap.parse_args()

    docs = []
    for f in a.peers:
        with open(f) as fh:
            docs.append(json.load(fh))
    peers_doc = merge_peers(docs)
    peers = peers_doc.get("metrics", {})
    rsm = load_rsm(a.rsm)

    targets = []
    for sel, name, mult, kind, target in TARGETS:
        targets += rows_for(rsm, peers, sel, name, mult, kind, target)
    info = []
    for sel, name, mult, kind in INFO:
        info += rows_for(rsm, peers, sel, name, mult, kind, None)

    runs = max((r["runs"] for r in rsm.values()), default=0)
    print()
    print_table("rsm against the targets of issue 5 (ratio = rsm / peer value; latency: lower is better, "
                "bandwidth: higher is better)", targets, True)
    print()
    print_table("rsm against the limits and other peers (information)", [r for r in info if r["rsm"] is not None], False)
    n_pass = sum(r["result"] == "pass" for r in targets)
    n_fail = sum(r["result"] == "FAIL" for r in targets)
    print()
    print(f"targets: {n_pass} pass, {n_fail} fail, {len(targets) - n_pass - n_fail} not compared; "
          f"rsm: median of {runs} run(s); peers: {peers_doc.get('runs', '?')} run(s) per test, "
          f"{'interleaved with rsm in ' + str(peers_doc['rounds']) + ' rounds, ' if peers_doc.get('rounds') else ''}"
          f"UCX {peers_doc.get('ucx_version', '?')}, {'pinned' if peers_doc.get('pinned') else 'unpinned'}; "
          f"{'same run' if a.same_run else 'peers from an EARLIER run'}; "
          f"load average before {a.load_before or '?'}, after {a.load_after or '?'}")

    if a.out:
        doc = {
            "tool": "bench/compare.sh",
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "host": {"kernel": platform.release(), "cpus": os.cpu_count()},
            "same_run": a.same_run,
            "load_before": a.load_before,
            "load_after": a.load_after,
            "rsm": list(rsm.values()),
            "peers": peers_doc,
            "targets": targets,
            "info": info,
        }
        with open(a.out, "w") as fh:
            json.dump(doc, fh, indent=2)
            fh.write("\n")
        print(f"wrote {a.out}", file=sys.stderr)
    if a.strict and n_fail:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
