"""``perf_report``/``Benchmark``/``Mark``: benchmark tables, plots and CSV files as Triton's.

A :class:`Benchmark` describes one table: each value of ``x_vals`` is a row, each value of
``line_arg`` in ``line_vals`` a column (a line of the plot). ``perf_report(benchmarks)(fn)``
returns a :class:`Mark` whose ``run(show_plots, print_data, save_path, return_df)`` calls
``fn(**x_args, line_arg=value, **args)`` for every cell. ``fn`` returns a number, or a
``(mean, min, max)`` triple whose min and max shade a band around the line in the plot.

Triton's behaviours are kept: column titles ``"<line name> (<ylabel>)"``, a plot per table
named ``plot_name`` (none when it is empty), ``save_path`` receiving ``<plot_name>.png``,
``<plot_name>.csv`` (``save_precision`` decimals) and ``results.html``, ``diff_col=True``
adding the difference of two columns, other keyword arguments of ``run`` passed on to
``fn``. matplotlib and pandas are imported only when a plot or a DataFrame is asked for, and
stay optional: without them the table is still printed and the CSV still written (and
``return_df=True`` says that it needs pandas).
"""

from __future__ import annotations

import csv
import math
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["Benchmark", "Mark", "perf_report", "format_table"]


class Benchmark:
    """The description of one benchmark table and its plot, as ``triton.testing.Benchmark``.

    ``x_names`` are the arguments on the x axis; ``x_vals`` their values (a scalar gives every
    x name that value; a tuple gives one value per name). ``line_arg`` is the argument whose
    values ``line_vals`` make the lines, titled ``line_names``. ``args`` are fixed keyword
    arguments. ``xlabel``/``ylabel`` label the axes, ``x_log``/``y_log`` make them
    logarithmic, ``styles`` is a list of ``(color, linestyle)`` per line.
    """

    def __init__(
        self,
        x_names: list[str],
        x_vals: list[Any],
        line_arg: str,
        line_vals: list[Any],
        line_names: list[str],
        plot_name: str,
        args: dict[str, Any] | None = None,
        xlabel: str = "",
        ylabel: str = "",
        x_log: bool = False,
        y_log: bool = False,
        styles: Sequence[tuple[str, str]] | None = None,
        color: Any = None,
    ) -> None:
        if len(line_names) != len(line_vals):
            raise ValueError(
                f"Benchmark {plot_name!r}: {len(line_vals)} line_vals but "
                f"{len(line_names)} line_names"
            )
        self.x_names, self.x_vals = list(x_names), list(x_vals)
        self.line_arg, self.line_vals, self.line_names = line_arg, line_vals, line_names
        self.plot_name = plot_name
        self.args = args or {}
        self.xlabel, self.ylabel = xlabel, ylabel
        self.x_log, self.y_log, self.styles = x_log, y_log, styles
        self.color = color  # accepted for older callers; ``styles`` sets the colours


class _Table:
    """The results of one benchmark: x values and (mean, min, max) per line, row by row."""

    def __init__(self, bench: Benchmark) -> None:
        self.bench = bench
        self.x_names = list(bench.x_names)
        self.mean_labels = [f"{n} ({bench.ylabel})" for n in bench.line_names]
        self.xs: list[list[Any]] = []
        self.means: list[list[Any]] = []
        self.mins: list[list[Any]] = []
        self.maxs: list[list[Any]] = []

    def rows(self, diff_col: bool) -> list[list[Any]]:
        """x values then means; ``Diff`` (second minus first) where Triton adds it."""
        rows = [x + m for x, m in zip(self.xs, self.means)]
        if diff_col and len(self.x_names) + len(self.mean_labels) == 2:
            rows = [r + [_sub(r[1], r[0])] for r in rows]
        return rows

    def columns(self, diff_col: bool) -> list[str]:
        cols = self.x_names + self.mean_labels
        return cols + ["Diff"] if diff_col and len(cols) == 2 else cols


def _sub(a: Any, b: Any) -> Any:
    try:
        return a - b
    except TypeError:
        return None


