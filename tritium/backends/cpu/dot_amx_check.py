"""``dot_amx``'s self-test: one block's tile program per instruction, run on the hardware
(and emulated, to compare) once per process before it uses AMX, and its pass rule.

bf16 passes within a tight bound of float64 on the same bf16 inputs, int8 exact and equal to
the emulation; bit-equality of bf16 with the emulation (the SDM's order) is reported, not
required: the SDM's pseudocode need not be the silicon's order.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import llvmlite.ir as ll

from tritium.backends.cpu import dot_amx as amx
from tritium.backends.cpu import llvm_utils as lu

__all__ = ["BOUND", "Report", "bf16_error", "self_test"]


_programs = itertools.count()
#: bf16's pass rule: |C - C_ref| <= BOUND * (K + 1) * (|C0| + sum |a||b|) per element, C_ref
#: in float64 from the same bf16 inputs. Any fp32 summation order (or a wider accumulator)
#: stays within (K + 1) * 2^-24 of that sum: 16 times inside the bound; a lost, repeated or
#: misplaced product moves C by about one product, hundreds of times the bound
BOUND = 2.0**-20


@dataclass(frozen=True)
class Report:
    """What :func:`self_test` found: ``bf16_error``, bf16's worst error over its bound (the
    pass rule: at most 1); ``bf16_bits``: bf16 equal bit for bit to the emulation (the SDM's
    order; reported, not required: the SDM's pseudocode need not be the silicon's order);
    ``int8_exact``: int8 equal to the exact sums (which the ``vpdpbusd`` path computes) and
    to the emulation."""

    bf16_error: float
    bf16_bits: bool
    int8_exact: bool

    @property
    def passed(self) -> bool:
        return self.bf16_error <= 1.0 and self.int8_exact  # a NaN error fails


def bf16_error(a: Any, b: Any, c0: Any, c: Any) -> float:
    """The worst ``|c - (c0 + a @ b)|`` over its bound (``BOUND``), the reference in float64
    from ``a`` and ``b`` (float32 arrays of bf16 values) and ``c0``: NaN where ``c`` has one."""
    import numpy as np

    a64, b64, c064 = (np.asarray(x, np.float64) for x in (a, b, c0))
    ref = c064 + a64 @ b64
    bound = BOUND * (a.shape[1] + 1) * (np.abs(c064) + np.abs(a64) @ np.abs(b64))
    return float(np.max(np.abs(np.asarray(c, np.float64) - ref) / bound))


def self_test(hardware: bool = True) -> Report:
    """One block's tile program per instruction (32 x 32 C += 32 x K A @ K x 32 B in ``b``'s
    packed order, two tile steps of K) run with the hardware ISA (``hardware``; else
    emulated too, to test this test) and emulated, on random inputs, against float64 and
    exact references and against each other."""
    import numpy as np

    a, b, c0, c, emulated = _run_program(amx.Tiles(2, 2, 16, emulate=False, group=2), hardware)
    f32 = lambda x: (x.astype(np.uint32) << 16).view(np.float32)  # noqa: E731  # bf16 bits
    error = bf16_error(f32(a), f32(b), c0.view(np.float32), c.view(np.float32))
    bits = bool(np.array_equal(c, emulated))
    qa, qb, q0, q, q_emulated = _run_program(amx.Tiles(2, 2, 16, emulate=False, group=4), hardware)
    exact = q0.view(np.int32) + qa.astype(np.int64) @ qb.astype(np.int64)
    same = np.array_equal(q, exact.astype(np.int32).view(np.uint32))
    return Report(error, bits, same and bool(np.array_equal(q, q_emulated)))


def _run_program(t: amx.Tiles, hardware: bool) -> tuple[Any, ...]:
    """(a, b, c0, C by the hardware ISA, C emulated) of one block's tile program on random
    inputs: bf16 bits and fp32 bits, or int8 and int32 bits."""
    import ctypes

    import numpy as np

    from tritium.backends.cpu import target as tg

    name = f"tritium_amx_selftest_{t.op}_{next(_programs)}"  # one symbol per object
    module = ll.Module(name=name)
    fn = ll.Function(module, ll.FunctionType(lu.VOID, [lu.PTR] * 4), name)
    entry, body = fn.append_basic_block("entry"), fn.append_basic_block("body")
    b = ll.IRBuilder(body)
    pa, pb, c_hw, c_emu = fn.args
    n, kq = amx.ROWS * t.tn, 2 * t.kt
    k = kq * t.group
    elem = lu.I8 if t.group == 4 else lu.BF16
    blk = amx._Block(
        lambda i, q: b.gep(
            pa, [b.add(amx._i32(amx.ROWS * i * k), b.mul(q, amx._i32(t.group)))], source_etype=elem
        ),
        amx._i64(4 // t.group * k),
        lambda j, q: b.gep(
            pb, [b.add(amx._i32(amx.ROWS * j), b.mul(q, amx._i32(n)))], source_etype=lu.I32
        ),
        amx._i64(4 * n),
    )
    for out, emulate in ((c_hw, not hardware), (c_emu, True)):
        isa = amx._isa(module, b, entry, emulate)
        isa.configure(amx._config(module, t))

        def c_at(i: int, j: int, out: ll.Value = out) -> ll.Value:
            return b.gep(out, [amx._i32(amx.ROWS * i * n + amx.ROWS * j)], source_etype=lu.I32)

        amx._c_tiles(isa, t, c_at, amx._i64(4 * n), store=False)
        amx._dots(b, isa, t, blk, kq)
        amx._c_tiles(isa, t, c_at, amx._i64(4 * n), store=True)
        isa.release()
    b.ret_void()
    ll.IRBuilder(entry).branch(body)
    tg.initialize_llvm()
    run = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * 4)(
        tg.load_object(tg.runtime_object(str(module)), name)
    )
    rng = np.random.default_rng(0)
    rows = amx.ROWS * t.tm
    if t.group == 2:  # bf16 bits of normal values; fp32 C
        a = (rng.standard_normal((rows, k)).astype(np.float32).view(np.uint32) >> 16).astype(
            np.uint16
        )
        bk = (rng.standard_normal((k, n)).astype(np.float32).view(np.uint32) >> 16).astype(
            np.uint16
        )
        c0 = rng.standard_normal((rows, n)).astype(np.float32).view(np.uint32)
    else:
        a = rng.integers(-128, 128, (rows, k)).astype(np.int8)
        bk = rng.integers(-128, 128, (k, n)).astype(np.int8)
        c0 = rng.integers(-(1 << 30), 1 << 30, (rows, n)).astype(np.int32).view(np.uint32)
    # b in its packed order: word [q, c] holds b[group * q .. group * q + group - 1, c]
    words = np.ascontiguousarray(bk.reshape(kq, t.group, n).transpose(0, 2, 1)).view(np.uint32)
    outs = [c0.copy(), c0.copy()]
    run(a.ctypes.data, words.ctypes.data, outs[0].ctypes.data, outs[1].ctypes.data)
    return a, bk, c0, outs[0], outs[1]
