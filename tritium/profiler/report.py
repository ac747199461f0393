"""What a session's records turn into: a text table, a Chrome trace, a hatchet tree, roofline
rows and the per-line view of one kernel."""

from __future__ import annotations

import linecache
from collections import defaultdict
from typing import Any

from tritium.profiler.session import Launch, Session

__all__ = ["table", "chrome_trace", "hatchet", "roofline_rows", "roofline_table", "lines_view"]


def _fmt_table(header: list[str], rows: list[list[Any]]) -> str:
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    out = []
    for j, r in enumerate(cells):
        out.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))
            )
        )
        if j == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def _by_kernel(launches: list[Launch]) -> dict[str, list[Launch]]:
    groups: dict[str, list[Launch]] = defaultdict(list)
    for r in launches:
        groups[r.kernel].append(r)
    return groups


def table(session: Session, top: int = 20) -> str:
    """Top kernels by total time: calls, total and mean time, share, first-launch count."""
    groups = _by_kernel(session.launches)
    total_all = sum(r.duration_ns for r in session.launches) or 1
    rows = []
    for name, rs in sorted(groups.items(), key=lambda kv: -sum(r.duration_ns for r in kv[1])):
        total = sum(r.duration_ns for r in rs)
        rows.append(
            [
                name,
                len(rs),
                f"{total / 1e6:.3f}",
                f"{total / len(rs) / 1e3:.1f}",
                f"{100 * total / total_all:.1f}",
                max(r.threads for r in rs),
                sum(r.first for r in rs),
            ]
        )
    compile_ms = sum(c.duration_ns for c in session.compiles) / 1e6
    hits = sum(c.disk_cache_hit for c in session.compiles)
    header = ["kernel", "calls", "total ms", "mean us", "%", "threads", "first"]
    text = _fmt_table(header, rows[:top])
    return (
        f"{text}\n{len(session.launches)} launches; {len(session.compiles)} compiles "
        f"({hits} from the disk cache) took {compile_ms:.1f} ms"
    )


def chrome_trace(session: Session) -> dict[str, Any]:
    """The session as Chrome's Trace Event Format (JSON object form), for Perfetto or
    ``chrome://tracing``: complete events (``ph: "X"``, microseconds) for launches, compiles
    and scopes, one row per Python thread."""
    pid = 1
    t0 = session.start_ns
    events: list[dict[str, Any]] = [
        {"name": "process_name", "ph": "M", "pid": pid, "tid": 0, "args": {"name": "tritium"}}
    ]
    tids: dict[int, int] = {}

    def tid(ident: int) -> int:
        return tids.setdefault(ident, len(tids) + 1)

    for r in session.launches:
        args = {
            "grid": list(r.grid),
            "specialization": r.specialization,
            "threads": r.threads,
            "first_launch": r.first,
            "scopes": list(r.scopes),
        }
        if r.bytes is not None:
            args["bytes"] = r.bytes
        if r.flops is not None:
            args["flops"] = r.flops
        events.append(
            {
                "name": r.kernel,
                "cat": "interpreted" if r.mode == "interpreted" else "kernel",
                "ph": "X",
                "ts": (r.start_ns - t0) / 1e3,
                "dur": r.duration_ns / 1e3,
                "pid": pid,
                "tid": tid(r.tid),
                "args": args,
            }
        )
    for c in session.compiles:
        events.append(
            {
                "name": f"compile {c.kernel}",
                "cat": "compile",
                "ph": "X",
                "ts": (c.start_ns - t0) / 1e3,
                "dur": c.duration_ns / 1e3,
                "pid": pid,
                "tid": tid(c.tid),
                "args": {"specialization": c.specialization, "disk_cache_hit": c.disk_cache_hit},
            }
        )
    for s in session.scopes:
        events.append(
            {
                "name": s.name,
                "cat": "scope",
                "ph": "X",
                "ts": (s.start_ns - t0) / 1e3,
                "dur": s.duration_ns / 1e3,
                "pid": pid,
                "tid": tid(s.tid),
                "args": {k: v for k, v in s.metrics.items() if isinstance(v, (int, float, str))},
            }
        )
    for ident, n in tids.items():
        events.append(
            {
                "name": "thread_name",
                "ph": "M",
                "pid": pid,
                "tid": n,
                "args": {"name": f"python thread {ident}"},
            }
        )
    return {
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {"tool": "tritium.profiler"},
    }


