"""Which registered passes the differential harnesses run one by one (derived, never listed).

Every registered pass is checked on its own, so a new pass in ``tritium/passes`` is covered as
soon as it is imported in ``tritium/passes/__init__.py``. Two are left out on purpose:
``inline`` (the harnesses inline calls before the baseline run, so it has nothing left to do)
and ``bounds-check`` (it adds launch arguments; tests/passes/test_bounds_check.py covers it).
"""

from __future__ import annotations

from tritium.passes import PASSES

NOT_ALONE = frozenset({"inline", "bounds-check"})


def differential_passes() -> list[str]:
    """Names of the registered passes a differential harness runs on their own."""
    return sorted(set(PASSES) - NOT_ALONE)
