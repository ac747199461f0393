"""TMA on sm_90a: tensor-descriptor loads feeding ``wgmma`` copied by the Tensor Memory
Accelerator (``cp.async.bulk.tensor``) instead of per-thread ``cp.async``.

**Status: ptxas-checked for sm_90a and modelled in NumPy (``tests/backends/cuda/
test_tma_model.py``); never run on a GPU.**

**Which loads.** The frontend, compiling for CUDA, follows each ``desc.load(offsets)`` with a
``tt.descriptor_info`` op (the descriptor's base, sizes, strides and the block's offsets; the
load's ``tt.descriptor`` attribute names it). A load qualifies when the descriptor is a
*host-side* ``TensorDescriptor`` kernel argument (its parts are the kernel parameters the
argument expands to: base, then the sizes, then the strides), it is 2-D with zero padding, and
it is an operand (``b`` possibly through ``tl.trans``) of a ``wgmma`` dot in a K loop that
``pipeline.py`` pipelines. Device-side ``tl.make_tensor_descriptor`` descriptors, block
pointers, NaN padding and loads outside such loops keep the ``cp.async`` path (or plain loads).

**The tensor map.** Each distinct (argument, box, swizzle) becomes one more kernel parameter,
appended after the IR's: a 128-byte ``.param .align 64`` *grid-constant* ``CUtensorMap``
(``ptr byval([128 x i8]) align 64 "nvvm.grid_constant"`` in LLVM, whose address is taken with
``cvta.param``). The artifact's ``metadata["tma"]`` lists them; at launch the runtime encodes
each with ``cuTensorMapEncodeTiled`` from the argument's base, sizes and strides
(:mod:`tritium.backends.cuda.tensormap`).

**The box.** The operand's canonical wgmma tile (``wgmma.WgmmaTile``: rows of the block split
into panels of ``P = min(row bytes, 128)`` bytes, swizzled 128B/64B/32B) is exactly what TMA
writes for a box ``{P / esize, rows}`` with the swizzle of the same width, since both XOR
address bits 4.. with bits 7.. of the shared address (CUTLASS's ``Swizzle<log2(P/16), 4, 3>``)
and every copy lands 128-byte aligned. So one copy per panel fills a tile, except for ``a``,
whose 8-row groups are permuted (the wgmma module's docstring): it takes one copy of 8 rows per
group and panel. :func:`tma_copies` lists the copies; the model test checks the resulting bytes
against ``WgmmaTile.offset``, the layout the wgmma descriptors are modelled to read.

**Synchronization.** One ``mbarrier`` per stage (8 bytes above the stages), initialized with
an arrival count of 1 by thread 0 when the loop is entered and invalidated when it exits. For
iteration ``i`` thread 0 arrives with ``expect_tx`` of the stage's bytes and issues the copies;
every thread then waits with ``mbarrier.try_wait.parity`` on phase ``(i / S) & 1``. Iterations
past the end issue nothing and nobody waits for them. TMA and wgmma are both async-proxy
accesses, so no ``fence.proxy.async`` is needed between them (one is still issued where another
operand of the dot is written by threads).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import llvmlite.ir as ll

from tritium.backends.cpu.llvm_utils import I32
from tritium.backends.cuda.smem import PyArith
from tritium.backends.cuda.tensormap import DATA_TYPES, ELEMENT_BYTES
from tritium.backends.cuda.wgmma import WgmmaTile
from tritium.ir import Operation, Value
from tritium.ir import types as irt

__all__ = [
    "TensorMapSpec",
    "TmaCopy",
    "descriptor_info",
    "grid_constant_params",
    "host_descriptor_arg",
    "plan_tensor_maps",
    "tma_copies",
]

MAX_BOX = 256  # cuTensorMapEncodeTiled: every box dimension is at most 256 elements
TENSOR_MAP_BYTES = 128


@dataclass(frozen=True)
class TensorMapSpec:
    """One CUtensorMap kernel parameter: the host descriptor argument it describes (the index
    of its base among the IR parameters; rank 2), the element type, the box ``(inner
    elements, rows)`` and the swizzle width in bytes."""

    arg: int
    dtype: str
    box: tuple[int, int]
    swizzle: int

    def as_metadata(self, used: bool = True) -> dict[str, Any]:
        """The JSON-able form stored in ``metadata["tma"]``; an unused map (no loop took
        TMA after all) is passed as zeros, never encoded."""
        return {"arg": self.arg, "rank": 2, "dtype": self.dtype, "box": list(self.box),
                "swizzle": self.swizzle, "used": used}  # fmt: skip


@dataclass(frozen=True)
class TmaCopy:
    """One ``cp.async.bulk.tensor`` of a tile: to ``smem`` bytes from the tile's start, from
    the block's ``(row, col)`` (elements, added to the load's offsets)."""

    smem: int
    row: int
    col: int


def tma_copies(tile: WgmmaTile, esize: int) -> tuple[tuple[int, int], list[TmaCopy]]:
    """The box ``(inner elements, rows)`` and the copies that fill ``tile`` (rows of the
    block in order, ``tile.row_bytes / esize`` elements each) in its canonical layout."""
    p = tile.panel
    rows = 8 if tile.warps else min(tile.rows, MAX_BOX)  # a's 8-row groups are permuted
    ar = PyArith()
    copies = [
        TmaCopy(int(tile.offset(ar, r, q * p)), r, q * p // esize)
        for q in range(tile.row_bytes // p)
        for r in range(0, tile.rows, rows)
    ]
    return (p // esize, rows), copies


def descriptor_info(load: Operation) -> Operation | None:
    """The ``tt.descriptor_info`` of a descriptor load (in the load's block), or None."""
    ident = load.attrs.get("tt.descriptor")
    if ident is None or load.parent is None:
        return None
    found = [
        op
        for op in load.parent.ops
        if op.name == "tt.descriptor_info" and op.attrs.get("id") == ident
    ]
    return found[0] if len(found) == 1 else None


def host_descriptor_arg(func: Operation, info: Operation) -> int | None:
    """The index of the base parameter if ``info`` describes a host-side descriptor argument
    (its base, sizes and strides are consecutive kernel parameters), else None."""
    rank = len(info.attrs["block"])
    parts = info.operands[: 1 + 2 * rank]
    args = func.regions[0].block.args
    base = parts[0]
    if base not in args:
        return None
    i = args.index(base)
    if args[i : i + 1 + 2 * rank] != parts:
        return None
    return i


def offsets(info: Operation) -> list[Value]:
    """The block offsets of a ``tt.descriptor_info`` (outermost dimension first)."""
    rank = len(info.attrs["block"])
    return info.operands[1 + 2 * rank :]


def plan_tensor_maps(cx: Any) -> None:
    """Before the kernel is emitted: give every descriptor load that may become a TMA copy
    (see the module docstring; ``pipeline.plan_loop`` makes the final choice) its tensor-map
    parameter, in ``cx.tma_loads[load] = (info, spec index, tile)`` and ``cx.tensor_maps``."""
    from tritium.backends.cuda.mma import mma_kind
    from tritium.backends.cuda.wgmma import wgmma_eligible, wgmma_tiles

    cx.tma_loads.clear()
    cx.tensor_maps.clear()
    cx.tma_used.clear()
    cx.tma_stores.clear()
    if cx.arch.cc != 90 or cx.num_stages < 2:
        return
    for dot in cx.func.walk():
        if dot.name != "tt.dot" or len(irt.shape_of(dot.results[0].type)) != 2:
            continue
        kind = mma_kind(dot, cx.arch.cc)
        if kind is None or not wgmma_eligible(dot, cx.assign.home[dot.results[0]], cx.arch.cc):
            continue
        m, k = irt.shape_of(dot.operands[0].type)
        n = irt.shape_of(dot.operands[1].type)[1]
        for index, v in enumerate(dot.operands[:2]):
            op = v.defining_op
            k_major = False
            if index == 1 and op is not None and op.name == "tt.trans":
                k_major, op = True, op.operands[0].defining_op
            if op is None or op.name != "tt.load":
                continue
            info = descriptor_info(op)
            if info is None or info.attrs.get("padding") != "zero":
                continue
            if len(info.attrs["block"]) != 2:
                continue
            arg = host_descriptor_arg(cx.func, info)
            elt = str(irt.element_type(op.results[0].type))
            if arg is None or elt not in DATA_TYPES:
                continue
            tile = wgmma_tiles(kind, m, n, k, cx.assign.home[dot.results[0]].wpc[0], k_major)
            t = tile[index]
            box, _ = tma_copies(t, kind.esize)
            spec = TensorMapSpec(arg, elt, box, t.panel)
            if spec not in cx.tensor_maps:
                cx.tensor_maps.append(spec)
            cx.tma_loads[op] = (info, cx.tensor_maps.index(spec), t)
    for op in cx.func.walk():
        if op.name == "tt.store":
            _plan_store(cx, op)


def _plan_store(cx: Any, op: Operation) -> None:
    """A 2-D store through a host descriptor: a TMA store of the whole block (unswizzled)."""
    info = descriptor_info(op)
    if info is None or len(info.attrs["block"]) != 2:
        return
    arg = host_descriptor_arg(cx.func, info)
    elt = str(irt.element_type(op.operands[1].type))
    if arg is None or elt not in DATA_TYPES or not isinstance(op.operands[1].type, irt.TensorType):
        return
    rows, cols = info.attrs["block"]
    es = ELEMENT_BYTES[elt]
    if cols * es % 16 or cols > MAX_BOX or rows > MAX_BOX:
        return
    spec = TensorMapSpec(arg, elt, (cols, rows), 0)
    if spec not in cx.tensor_maps:
        cx.tensor_maps.append(spec)
    index = cx.tensor_maps.index(spec)
    cx.tma_stores[op] = (info, index)
    cx.tma_used.add(index)


def grid_constant_params(llir: str, names: list[str]) -> str:
    """Make the kernel parameters ``names`` (``ptr``) 128-byte grid-constant byval
    parameters (llvmlite cannot spell the attribute)."""
    for name in names:
        plain = f'ptr %"{name}"'
        if plain not in llir:
            raise AssertionError(f"tensor map parameter {name} not found in the kernel")
        llir = llir.replace(
            plain,
            f'ptr byval([{TENSOR_MAP_BYTES} x i8]) align 64 "nvvm.grid_constant" %"{name}"',
            1,
        )
    return llir


# ---- PTX ----------------------------------------------------------------------------------
def _asm(cx: Any, text: str, cons: str, args: list[ll.Value]) -> None:
    fty = ll.FunctionType(ll.VoidType(), [a.type for a in args])
    cx.b.call(ll.InlineAsm(fty, text, cons, side_effect=True), args)


def _pred(text: str, flag: str) -> str:
    return f"{{ .reg .pred p; setp.ne.b32 p, {flag}, 0; @p {text} }}"


def shared_address(cx: Any, byte: ll.Value) -> ll.Value:
    """The 32-bit shared-window address of absolute buffer byte ``byte``."""
    return cx.b.ptrtoint(cx.smem_abs(byte), I32)


def mbarrier_init(cx: Any, bar: ll.Value, pred: ll.Value) -> None:
    """``mbarrier.init`` with an arrival count of 1 where ``pred`` (an i1)."""
    flag = cx.b.zext(pred, I32)
    _asm(cx, _pred("mbarrier.init.shared::cta.b64 [$0], 1;", "$1"), "r,r", [bar, flag])


def mbarrier_init_fence(cx: Any) -> None:
    """Make the initialized barriers visible to the TMA unit (the async proxy)."""
    _asm(cx, "fence.mbarrier_init.release.cluster;", "", [])
    _asm(cx, "fence.proxy.async.shared::cta;", "", [])


def mbarrier_inval(cx: Any, bar: ll.Value, pred: ll.Value) -> None:
    """``mbarrier.inval`` where ``pred``: the barrier's memory may then be reused."""
    flag = cx.b.zext(pred, I32)
    _asm(cx, _pred("mbarrier.inval.shared::cta.b64 [$0];", "$1"), "r,r", [bar, flag])


def arrive_expect_tx(cx: Any, bar: ll.Value, nbytes: int, pred: ll.Value) -> None:
    """Thread-0 arrival announcing ``nbytes`` of TMA transfers on ``bar`` where ``pred``."""
    flag = cx.b.zext(pred, I32)
    text = _pred("mbarrier.arrive.expect_tx.shared::cta.b64 _, [$0], $1;", "$2")
    _asm(cx, text, "r,r,r", [bar, ll.Constant(I32, nbytes), flag])


def tma_load_2d(
    cx: Any,
    dst: ll.Value,
    tensor_map: ll.Value,
    col: ll.Value,
    row: ll.Value,
    bar: ll.Value,
    pred: ll.Value,
) -> None:
    """One box from coordinates ``(col, row)`` (innermost first) into shared ``dst``,
    completing its bytes on ``bar``, where ``pred``."""
    flag = cx.b.zext(pred, I32)
    text = _pred(
        "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes "
        "[$0], [$1, {$2, $3}], [$4];",
        "$5",
    )
    _asm(cx, text, "r,l,r,r,r,r", [dst, tensor_map, col, row, bar, flag])


def store_tile(cx: Any, op: Operation) -> None:
    """A descriptor ``tt.store`` by TMA: the threads write the block row-major to shared
    memory, ``fence.proxy.async`` and a barrier make it visible to the TMA unit, thread 0
    issues ``cp.async.bulk.tensor`` (shared -> global; out-of-bounds elements are not
    written, as the pointer store's mask says) and waits until the copy has read shared
    memory, then a barrier frees the buffer."""
    from tritium.backends.cuda.wgmma import fence_proxy_async

    b = cx.b
    info, index = cx.tma_stores[op]
    val = op.operands[1]
    rows, cols = info.attrs["block"]
    layout = cx.assign.home[val] if val not in cx.assign.remat else cx.assign.default((rows, cols))
    regs = cx.get(val, layout)
    es = ELEMENT_BYTES[str(irt.element_type(val.type))]
    pad = (cx.smem_floor + 127) // 128 * 128 - cx.smem_floor  # TMA's 128-byte alignment
    cx.use_smem(pad + rows * cols * es)
    cx.barrier()  # earlier users of the buffer are done with it
    for i, v in enumerate(regs):
        r, c = cx.coord(layout, 0, i), cx.coord(layout, 1, i)
        idx = b.add(b.add(b.mul(r, ll.Constant(I32, cols)), c), ll.Constant(I32, pad // es))
        cx.smem_store(v.type, idx, v)
    fence_proxy_async(cx)
    cx.barrier()
    row, col = (cx.scalar(x) for x in offsets(info))
    row, col = (x if x.type == I32 else b.trunc(x, I32) for x in (row, col))
    first = b.zext(b.icmp_unsigned("==", cx.tid, ll.Constant(I32, 0)), I32)
    src = shared_address(cx, ll.Constant(I32, cx.smem_floor + pad))
    tensor_map = b.ptrtoint(cx.tensor_map_params[index], ll.IntType(64))
    text = (
        "{ .reg .pred p; setp.ne.b32 p, $4, 0; "
        "@p cp.async.bulk.tensor.2d.global.shared::cta.bulk_group [$0, {$1, $2}], [$3]; "
        "@p cp.async.bulk.commit_group; @p cp.async.bulk.wait_group.read 0; }"
    )
    _asm(cx, text, "l,r,r,r,r", [tensor_map, col, row, src, first])
    cx.barrier()  # the copy has read the buffer


def mbarrier_wait(cx: Any, bar: ll.Value, phase: ll.Value) -> None:
    """Spin until ``bar`` completes phase parity ``phase`` (every thread)."""
    text = (
        "{ .reg .pred done; tritium_tma_wait: "
        "mbarrier.try_wait.parity.shared::cta.b64 done, [$0], $1; "
        "@!done bra.uni tritium_tma_wait; }"
    )
    _asm(cx, text, "r,r", [bar, phase])