def hatchet(session: Session) -> list[dict[str, Any]]:
    """A Proton-style call tree (hatchet JSON): scopes, then kernels, each with its ``time
    (ns)``, ``count``, ``flops`` and ``bytes``."""

    def node(name: str) -> dict[str, Any]:
        return {
            "frame": {"name": name, "type": "function"},
            "metrics": {"time (ns)": 0, "count": 0, "flops": 0, "bytes": 0},
            "children": [],
            "_index": {},
        }

    def walk(names: tuple[str, ...]) -> list[dict[str, Any]]:
        """The nodes from the root down the path ``names``, made where missing."""
        path = [root]
        for name in names:
            cur = path[-1]
            child = cur["_index"].get(name)
            if child is None:
                child = cur["_index"][name] = node(name)
                cur["children"].append(child)
            path.append(child)
        return path

    root = node("ROOT")
    for r in session.launches:
        for n in walk((*r.scopes, r.kernel)):
            m = n["metrics"]
            m["time (ns)"] += r.duration_ns
            m["count"] += 1
            m["flops"] += r.flops or 0
            m["bytes"] += r.bytes or 0
    for s in session.scopes:  # user metrics given to scope(name, metrics={...})
        cur = walk((*s.parents, s.name))[-1]
        for k, v in s.metrics.items():
            if isinstance(v, (int, float)):
                cur["metrics"][k] = cur["metrics"].get(k, 0) + v

    def strip(n: dict[str, Any]) -> dict[str, Any]:
        n.pop("_index", None)
        for c in n["children"]:
            strip(c)
        return n

    return [strip(root)]


def roofline_rows(session: Session, limits: dict[str, Any]) -> list[dict[str, Any]]:
    """Per kernel: mean time, bytes and FLOPs per launch, arithmetic intensity, achieved
    GB/s and GFLOP/s, the roof at that intensity (``min(peak, intensity * bandwidth)``), and
    the share of the roofline time reached, ``max(memory time, flops / peak) / measured``,
    where bytes loaded inside loops count at the cache's bandwidth (they are reused)."""
    bw, peak = float(limits["bandwidth_Bps"]), float(limits["peak_flops"])
    cache_bw = float(limits.get("cache_bandwidth_Bps", bw))
    rows = []
    for name, rs in _by_kernel(session.launches).items():
        counted = [r for r in rs if r.bytes is not None]
        if not counted:
            continue
        t = sum(r.duration_ns for r in counted) / 1e9
        b = sum(r.bytes or 0 for r in counted)
        f = sum(r.flops or 0 for r in counted)
        # Tiles loaded inside loops are mostly reused from the cache (see lines_view).
        lb = sum(sum(v[3] for v in (r.lines or {}).values()) for r in counted)
        intensity = f / b if b else float("inf")
        roof_flops = min(peak, intensity * bw) if b else peak
        mem_time = (b - lb) / bw + lb / cache_bw
        roof_time = max(mem_time, f / peak)
        rows.append(
            {
                "kernel": name,
                "calls": len(counted),
                "mean_us": t / len(counted) * 1e6,
                "bytes": b // len(counted),
                "flops": f // len(counted),
                "intensity": intensity,
                "GBps": b / t / 1e9 if t else 0.0,
                "GFLOPps": f / t / 1e9 if t else 0.0,
                "roof_GFLOPps": roof_flops / 1e9,
                "bound": "memory" if mem_time >= f / peak else "compute",
                "pct_of_roof": 100.0 * roof_time / t if t else 0.0,
                "exact": all(r.counts_exact for r in counted),
                "source": counted[0].counts_source,
            }
        )
    rows.sort(key=lambda r: -r["mean_us"] * r["calls"])
    return rows


