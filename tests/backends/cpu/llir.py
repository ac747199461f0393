"""Reading a compiled kernel's LLVM IR text in structural tests."""

from __future__ import annotations

import re

#: every ``llvm.prefetch`` call, capturing the address operand
ANY_PREFETCH = re.compile(r"@llvm\.prefetch\.p0\(ptr (%[\w.]+)")
#: read prefetches into L2 only (``prefetcht1``): locality 2, data cache
L2_PREFETCH = re.compile(r"@llvm\.prefetch\.p0\(ptr (%[\w.]+), i32 0, i32 2, i32 1\)")
_CONSTANT_STEP = re.compile(r"(?:add \w* ?\w* ?i64 %[\w.]+,|getelementptr .*, i64) (-?\d+)$")


def prefetch_offsets(llir: str, prefetches: re.Pattern[str] = ANY_PREFETCH) -> set[int]:
    """The constant byte offsets added on the way to the addresses of ``prefetches`` (an
    ``add i64 %address, <offset>`` or a byte ``getelementptr`` by a constant), found by walking
    each prefetched address's definitions back through ``inttoptr``, ``add`` and
    ``getelementptr``."""
    defs = dict(re.findall(r"^\s*(%[\w.]+) = (.*)$", llir, re.M))
    found = set()
    for name in prefetches.findall(llir):
        todo = [name]
        while todo:
            rhs = defs.get(todo.pop(), "")
            m = _CONSTANT_STEP.match(rhs)
            if m:
                found.add(int(m.group(1)))
            elif rhs.startswith(("inttoptr", "add", "getelementptr")):
                todo += re.findall(r"%[\w.]+", rhs)
    return found
