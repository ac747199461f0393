"""What tuning tells the user: Triton's ``TRITON_PRINT_AUTOTUNING`` lines and a progress line.

- With ``TRITON_PRINT_AUTOTUNING=1``, each benchmarked config prints
  ``Autotuning kernel <name> with config <config>`` and each tuned kernel Triton's summary
  (name, key, time taken, best config), on stdout as Triton does. tritium adds one line when
  the two fastest configs time within the measured noise (their 20%-80% ranges overlap): the
  choice between them is a coin toss, and pinning one (see ``docs/autotuning.md``) makes it
  repeatable.
- Tuning that takes longer than a second shows progress on stderr: a ``tqdm`` bar when tqdm is
  installed, else a plain line rewritten in place (``TRITIUM_AUTOTUNE_PROGRESS=0`` hides it).
"""

from __future__ import annotations

import sys
import time
from typing import Any

from tritium import knobs

#: Seconds of tuning after which progress is shown.
PROGRESS_AFTER_S = 1.0


def _now() -> float:
    """The clock progress is measured with (tests replace it)."""
    return time.perf_counter()


def _quantiles(timing: Any) -> tuple[float, float, float]:
    """(median, p20, p80) of what a benchmarker returned (a list of quantiles, or one time)."""
    if isinstance(timing, (list, tuple)):
        if len(timing) >= 3:
            return float(timing[0]), float(timing[1]), float(timing[2])
        if timing:
            return (float(timing[0]),) * 3
    return (float(timing),) * 3


def within_noise(timings: dict[Any, Any]) -> tuple[Any, Any] | None:
    """The two fastest configs when their 20%-80% time ranges overlap, else None."""
    ranked = sorted(timings, key=lambda c: _quantiles(timings[c])[0])
    if len(ranked) < 2:
        return None
    best, second = ranked[0], ranked[1]
    b, s = _quantiles(timings[best]), _quantiles(timings[second])
    if s[0] == float("inf"):
        return None
    return (best, second) if s[1] <= b[2] else None


def print_tuned(name: str, key: Any, bench_time: float, best: Any, timings: dict[Any, Any]) -> None:
    """Triton's summary of one tuning, then tritium's noise note when it applies."""
    print(
        f"Triton autotuning for function {name},\nwith key as {key},\n"
        f"finished after {bench_time:.2f}s,\nbest config selected: {best};"
    )
    close = within_noise(timings)
    if close is not None:
        a, b = (_quantiles(timings[c])[0] for c in close)
        print(
            f"note: the two fastest configs of {name} time within measured noise "
            f"({a:.4g} ms and {b:.4g} ms, 20%-80% ranges overlap): [{close[0]}] and "
            f"[{close[1]}]; pin one to make the choice repeatable"
        )


class Progress:
    """Progress of one tuning over ``total`` configs, shown once it has taken over a second."""

    def __init__(self, name: str, total: int) -> None:
        self.name, self.total = name, total
        self.done = 0
        self.start = _now()
        self.enabled = knobs.autotune_progress()
        self._bar: Any = None
        self._plain = False

    def step(self) -> None:
        """One more config benchmarked."""
        self.done += 1
        if not self.enabled:
            return
        elapsed = _now() - self.start
        if self._bar is None and not self._plain:
            if elapsed < PROGRESS_AFTER_S:
                return
            try:
                from tqdm import tqdm
            except ImportError:
                self._plain = True
            else:
                self._bar = tqdm(
                    total=self.total,
                    initial=self.done,
                    desc=f"autotuning {self.name}",
                    unit="config",
                    file=sys.stderr,
                    leave=False,
                )
                return
        if self._bar is not None:
            self._bar.update(1)
        else:
            sys.stderr.write(
                f"\rautotuning {self.name}: {self.done}/{self.total} configs, {elapsed:.1f} s"
            )
            sys.stderr.flush()

    def close(self) -> None:
        """End the line (or the bar) if one was shown."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._plain:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._plain = False