def roofline_table(session: Session, limits: dict[str, Any]) -> str:
    """:func:`roofline_rows` as text, with the machine's limits on top."""
    rows = roofline_rows(session, limits)
    head = (
        f"machine: {limits['bandwidth_Bps'] / 1e9:.1f} GB/s (STREAM triad), "
        f"{limits.get('cache_bandwidth_Bps', 0) / 1e9:.1f} GB/s (cache reads), "
        f"{limits['peak_flops'] / 1e9:.1f} GFLOP/s (fp32 FMA), {limits['threads']} threads"
    )
    body = _fmt_table(
        [
            "kernel",
            "calls",
            "mean us",
            "MB/call",
            "MFLOP/call",
            "FLOP/B",
            "GB/s",
            "GFLOP/s",
            "bound",
            "% of roof",
        ],
        [
            [
                r["kernel"],
                r["calls"],
                f"{r['mean_us']:.1f}",
                f"{r['bytes'] / 1e6:.3f}" + ("" if r["exact"] else "~"),
                f"{r['flops'] / 1e6:.3f}" + ("" if r["exact"] else "~"),
                f"{r['intensity']:.2f}",
                f"{r['GBps']:.1f}",
                f"{r['GFLOPps']:.1f}",
                r["bound"],
                f"{r['pct_of_roof']:.0f}",
            ]
            for r in rows
        ],
    )
    return f"{head}\n{body}"


def lines_view(session: Session, kernel: str, limits: dict[str, Any]) -> str:
    """The kernel's source with, per line, the bytes and FLOPs its ops account for (counted
    from the IR over all recorded launches) and an estimated time: each line's roofline cost
    ``max(bytes / bandwidth, cost / peak)`` (cost: FLOPs, with exp/log/sin/... weighing 10;
    tiles loaded in a loop at the cache's bandwidth, since programs and iterations reuse
    them), scaled so the lines add up to the measured time. A model, not a measurement: for measured
    per-line times run the kernel through :func:`tritium.profiler.interpreted_lines`.
    """
    rs = [r for r in session.launches if r.kernel == kernel and r.lines]
    if not rs:
        return f"no launch of {kernel!r} with IR counts in this session"
    per_line: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    for r in rs:
        for line, counts in (r.lines or {}).items():
            for i, v in enumerate(counts):
                per_line[line][i] += v
    bw, peak = float(limits["bandwidth_Bps"]), float(limits["peak_flops"])
    cache_bw = float(limits.get("cache_bandwidth_Bps", bw))
    cost = {
        ln: max((b - lb) / bw + lb / cache_bw, c / peak) for ln, (b, _, c, lb) in per_line.items()
    }
    total_cost = sum(cost.values()) or 1.0
    measured = sum(r.duration_ns for r in rs) / 1e6
    path = rs[0].source_file
    lines = sorted(per_line)
    first, last = min(lines), max(lines)
    # Show from the def line (the first counted op's function) to the last counted line.
    start = first
    while start > 1 and not linecache.getline(path, start).lstrip().startswith("def "):
        start -= 1
    out = [
        f"{kernel}: {len(rs)} launches, {measured:.3f} ms measured ({path})",
        f"{'line':>5} {'est ms':>8} {'%':>5} {'MB':>9} {'MFLOP':>9}  source",
    ]
    for ln in range(start, last + 1):
        src = linecache.getline(path, ln).rstrip()
        if ln in per_line:
            b, f, _, _ = per_line[ln]
            share = cost[ln] / total_cost
            out.append(
                f"{ln:>5} {measured * share:>8.3f} {100 * share:>5.1f} {b / 1e6:>9.3f} "
                f"{f / 1e6:>9.3f}  {src}"
            )
        else:
            out.append(f"{ln:>5} {'':>8} {'':>5} {'':>9} {'':>9}  {src}")
    return "\n".join(out)
