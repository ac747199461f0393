"""Hand-built IR for the IR tests: one module that uses every registered op."""

from __future__ import annotations

from typing import Any

from tritium.ir import (
    OPS,
    Block,
    Builder,
    FunctionType,
    Location,
    Module,
    Operation,
    PointerType,
    TensorType,
    Type,
    Value,
    bf16,
    f8E4M3FN,
    f16,
    f32,
    f64,
    i1,
    i8,
    i32,
    i64,
    is_elementwise,
)
from tritium.ir.verifier import ARITY

__all__ = ["build_all_ops_module", "new_function"]

T4F = TensorType((4,), f32)
T4I = TensorType((4,), i32)
T4B = TensorType((4,), i1)
PF32 = PointerType(f32)
T4P = TensorType((4,), PF32)


def new_function(
    module: Module,
    name: str,
    inputs: list[Type],
    results: list[Type] = (),
    visibility: str = "public",
) -> tuple[Operation, Builder]:
    """Append a tt.func to ``module``; returns it and a builder at the end of its body."""
    b = Builder(module.body)
    f = b.create(
        "tt.func",
        [],
        [],
        {
            "sym_name": name,
            "function_type": FunctionType(tuple(inputs), tuple(results)),
            "visibility": visibility,
        },
        regions=1,
    )
    block = f.regions[0].add_block(Block(inputs))
    return f, Builder(block)


def _c(b: Builder, t: Type, value: Any) -> Value:
    return b.create("arith.constant", [], [t], {"value": value}).result


