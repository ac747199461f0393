"""Where the flash-attention forward kernel's time goes, loop by loop of its machine code.

``python benchmarks/attn_profile.py [--dtype bf16] [--causal] [--seconds 40]`` runs tutorial 06's
kernel (``tutorials/attention.py``, B=1 H=1 S=1024 D=64, 64 x 64 blocks, one thread) under
tritium's CPU-time sampler (:mod:`tritium.profiler.sampling`: a timer signal records the
interrupted instruction), disassembles the kernel's object with ``objdump`` and charges each
sample to the innermost loop around its instruction (a loop: a backward jump and its target).
It prints the loops by share, each with its most frequent instructions, which tell the two dot
microkernels (8 ``vfmadd231ps`` and 4 broadcasts per step), the exp2 polynomial, the packing of
``k^T`` (shuffles) and of ``v``, the row maxima, the accumulators' set-up and stores apart.

Why loops and not source lines (``sampled_lines``): a dot's line holds both its packing and
its microkernel, and the samples of a fused softmax pass land on whichever line the debug
table names. Shares are of samples in the kernel's code; a share's standard error is about
``sqrt(p (1 - p) / n)``. Linux x86-64 with binutils' ``objdump`` only.
"""

from __future__ import annotations

import argparse
import bisect
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TRITIUM_NUM_THREADS", "1")

import numpy as np  # noqa: E402

Instr = tuple[int, str]  # (offset in the object's text, the instruction)


def _disassemble(binary: bytes) -> list[Instr]:
    with tempfile.NamedTemporaryFile(suffix=".o") as f:
        f.write(binary)
        f.flush()
        cmd = ["objdump", "-d", "--no-show-raw-insn", "-M", "att", f.name]
        text = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    out = []
    for line in text.splitlines():
        m = re.match(r"\s*([0-9a-f]+):\t(.*)", line)
        if m:
            out.append((int(m.group(1), 16), m.group(2).strip()))
    return out


def _loops(ins: list[Instr]) -> list[tuple[int, int]]:
    """(first, last) instruction indices of each loop: a jump back to an earlier instruction."""
    index = {a: i for i, (a, _) in enumerate(ins)}
    loops = []
    for i, (a, txt) in enumerate(ins):
        m = re.match(r"j\w+\s+([0-9a-f]+)", txt)
        if m and int(m.group(1), 16) <= a and int(m.group(1), 16) in index:
            loops.append((index[int(m.group(1), 16)], i))
    return loops


def profile(dtype: str, causal: bool, seconds: float) -> str:
    """The loop table of one configuration (see the module docstring)."""
    import ml_dtypes

    from tritium.backends.cpu.line_info import LINES_MODE
    from tritium.backends.cpu.target import load_object
    from tritium.profiler import sampling
    from tritium.profiler.dwarf import read_line_table
    from tutorials import attention

    S, D, H = 1024, 64, 1
    rng = np.random.default_rng(8)
    q, k, v = (rng.standard_normal((1, H, S, D), dtype=np.float32) for _ in range(3))
    if dtype == "bf16":
        q, k, v = (t.astype(ml_dtypes.bfloat16) for t in (q, k, v))
    out = np.empty_like(q)
    strides = [t.strides[d] // t.itemsize for t in (q, k, v, out) for d in range(4)]
    kernel = attention._attn_fwd.fn
    grid = (S // 64, H, 1)
    args = (q, k, v, out, D**-0.5, *strides, H, H, S)
    kw = dict(HEAD_DIM=D, STAGE=3 if causal else 1, BLOCK_M=64, BLOCK_N=64)
    kw["instrumentation_mode"] = LINES_MODE  # the same code, plus a symbol table to find it
    compiled = kernel.warmup(*args, grid=grid, **kw)
    entry = compiled.metadata["entry"]
    sym = read_line_table(compiled.binary).symbol(entry)
    base = load_object(compiled.binary, entry) - sym.value
    kernel[grid](*args, **kw)
    launches = 0
    with sampling._lock, sampling._Sampler(0.0005):
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            kernel[grid](*args, **kw)
            launches += 1
        pcs = sampling._Sampler.samples()
    ins = _disassemble(compiled.binary)
    addrs = [a for a, _ in ins]
    per: Counter[int] = Counter()
    for pc in pcs:
        i = bisect.bisect_right(addrs, pc - base) - 1
        if 0 <= i and pc - base <= addrs[-1] + 16:
            per[i] += 1
    owner: list[tuple[int, int] | None] = [None] * len(ins)
    for lo, hi in sorted(_loops(ins), key=lambda x: x[0] - x[1]):  # outermost first
        for i in range(lo, hi + 1):
            owner[i] = (lo, hi)
    by_loop: Counter[tuple[int, int] | None] = Counter()
    for i, n in per.items():
        by_loop[owner[i]] += n
    total = max(sum(per.values()), 1)
    lines = [
        f"{dtype} {'causal' if causal else 'full'}: {total} samples in the kernel's code over "
        f"{launches} launches ({len(pcs) - total} outside it); load {os.getloadavg()[0]:.1f}"
    ]
    for key, n in by_loop.most_common(14):
        if key is None:
            lines.append(f"{100 * n / total:5.1f}%  (outside any loop)")
            continue
        lo, hi = key
        ops = Counter(txt.split()[0] for _, txt in ins[lo : hi + 1])
        top = ", ".join(f"{op} x{c}" for op, c in ops.most_common(6))
        lines.append(f"{100 * n / total:5.1f}%  {hi - lo + 1:4d} instructions: {top}")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--causal", action="store_true")
    p.add_argument("--seconds", type=float, default=40.0)
    a = p.parse_args()
    print(profile(a.dtype, a.causal, a.seconds))


if __name__ == "__main__":
    main()
