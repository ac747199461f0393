"""tritium against NumPy and PyTorch on the tutorial kernels: a table of medians and ratios.

    python benchmarks/run.py [--quick] [--rep MS]

The NumPy anchor is whatever BLAS NumPy loaded, reported through threadpoolctl (library,
kernel architecture, threads). OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are removed from the
environment before NumPy loads, so OpenBLAS picks its kernel for this CPU rather than one forced
by the caller's environment.
"""

from __future__ import annotations

import os
import sys

# Must happen before NumPy (and its BLAS) is imported.
_UNSET = [v for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if os.environ.pop(v, None)]

import argparse  # noqa: E402
import pathlib  # noqa: E402
import statistics  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from tritium import knobs  # noqa: E402
from tritium.testing import do_bench, format_table  # noqa: E402
from tutorials.demo import make_cases, torch  # noqa: E402


def blas_info() -> str:
    """The BLAS NumPy uses: library, kernel (architecture) and thread count."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    import numpy  # noqa: F401  (loads the BLAS so threadpoolctl can see it)

    parts = [
        f"{p.get('internal_api')} {p.get('version')} kernel={p.get('architecture')} "
        f"threads={p.get('num_threads')}"
        for p in threadpool_info()
        if p.get("user_api") == "blas"
    ]
    return "; ".join(parts) or "no BLAS found"


def main(argv: list[str] | None = None) -> int:
    """Print the comparison table; exit 1 if a tritium result is wrong."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--rep", type=float, default=200.0, help="ms of timed runs per entry")
    parser.add_argument("--repeats", type=int, default=3, help="medians of this many do_bench")
    args = parser.parse_args(argv)

    print(
        f"tritium threads: {knobs.num_threads()}; load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} cores (timings need an otherwise idle machine)"
    )
    print(f"numpy BLAS: {blas_info()}")
    if _UNSET:
        print(f"(unset for the anchor: {', '.join(_UNSET)})")
    print(f"torch: {torch.__version__ + f' threads={torch.get_num_threads()}' if torch else '-'}")

    def median_ms(fn) -> float:
        return statistics.median(
            do_bench(fn, warmup=args.rep / 4, rep=args.rep, return_mode="median")
            for _ in range(args.repeats)
        )

    header = [
        "kernel",
        "size",
        "ok",
        "tritium ms",
        "numpy ms",
        "torch ms",
        "numpy/tritium",
        "torch/tritium",
    ]
    rows, failed = [], False
    for case in make_cases(args.quick):
        case.run_tritium()
        ok = case.check() <= case.tolerance
        failed |= not ok
        t = median_ms(case.run_tritium)
        n = median_ms(case.run_numpy)
        p = median_ms(case.run_torch) if case.run_torch else None
        rows.append(
            [
                case.name,
                case.size,
                "yes" if ok else "NO",
                f"{t:.3f}",
                f"{n:.3f}",
                "-" if p is None else f"{p:.3f}",
                f"{n / t:.2f}",
                "-" if p is None else f"{p / t:.2f}",
            ]
        )
    print(format_table(header, rows))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