def build_all_ops_module() -> Module:
    """A module whose functions use every op in ``ops.OPS`` with consistent types."""
    m = Module()
    # a private helper, called below
    helper, hb = new_function(m, "helper", [f32], [f32], visibility="private")
    x = helper.regions[0].blocks[0].args[0]
    hb.create("tt.return", [hb.create("arith.negf", [x], [f32]).result])

    f, b = new_function(m, "kernel", [PF32, i32, f32])
    ptr, n, s = f.regions[0].blocks[0].args
    b.loc = Location("kernel.py", 7, 4)
    pid = b.create("tt.get_program_id", [], [i32], {"axis": 0}).result
    b.create("tt.get_num_programs", [], [i32], {"axis": 1})
    rng = b.create("tt.make_range", [], [T4I], {"start": 0, "end": 4}).result
    nn = b.create("tt.splat", [n], [T4I]).result
    ints = rng
    for name in (
        "addi",
        "subi",
        "muli",
        "divsi",
        "divui",
        "remsi",
        "remui",
        "andi",
        "ori",
        "xori",
        "shli",
        "shrsi",
        "shrui",
        "maxsi",
        "minsi",
        "maxui",
        "minui",
    ):
        ints = b.create(f"arith.{name}", [ints, nn], [T4I]).result
    ints = b.create("tt.mulhiui", [ints, nn], [T4I]).result
    ints = b.create("math.absi", [ints], [T4I]).result
    fl = b.create("arith.sitofp", [ints], [T4F]).result
    fl = b.create("arith.uitofp", [ints], [T4F]).result
    sv = b.create("tt.splat", [s], [T4F]).result
    for name in (
        "addf",
        "subf",
        "mulf",
        "divf",
        "remf",
        "maximumf",
        "minimumf",
        "maxnumf",
        "minnumf",
    ):
        fl = b.create(f"arith.{name}", [fl, sv], [T4F]).result
    fl = b.create("math.powf", [fl, sv], [T4F]).result
    fl = b.create("tt.precise_divf", [fl, sv], [T4F]).result
    fl = b.create("arith.negf", [fl], [T4F]).result
    fl = b.create("tt.precise_sqrt", [fl], [T4F]).result
    for name in (
        "exp",
        "exp2",
        "log",
        "log2",
        "log1p",
        "sqrt",
        "rsqrt",
        "sin",
        "cos",
        "tan",
        "tanh",
        "erf",
        "absf",
        "floor",
        "ceil",
    ):
        fl = b.create(f"math.{name}", [fl], [T4F]).result
    fl = b.create("math.fma", [fl, sv, fl], [T4F]).result
    lo = _c(b, T4F, -1.5)
    hi = _c(b, T4F, float("inf"))
    fl = b.create("tt.clampf", [fl, lo, hi], [T4F], {"propagate_nan": "all"}).result
    mask = b.create("arith.cmpi", [rng, nn], [T4B], {"predicate": "slt"}).result
    fmask = b.create("arith.cmpf", [fl, sv], [T4B], {"predicate": "olt"}).result
    fl = b.create("arith.select", [fmask, fl, sv], [T4F]).result
    wide = b.create("arith.extsi", [ints], [TensorType((4,), i64)]).result
    b.create("arith.extui", [ints], [TensorType((4,), i64)])
    b.create("arith.trunci", [wide], [TensorType((4,), i8)])
    b.create("arith.fptosi", [fl], [T4I])
    b.create("arith.fptoui", [fl], [T4I])
    d = b.create("arith.extf", [fl], [TensorType((4,), f64)]).result
    b.create("arith.truncf", [d], [TensorType((4,), f16)])
    b.create("arith.bitcast", [fl], [T4I])
    b.create("tt.fp_to_fp", [fl], [TensorType((4,), f8E4M3FN)], {"rounding": "rtne"})
    b.create("arith.truncf", [fl], [TensorType((4,), bf16)])
    ptrs = b.create("tt.splat", [ptr], [T4P]).result
    ptrs = b.create("tt.addptr", [ptrs, rng], [T4P]).result
    as_int = b.create("tt.ptr_to_int", [ptrs], [TensorType((4,), i64)]).result
    ptrs = b.create("tt.int_to_ptr", [as_int], [T4P]).result
    b.create("tt.bitcast", [ptrs], [TensorType((4,), PointerType(i32))])
    loaded = b.create(
        "tt.load", [ptrs, mask, sv], [T4F], {"cache": "", "evict": "", "volatile": False}
    ).result
    b.create("tt.store", [ptrs, loaded, mask], [], {"cache": "", "evict": ""})
    b.create(
        "tt.atomic_rmw",
        [ptrs, loaded, mask],
        [T4F],
        {"rmw_op": "fadd", "sem": "acq_rel", "scope": "gpu"},
    )
    b.create("tt.atomic_cas", [ptrs, loaded, loaded], [T4F], {"sem": "acq_rel", "scope": "gpu"})
    # shapes
    col = b.create("tt.expand_dims", [loaded], [TensorType((4, 1), f32)], {"axis": 1}).result
    sq = b.create("tt.broadcast", [col], [TensorType((4, 4), f32)]).result
    tr = b.create("tt.trans", [sq], [TensorType((4, 4), f32)], {"order": [1, 0]}).result
    acc = _c(b, TensorType((4, 4), f32), 0.0)
    mm = b.create(
        "tt.dot",
        [sq, tr, acc],
        [TensorType((4, 4), f32)],
        {"input_precision": "ieee", "max_num_imprecise_acc": 0},
    ).result
    flat = b.create("tt.reshape", [mm], [TensorType((16,), f32)], {"allow_reorder": False}).result
    b.create("tt.cat", [flat, flat], [TensorType((32,), f32)])
    j = b.create("tt.join", [loaded, fl], [TensorType((4, 2), f32)]).result
    halves = b.create("tt.split", [j], [T4F, T4F])
    # reduce / scan with combine regions
    red = b.create("tt.reduce", [halves.results[0]], [f32], {"axis": 0}, regions=1)
    rb = red.regions[0].add_block(Block([f32, f32]))
    with b.at_end_of(rb):
        b.create("tt.reduce.return", [b.create("arith.addf", rb.args, [f32]).result])
    scan = b.create("tt.scan", [halves.results[1]], [T4F], {"axis": 0, "reverse": False}, regions=1)
    sb = scan.regions[0].add_block(Block([f32, f32]))
    with b.at_end_of(sb):
        b.create("tt.scan.return", [b.create("arith.maxnumf", sb.args, [f32]).result])
    total = b.create("tt.call", [red.result], [f32], {"callee": "helper"}).result
    # control flow
    zero = _c(b, i32, 0)
    one = _c(b, i32, 1)
    loop = b.create("scf.for", [zero, n, one, total], [f32], regions=1)
    lb = loop.regions[0].add_block(Block([i32, f32]))
    with b.at_end_of(lb):
        cond = b.create("arith.cmpi", [lb.args[0], pid], [i1], {"predicate": "eq"}).result
        branch = b.create("scf.if", [cond], [f32], regions=2)
        with b.at_end_of(branch.regions[0].add_block(Block())):
            b.create("scf.yield", [b.create("arith.addf", [lb.args[1], s], [f32]).result])
        with b.at_end_of(branch.regions[1].add_block(Block())):
            b.create("scf.yield", [lb.args[1]])
        b.create("scf.yield", [branch.result])
    loop_w = b.create("scf.while", [pid], [i32], regions=2)
    before = loop_w.regions[0].add_block(Block([i32]))
    with b.at_end_of(before):
        c = b.create("arith.cmpi", [before.args[0], n], [i1], {"predicate": "slt"}).result
        b.create("scf.condition", [c, before.args[0]])
    after = loop_w.regions[1].add_block(Block([i32]))
    with b.at_end_of(after):
        b.create("scf.yield", [b.create("arith.addi", [after.args[0], one], [i32]).result])
    side = b.create(
        "scf.if",
        [b.create("arith.cmpi", [pid, zero], [i1], {"predicate": "eq"}).result],
        [],
        regions=2,
    )
    with b.at_end_of(side.regions[0].add_block(Block())):
        b.create(
            "tt.print",
            [loop.result, loop_w.result],
            [],
            {"prefix": "sum: ", "hex": False, "is_signed": [True, True]},
        )
        b.create("scf.yield")
    b.create("tt.assert", [mask], [], {"message": 'out of range "x"\n'})
    b.create("gpu.barrier")
    # a 1-D descriptor's base, size, stride and offset (kept for the CUDA backend's TMA)
    b.create("tt.descriptor_info", [ptr, n, n, pid], [], {"id": 1, "block": [4], "padding": "zero"})
    # float math ops registered after this sample was written (libdevice-style extras)
    used = {op.name for op in m.walk()}
    for name in sorted(OPS):
        if name.startswith("math.") and name not in used and is_elementwise(name):
            fl = b.create(name, [fl] * ARITY[name][0], [T4F]).result
    b.create("tt.return")
    return m
