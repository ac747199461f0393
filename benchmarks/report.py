"""The benchmark's table: one line per row as it finishes, then Markdown, JSON and a plot.

A row's cells are rates (``GB/s``, ``GFLOP/s``, ``GOP/s``: work / median time) or latencies
(``us``, ``s``, ``ms``); ``vs anchor`` is tritium's rate over the anchor's (above 1: tritium is
faster), or, for latencies, the anchor is the goal's limit itself.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

__all__ = ["COLUMNS", "Table"]

#: (title, width) of the printed columns; the anchors' columns hold their rates.
COLUMNS = [
    ("workload", 40),
    ("size", 20),
    ("thr", 3),
    ("ok", 3),
    ("unit", 7),
    ("tritium", 8),
    ("numpy", 8),
    ("torch", 8),
    ("t.compile", 9),
    ("limit", 18),
    ("goal", 46),
    ("ratio", 6),
    ("met", 3),
]


def fmt(v: float | None) -> str:
    """A rate or latency in 3-4 significant digits; '-' when absent."""
    if v is None:
        return "-"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


class Table:
    """Collects rows, prints each as it comes, writes the files at the end."""

    def __init__(self, header: dict[str, Any]) -> None:
        self.header = header
        self.rows: list[dict[str, Any]] = []

    def print_header(self) -> None:
        """The run's context and the column titles."""
        for k, v in self.header.items():
            print(f"{k}: {v}")
        print(self._line([t for t, _ in COLUMNS]), flush=True)
        print(self._line(["-" * w for _, w in COLUMNS]), flush=True)

    @staticmethod
    def _line(cells: list[str]) -> str:
        return " ".join(str(c)[:w].ljust(w) for c, (_, w) in zip(cells, COLUMNS)).rstrip()

    def add(self, row: dict[str, Any]) -> None:
        """Record ``row`` (see :func:`cells` for its keys) and print it."""
        self.rows.append(row)
        print(self._line(self.cells(row)), flush=True)

    @staticmethod
    def cells(row: dict[str, Any]) -> list[str]:
        """The printed cells of one row."""
        r = row["rates"]
        limit = row.get("limit_name")
        lim = f"{fmt(r.get(limit))} {limit}" if limit else "-"
        return [
            row["name"],
            row["size"],
            str(row["threads"]),
            {True: "yes", False: "NO", None: "-"}[row["ok"]],
            row["unit"],
            fmt(r.get("tritium")),
            fmt(r.get("numpy")),
            fmt(r.get("torch")),
            fmt(r.get("torch.compile")),
            lim,
            row["goal"],
            fmt(row["ratio"]),
            {True: "yes", False: "NO", None: "-"}[row["met"]],
        ]

    def markdown(self) -> str:
        """The whole table as Markdown, with the header as a bullet list."""
        out = [f"- **{k}**: {v}" for k, v in self.header.items()]
        out += ["", "| " + " | ".join(t for t, _ in COLUMNS) + " |"]
        out.append("|" + "---|" * len(COLUMNS))
        for row in self.rows:
            out.append("| " + " | ".join(self.cells(row)) + " |")
        out += [
            "",
            "Rates are work / median time (GB/s: bytes read + written once; GFLOP/s: 2 per "
            "multiply-add); `ratio` is tritium over the goal's anchor (for a latency: the "
            "measured value, goal an upper bound). Every implementation of a row was timed "
            "interleaved with the others, in rounds.",
        ]
        notes = list(
            dict.fromkeys(
                f"- {r['name']} {r['size']}: {r['note']}" for r in self.rows if r.get("note")
            )
        )
        return "\n".join(out + (["", "Notes:", *notes] if notes else [])) + "\n"

    def write(self, directory: pathlib.Path, plot: bool = True) -> list[pathlib.Path]:
        """Write ``results.md``, ``results.json`` and (matplotlib permitting) ``results.png``."""
        directory.mkdir(parents=True, exist_ok=True)
        md, js = directory / "results.md", directory / "results.json"
        md.write_text(self.markdown())
        js.write_text(json.dumps({"header": self.header, "rows": self.rows}, indent=1) + "\n")
        written = [md, js]
        if plot:
            png = self._plot(directory / "results.png")
            if png is not None:
                written.append(png)
        return written

    def _plot(self, path: pathlib.Path) -> pathlib.Path | None:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            return None
        rows = [
            r
            for r in self.rows
            if r["ratio"] is not None and r["unit"] not in ("us", "s", "ms", "compiles")
        ]
        if not rows:
            return None
        fig, ax = plt.subplots(figsize=(9, 0.35 * len(rows) + 1.5))
        labels = [f"{r['name']} {r['size']} t{r['threads']}" for r in rows]
        ratios = [r["ratio"] for r in rows]
        goals = [r["goal_ratio"] for r in rows]
        ys = range(len(rows))
        ax.barh(list(ys), ratios, color=["tab:green" if r["met"] else "tab:red" for r in rows])
        ax.scatter(goals, list(ys), marker="|", s=200, color="black", label="goal")
        ax.set_yticks(list(ys), labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("tritium / anchor (rate)")
        ax.legend(loc="lower right")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path
