#!/usr/bin/env python3
"""plot.py - latency and bandwidth against message size, rsm vs UCX and the limits.

usage: python3 bench/plot.py SWEEP.json OUT.png

SWEEP.json is what bench/sweep.sh writes (rsmctl bench --json records under "rsm",
ucx_perftest and baselines.c points under "peers"). Two log-log panels: latency (median) and
bandwidth against size. rsm lines are solid, UCX dashed, limits dotted; a line is drawn
for whatever the file has. Needs matplotlib (`pip install matplotlib`): a tool for making
the documentation's figure, not needed to build or test rsm.
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402


def size_label(v, _pos=None):
    v = int(round(v))
    if v >= 1 << 20 and v % (1 << 20) == 0:
        return f"{v >> 20} MiB"
    if v >= 1 << 10 and v % (1 << 10) == 0:
        return f"{v >> 10} KiB"
    return f"{v} B"


def time_label(v, _pos=None):
    if v >= 1e6:
        return f"{v / 1e6:g} ms"
    if v >= 1e3:
        return f"{v / 1e3:g} µs"
    return f"{v:g} ns"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n\n")[1])
    doc = json.load(open(sys.argv[1]))
    rsm = doc.get("rsm", [])
    peers = doc.get("peers", [])

    def rsm_series(ctl, op, kind, mode, field):
        pts = sorted(
            (r["size"], r[field])
            for r in rsm
            if r["controller"] == ctl and r["op"] == op and r["kind"] == kind and r["mode"] == mode
        )
        return [p for p in pts if p[1] > 0]

    def peer_series(prefix, suffix=""):
        # names like ucx_posix_put_lat (size in "size") or tcp_pingpong_64KiB_p50
        pts = []
        for p in peers:
            n = p["name"]
            if prefix.endswith("_") and n.startswith(prefix) and n.endswith(suffix):
                pts.append((p["size"], p["value"]))
            elif n == prefix:
                pts.append((p["size"], p["value"]))
        return sorted(pts)

    fig, (ax_l, ax_b) = plt.subplots(1, 2, figsize=(13, 5.2))
    rsm_c = {"loopback": "tab:blue", "tcp0": "tab:red"}
    ucx_c = {"posix": "tab:cyan", "tcp": "tab:orange"}

    def line(ax, pts, label, **kw):
        if pts:
            xs, ys = zip(*pts)
            ax.plot(xs, ys, marker=kw.pop("marker", "o"), markersize=4, label=label, **kw)

    # Latency (median, ns).
    line(ax_l, rsm_series("loopback", "put", "lat", "implicit", "median_ns"),
         "rsm loopback put (one-way)", color=rsm_c["loopback"])
    line(ax_l, rsm_series("loopback", "get", "lat", "implicit", "median_ns"),
         "rsm loopback get", color=rsm_c["loopback"], marker="s", alpha=0.6)
    line(ax_l, rsm_series("tcp0", "put", "lat", "implicit", "median_ns"),
         "rsm tcp0 put (one-way, implicit)", color=rsm_c["tcp0"])
    line(ax_l, rsm_series("tcp0", "get", "lat", "implicit", "median_ns"),
         "rsm tcp0 get", color=rsm_c["tcp0"], marker="s", alpha=0.6)
    line(ax_l, peer_series("ucx_posix_put_lat"), "UCX posix put_lat (one-way)", color=ucx_c["posix"], ls="--")
    line(ax_l, peer_series("ucx_posix_get_lat"), "UCX posix get", color=ucx_c["posix"], ls="--", marker="s")
    line(ax_l, peer_series("ucx_tcp_put_lat"), "UCX tcp put_lat (one-way)", color=ucx_c["tcp"], ls="--")
    line(ax_l, peer_series("tcp_pingpong_", "_p50"), "limit: TCP ping-pong (one-way)", color="0.3", ls=":")
    line(ax_l, peer_series("shm_pingpong_8B_p50"), "limit: shm ping-pong 8 B (one-way)", color="0.3", ls="",
         marker="*")
    ax_l.set_title("latency (median)")
    ax_l.set_ylabel("time per operation")
    ax_l.yaxis.set_major_formatter(FuncFormatter(time_label))

    # Bandwidth (GB/s = 1e9 B/s).
    line(ax_b, rsm_series("loopback", "put", "bw", "implicit", "gbps"), "rsm loopback put", color=rsm_c["loopback"])
    line(ax_b, rsm_series("loopback", "get", "bw", "implicit", "gbps"), "rsm loopback get",
         color=rsm_c["loopback"], marker="s", alpha=0.6)
    line(ax_b, rsm_series("tcp0", "put", "bw", "explicit", "gbps"), "rsm tcp0 put (explicit)", color=rsm_c["tcp0"])
    line(ax_b, rsm_series("tcp0", "put", "bw", "implicit", "gbps"), "rsm tcp0 put (implicit)",
         color=rsm_c["tcp0"], marker="^", alpha=0.6)
    line(ax_b, rsm_series("tcp0", "get", "bw", "implicit", "gbps"), "rsm tcp0 get",
         color=rsm_c["tcp0"], marker="s", alpha=0.6)
    line(ax_b, peer_series("ucx_posix_put_bw"), "UCX posix put_bw", color=ucx_c["posix"], ls="--")
    line(ax_b, peer_series("ucx_tcp_put_bw"), "UCX tcp put_bw", color=ucx_c["tcp"], ls="--")
    line(ax_b, peer_series("memcpy_bw_"), "limit: memcpy", color="0.3", ls=":", marker="x")
    line(ax_b, peer_series("tcp_stream_bw_"), "limit: TCP stream (127.0.0.1)", color="0.3", ls=":")
    ax_b.set_title("bandwidth")
    ax_b.set_ylabel("GB/s (10⁹ B/s)")

    sizes = sorted({r["size"] for r in rsm if r["size"] > 0} | {p["size"] for p in peers})
    for ax in (ax_l, ax_b):
        ax.set_xscale("log", base=2)
        if sizes:
            ax.set_xticks(sizes)
        ax.set_yscale("log")
        ax.set_xlabel("message size")
        ax.xaxis.set_major_formatter(FuncFormatter(size_label))
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7.5, loc="best")

    host = doc.get("host", {})
    fig.suptitle(
        f"rsm vs UCX {doc.get('ucx_version', '?')} and limits, one run on {host.get('cpus', '?')} vCPUs "
        f"({host.get('cpu', '?')}, shared VM, load {'/'.join(host.get('loadavg', []))}; noisy), "
        f"{doc.get('date', '')}",
        fontsize=9.5,
    )
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)
    print(f"plot.py: wrote {sys.argv[2]}", file=sys.stderr)


if __name__ == "__main__":
    main()