def _split_result(ret: Any, where: str) -> tuple[Any, Any, Any]:
    """(mean, min, max) of what a benchmark function returned."""
    if isinstance(ret, (tuple, list)):
        if len(ret) != 3:
            raise ValueError(
                f"{where}: a benchmark function returns a number or (mean, min, max), "
                f"got {len(ret)} values"
            )
        return ret[0], ret[1], ret[2]
    return ret, None, None


def format_table(header: list[str], rows: list[list[Any]]) -> str:
    """A plain-text table with right-aligned columns (floats with 4 significant digits)."""

    def fmt(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    cells = [list(map(str, header))] + [[fmt(v) for v in r] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells)


def _has_band(values: list[Any]) -> bool:
    return all(v is not None and not (isinstance(v, float) and math.isnan(v)) for v in values)


def _draw(table: _Table, ax: Any) -> None:
    """Plot the lines of ``table`` (first x name on the x axis) on matplotlib axes ``ax``."""
    bench = table.bench
    x = [row[0] for row in table.xs]
    for i, label in enumerate(table.mean_labels):
        col = bench.styles[i][0] if bench.styles else None
        sty = bench.styles[i][1] if bench.styles else None
        ys = [float(r[i]) if r[i] is not None else math.nan for r in table.means]
        (line,) = ax.plot(x, ys, label=label, color=col, ls=sty)
        lo, hi = [r[i] for r in table.mins], [r[i] for r in table.maxs]
        if _has_band(lo) and _has_band(hi):
            ax.fill_between(
                x,
                [float(v) for v in lo],
                [float(v) for v in hi],
                alpha=0.15,
                color=line.get_color(),
            )
    ax.legend()
    ax.set_xlabel(bench.xlabel or table.x_names[0])
    ax.set_ylabel(bench.ylabel)
    ax.set_xscale("log" if bench.x_log else "linear")
    ax.set_yscale("log" if bench.y_log else "linear")


def _plot(table: _Table, show: bool, save_path: str) -> None:
    """Draw the table's plot; show it (pyplot) and/or save ``<plot_name>.png``."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        warnings.warn(
            f"perf_report: matplotlib is not installed, so no plot for {table.bench.plot_name!r} "
            "(pip install matplotlib)",
            stacklevel=4,
        )
        return
    png = os.path.join(save_path, f"{table.bench.plot_name}.png") if save_path else ""
    if show:
        import matplotlib.pyplot as plt

        fig = plt.figure()
        _draw(table, fig.add_subplot())
        if png:
            fig.savefig(png)
        plt.show()
        return
    # Saving only: a bare Figure needs no GUI backend and leaves pyplot's state alone.
    from matplotlib.figure import Figure

    fig = Figure()
    _draw(table, fig.add_subplot())
    fig.savefig(png)


def _write_csv(table: _Table, path: str, diff_col: bool, precision: int) -> None:
    """``<path>``: the header and the rows, floats with ``precision`` decimals (as pandas'
    ``to_csv(float_format=...)`` writes them), missing values as empty cells."""

    def cell(v: Any) -> Any:
        if v is None:
            return ""
        if isinstance(v, float):
            return "" if math.isnan(v) else f"{v:.{precision}f}"
        return v

    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(table.columns(diff_col))
        w.writerows([[cell(v) for v in r] for r in table.rows(diff_col)])


class Mark:
    """A benchmark function with its tables: ``run(...)`` measures, prints, plots, saves."""

    def __init__(self, fn: Callable[..., Any], benchmarks: Benchmark | list[Benchmark]) -> None:
        self.fn = fn
        self.benchmarks = benchmarks

    def _measure(self, bench: Benchmark, kwargs: dict[str, Any]) -> _Table:
        table = _Table(bench)
        names = table.x_names
        for x in bench.x_vals:
            xs = list(x) if isinstance(x, (list, tuple)) else [x] * len(names)
            if len(xs) != len(names):
                raise ValueError(
                    f"Benchmark {bench.plot_name!r}: expected {len(names)} x values "
                    f"({', '.join(names)}), got {x!r}"
                )
            x_args = dict(zip(names, xs))
            row_mean, row_min, row_max = [], [], []
            for y in bench.line_vals:
                ret = self.fn(**x_args, **{bench.line_arg: y}, **bench.args, **kwargs)
                m, lo, hi = _split_result(ret, f"benchmark {bench.plot_name!r} at {x_args}")
                row_mean.append(m)
                row_min.append(lo)
                row_max.append(hi)
            table.xs.append(xs)
            table.means.append(row_mean)
            table.mins.append(row_min)
            table.maxs.append(row_max)
        return table

    def _run(
        self,
        bench: Benchmark,
        save_path: str,
        show_plots: bool,
        print_data: bool,
        diff_col: bool = False,
        save_precision: int = 6,
        want_df: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Measure one table, then plot, print and save it; its DataFrame when ``want_df``."""
        table = self._measure(bench, kwargs)
        if bench.plot_name and (show_plots or save_path):
            _plot(table, show_plots, save_path)
        df = _dataframe(table, diff_col) if want_df else None
        if print_data:
            print(bench.plot_name + ":")
            if df is not None:
                print(df.to_string())
            else:
                print(format_table(table.columns(diff_col), table.rows(diff_col)))
            sys.stdout.flush()
        if save_path:
            path = os.path.join(save_path, f"{bench.plot_name}.csv")
            if df is not None:
                df.to_csv(path, float_format=f"%.{save_precision}f", index=False)
            else:
                _write_csv(table, path, diff_col, save_precision)
        return df

    def run(
        self,
        show_plots: bool = False,
        print_data: bool = False,
        save_path: str = "",
        return_df: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Run every table of this mark, as Triton's ``Mark.run``.

        ``print_data`` prints each table; ``show_plots`` shows its plot (matplotlib);
        ``save_path`` (a directory, created if needed) receives ``<plot_name>.png`` and
        ``<plot_name>.csv`` per table and a ``results.html`` showing the plots; ``return_df``
        returns the pandas DataFrame (a list of them for a list of benchmarks).
        ``diff_col=True`` and ``save_precision=6`` are options of the tables; any other
        keyword argument is passed on to the benchmark function.
        """
        single = isinstance(self.benchmarks, Benchmark)
        benches = [self.benchmarks] if single else list(self.benchmarks)
        if return_df:
            _import_pandas()  # fail before measuring anything
        if save_path:
            os.makedirs(save_path, exist_ok=True)
        dfs: list[Any] = []
        try:
            for bench in benches:
                dfs.append(
                    self._run(bench, save_path, show_plots, print_data, want_df=return_df, **kwargs)
                )
        finally:
            if save_path:
                with open(os.path.join(save_path, "results.html"), "w") as html:
                    html.write("<html><body>\n")
                    for bench in benches[: len(dfs)]:
                        html.write(f'<image src="{bench.plot_name}.png"/>\n')
                    html.write("</body></html>\n")
        if return_df:
            return dfs[0] if single else dfs
        return None


def _import_pandas() -> Any:
    try:
        import pandas
    except ImportError:
        raise ImportError(
            "perf_report: return_df=True returns a pandas DataFrame, and pandas is not "
            "installed (pip install pandas)"
        ) from None
    return pandas


def _dataframe(table: _Table, diff_col: bool) -> Any:
    pd = _import_pandas()
    df = pd.DataFrame(table.rows(diff_col), columns=table.columns(diff_col))
    # Missing results (None) become NaN in numeric columns, as Triton's frames hold them.
    return df.infer_objects()


def perf_report(benchmarks: Benchmark | list[Benchmark]) -> Callable[[Callable[..., Any]], Mark]:
    """Decorate a benchmark function ``fn(**x_args, <line_arg>=..., **args)`` into a
    :class:`Mark`; ``benchmarks`` is one :class:`Benchmark` or a list of them."""
    return lambda fn: Mark(fn, benchmarks)
