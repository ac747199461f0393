"""TMA on sm_90a (``tma.py``, ``tensormap.py``) without a GPU: the boxes' placement against
the canonical wgmma tiles (a NumPy model of the hardware's swizzle and out-of-bounds fill),
the host encoder's checks and driver arguments (a fake driver), the frontend's descriptor
info (CUDA only), TMA stores and the conformance descriptor kernels compiled for sm_80/sm_90a.
The PTX of the sample descriptor matmuls is checked in ``test_cuda_compile.py`` (with the other
samples, compiled once). The GPU tests skip without one."""

from __future__ import annotations

import ctypes
import os
import sys
from typing import Any

import numpy as np
import pytest

from tritium.backends.cuda import runtime, tensormap
from tritium.backends.cuda.mma import MmaKind
from tritium.backends.cuda.smem import PyArith
from tritium.backends.cuda.tensormap import TiledMap
from tritium.backends.cuda.tma import tma_copies
from tritium.backends.cuda.wgmma import WgmmaTile, wgmma_tiles

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

AR = PyArith()
HAVE_GPU = runtime.available()


# ---- the NumPy model ------------------------------------------------------------------------
def swizzle(addr: int | np.ndarray, p: int) -> Any:
    """TMA's swizzle of a shared address for a ``p``-byte swizzle mode: the 16-byte chunk
    (bits 4..) XOR the bits from 7 up (CUTLASS's Swizzle<log2(p/16), 4, 3>)."""
    return addr ^ (((addr >> 7) & (p // 16 - 1)) << 4)


def tma_fill(
    tile: WgmmaTile, es: int, glob: np.ndarray, row0: int, col0: int, base: int = 0x400
) -> np.ndarray:
    """Shared memory (bytes, relative to the tile at ``base``, 1024-aligned) after the tile's
    TMA copies from the 2-D byte array ``glob`` (rows of elements of ``es`` bytes, values
    read as int64) at element offsets ``(row0, col0)``; out-of-bounds elements are zero."""
    (inner, rows), copies = tma_copies(tile, es)
    assert inner * es == tile.panel and rows <= 256
    mem = np.full(tile.nbytes, -1, dtype=np.int64)
    n_rows, n_cols = glob.shape[0], glob.shape[1] // es
    for c in copies:
        dst = base + c.smem
        assert dst % 128 == 0, "a TMA destination must be 128-byte aligned"
        for r in range(rows):
            for e in range(inner):
                gr, gc = row0 + c.row + r, col0 + c.col + e
                inside = 0 <= gr < n_rows and 0 <= gc < n_cols
                for x in range(es):
                    addr = swizzle(dst + r * tile.panel + e * es + x, tile.panel) - base
                    assert mem[addr] == -1, "two copies wrote one byte"
                    mem[addr] = glob[gr, gc * es + x] if inside else 0
    assert (mem >= 0).all(), "the copies leave part of the tile unwritten"
    return mem


def thread_fill(tile: WgmmaTile, es: int, glob: np.ndarray, row0: int, col0: int) -> np.ndarray:
    """The same tile staged by threads (the cp.async path): each byte at
    ``WgmmaTile.offset``, masked-off elements zero (the descriptor's zero padding)."""
    mem = np.full(tile.nbytes, -1, dtype=np.int64)
    n_rows, n_cols = glob.shape[0], glob.shape[1] // es
    for r in range(tile.rows):
        for x in range(tile.row_bytes):
            gr, gc = row0 + r, col0 + x // es
            inside = 0 <= gr < n_rows and 0 <= gc < n_cols
            mem[tile.offset(AR, r, x)] = glob[gr, gc * es + x % es] if inside else 0
    return mem


KINDS = {
    "f16": MmaKind("f16", "f16", "f32"),
    "e4m3": MmaKind("e4m3", "e4m3", "f32"),
    "tf32": MmaKind("tf32", "tf32", "f32"),
}
TILES = [
    # (kind, warps, M, N, K, b_k_major): a (permuted rows) and b of each
    ("f16", 4, 64, 128, 64, False),  # 128B swizzle, b MN-major in two panels
    ("f16", 8, 128, 64, 128, False),  # a rows of 256 bytes: two panels, 8-warp permutation
    ("f16", 4, 64, 64, 32, True),  # 64B swizzle, K-major b
    ("f16", 4, 64, 32, 16, True),  # 32B swizzle
    ("e4m3", 4, 64, 128, 128, True),
    ("tf32", 4, 64, 64, 32, True),
]


@pytest.mark.parametrize("case", TILES, ids=[f"{c[0]}-w{c[1]}-{c[2]}x{c[3]}x{c[4]}" for c in TILES])
@pytest.mark.parametrize("edge", [False, True], ids=["inside", "edge"])
def test_tma_boxes_put_every_element_where_wgmma_reads_it(case: tuple, edge: bool) -> None:
    """The TMA boxes of a tile leave shared memory byte for byte as the threads' staging at
    ``WgmmaTile.offset`` does (``test_wgmma_model`` proves the wgmma descriptors read that
    layout), including the zero fill of a block hanging over the tensor's edge."""
    name, warps, m, n, k, b_k_major = case
    kind = KINDS[name]
    es = kind.esize
    rng = np.random.default_rng(int(os.environ.get("TRITIUM_TEST_SEED", "0")))
    for index, tile in enumerate(wgmma_tiles(kind, m, n, k, warps, b_k_major)):
        rows, cols = tile.rows, tile.row_bytes // es
        # global bytes 1..255 (never 0, so a missing zero fill shows)
        shape = (rows + 5, (cols + 3) * es) if not edge else (rows - 3, (cols - 1) * es)
        glob = rng.integers(1, 256, size=shape)
        row0, col0 = (3, 2) if not edge else (0, 0)
        if edge and index == 0:
            row0, col0 = -2, 1  # negative coordinates read zeros too
        got = tma_fill(tile, es, glob, row0, col0)
        want = thread_fill(tile, es, glob, row0, col0)
        assert (got == want).all(), f"operand {index}: TMA placed bytes elsewhere"


def test_broken_box_is_caught() -> None:
    """The model fails a box whose rows are not the tile's (a's 8-row permutation ignored)."""
    kind = KINDS["f16"]
    a, _ = wgmma_tiles(kind, 64, 64, 64, 4, False)
    glob = np.random.default_rng(0).integers(1, 256, size=(64, 128))
    plain = WgmmaTile(a.rows, a.row_bytes, a.k_major)  # rows in order
    assert not (tma_fill(plain, 2, glob, 0, 0) == thread_fill(a, 2, glob, 0, 0)).all()


def test_copies_of_a_and_b() -> None:
    kind = KINDS["f16"]
    a, b = wgmma_tiles(kind, 128, 128, 64, 8, False)
    box, copies = tma_copies(a, 2)
    assert box == (64, 8) and len(copies) == 16  # one box per 8-row group
    box, copies = tma_copies(b, 2)
    assert box == (64, 64) and [(c.row, c.col) for c in copies] == [(0, 0), (0, 64)]
    assert copies[1].smem == 64 * 128  # the second 128-byte panel follows the first


# ---- the host encoder, with a fake driver ------------------------------------------------
class FakeDriver:
    """Records cuTensorMapEncodeTiled's arguments; writes a marker into the map."""

    def __init__(self, code: int = 0) -> None:
        self.calls: list[dict[str, Any]] = []
        self.code = code

    def cuTensorMapEncodeTiled(self, tmap, dtype, rank, addr, dims, strides, box, estr, *rest):  # noqa: N802
        self.calls.append({
            "map": tmap.value, "dtype": dtype, "rank": rank, "addr": addr.value,
            "dims": list(dims), "strides": list(strides), "box": list(box),
            "elem_strides": list(estr), "rest": list(rest),
        })  # fmt: skip
        ctypes.c_uint64.from_address(tmap.value).value = 0xC0FFEE
        return self.code

    def cuGetErrorName(self, code: int, out: Any) -> int:  # noqa: N802
        out._obj.value = b"CUDA_ERROR_INVALID_VALUE"
        return 0


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    tensormap._cache.clear()


def test_encoder_passes_the_driver_innermost_first() -> None:
    lib = FakeDriver()
    base = 0x7F0000001000
    m = TiledMap("f16", base, (300, 200), (256, 1), (64, 8), 128)
    _, value = tensormap.encode_tiled(lib, "a", m)
    (call,) = lib.calls
    assert call["map"] % 64 == 0, "a CUtensorMap is 64-byte aligned"
    assert call["dtype"] == 6 and call["rank"] == 2 and call["addr"] == base
    assert call["dims"] == [200, 300] and call["strides"] == [512] and call["box"] == [64, 8]
    assert call["elem_strides"] == [1, 1]
    assert call["rest"] == [0, 3, 2, 0]  # no interleave, 128B swizzle, L2 128B, zero fill
    assert value.opaque[0] == 0xC0FFEE and ctypes.sizeof(value) == 128
    # the same arguments again: the cached map, no second call
    tensormap.encode_tiled(lib, "a", TiledMap("f16", base, (300, 200), (256, 1), (64, 8), 128))
    assert len(lib.calls) == 1
    m = TiledMap("bf16", base, (300, 200), (256, 1), (32, 64), 64)
    tensormap.encode_tiled(lib, "a", m)
    assert lib.calls[-1]["dtype"] == 9 and lib.calls[-1]["rest"][1] == 2


@pytest.mark.parametrize(
    "args, match",
    [
        ((0x1008, (64, 64), (64, 1), (64, 8), 128), "16-byte aligned"),
        ((0x1000, (64, 60), (60, 1), (64, 8), 128), "multiple of 16"),
        ((0x1000, (64, 64), (64, 2), (64, 8), 128), "contiguous"),
        ((0x1000, (64, 64), (64, 1), (64, 512), 128), "from 1 to 256"),
        ((0x1000, (0, 64), (64, 1), (64, 8), 128), "sizes"),
        ((0x1000, (64, 64), (64, 1), (4, 8), 128), "16-byte sized"),
        ((0x1000, (64, 64), (64, 1), (64, 8), 64), "does not fit"),
    ],
)
def test_encoder_refuses_what_the_driver_would(args: tuple, match: str) -> None:
    lib = FakeDriver()
    with pytest.raises(ValueError, match=match) as e:
        tensormap.encode_tiled(lib, "b_desc", TiledMap("f16", *args))
    assert "b_desc" in str(e.value)
    assert not lib.calls


def test_driver_error_is_named() -> None:
    with pytest.raises(runtime.CudaError, match="cuTensorMapEncodeTiled.*INVALID_VALUE"):
        m = TiledMap("f16", 0x1000, (8, 64), (64, 1), (64, 8), 128)
        tensormap.encode_tiled(FakeDriver(1), "a", m)


def test_launch_appends_one_map_per_entry() -> None:
    """The maps read base, sizes and strides from the flat arguments and follow the IR's
    parameters in ``cuLaunchKernel``'s array."""
    lib = FakeDriver()
    specs = [{"arg": 0, "rank": 2, "dtype": "f16", "box": [64, 8], "swizzle": 128, "used": True},
             {"arg": 5, "rank": 2, "dtype": "f16", "box": [64, 64], "swizzle": 128}]  # fmt: skip
    args = [0x1000, 128, 64, 64, 1, 0x9000, 64, 256, 256, 1, 7]
    maps = tensormap.tensor_map_params(lib, specs, args, ())
    assert [c["dims"] for c in lib.calls] == [[64, 128], [256, 64]]
    assert [c["strides"] for c in lib.calls] == [[128], [512]]
    types = ["i64", "i32", "i32", "i64", "i64"] * 2 + ["i32"]
    irs = ["!tt.ptr<f16>", "i32", "i32", "i64", "i64"] * 2 + ["i32"]
    params, keep = runtime.pack_args(types, irs, args, maps)
    assert len(params) == len(args) + 2
    assert params[len(args)] == ctypes.addressof(maps[0]) and params[-1] == ctypes.addressof(
        maps[1]
    )


def test_unused_map_is_zeros_and_never_encoded() -> None:
    lib = FakeDriver()
    spec = {"arg": 0, "rank": 2, "dtype": "f16", "box": [64, 8], "swizzle": 128, "used": False}
    (value,) = tensormap.tensor_map_params(lib, [spec], [0x1008, 8, 8, 3, 1], ())
    assert not lib.calls and bytes(value) == bytes(128)  # a misaligned base is no error here


def test_loop_that_cannot_take_tma_leaves_its_maps_unused() -> None:
    """A store in the K loop keeps the loop unpipelined: its tensor maps stay parameters (the
    signature was fixed before the loop was planned) but are marked unused."""
    import tritium
    import tritium.language as tl
    from tritium.compiler import ASTSource, GPUTarget

    @tritium.jit
    def store_in_loop(a_desc, b_desc, c_ptr, K, BM: tl.constexpr, BN: tl.constexpr,
                      BK: tl.constexpr):  # fmt: skip
        acc = tl.zeros((BM, BN), tl.float32)
        rm = tl.arange(0, BM)[:, None] * BN + tl.arange(0, BN)[None, :]
        for k in range(0, K, BK):
            acc = tl.dot(a_desc.load([0, k]), b_desc.load([k, 0]), acc)
            tl.store(c_ptr + rm, acc)

    sig = {"a_desc": "tensordesc<fp16[64,64]>", "b_desc": "tensordesc<fp16[64,64]>",
           "c_ptr": "*fp32", "K": "i32"}  # fmt: skip
    k = tritium.compile(
        ASTSource(store_in_loop, sig, {"BM": 64, "BN": 64, "BK": 64}),
        target=GPUTarget("cuda", 90, 32),
        options={"num_warps": 4, "num_stages": 3},
    )
    assert [m["used"] for m in k.metadata["tma"]] == [False, False]
    assert "cp.async.bulk.tensor" not in k.asm["ptx"]


def test_host_descriptor_store_is_a_tma_store() -> None:
    """A 2-D store through a host descriptor on sm_90a: the block staged row-major in shared
    memory (128-byte aligned), one TMA store by thread 0 that waits until it has read the
    buffer, an unswizzled map with the whole block as its box; sm_80 stores through pointers."""
    import tritium
    import tritium.language as tl
    from tritium.compiler import ASTSource, GPUTarget

    @tritium.jit
    def scale(src, dst, BM: tl.constexpr, BN: tl.constexpr):
        offs = [tl.program_id(0) * BM, tl.program_id(1) * BN]
        dst.store(offs, src.load(offs) * 2.0)

    sig = {"src": "tensordesc<fp32[32,64]>", "dst": "tensordesc<fp32[32,64]>"}
    src = ASTSource(scale, sig, {"BM": 32, "BN": 64})
    k = tritium.compile(src, target=GPUTarget("cuda", 90, 32), options={"num_warps": 4})
    ptx = k.asm["ptx"]
    assert ptx.count("cp.async.bulk.tensor.2d.global.shared::cta.bulk_group") == 1
    assert ptx.count("cp.async.bulk.wait_group.read 0") == 1
    assert ptx.count("cp.async.bulk.tensor.2d.shared::cluster") == 0  # the load feeds no dot
    assert k.metadata["tma"] == [
        {"arg": 5, "rank": 2, "dtype": "f32", "box": [64, 32], "swizzle": 0, "used": True}
    ]
    assert k.metadata["shared"] >= 32 * 64 * 4
    k80 = tritium.compile(src, target=GPUTarget("cuda", 80, 32), options={"num_warps": 4})
    assert "cp.async.bulk" not in k80.asm["ptx"] and not k80.metadata["tma"]


# ---- the frontend keeps descriptor loads' parts for CUDA only ------------------------------
def test_descriptor_info_is_emitted_only_for_cuda() -> None:
    from sample_kernels import CASES

    import tritium
    from tritium.compiler import ASTSource, GPUTarget
    from tritium.frontend import ast_to_ttir
    from tritium.frontend.block_pointer import keep_descriptor_info

    fn, sig, consts, _ = CASES["matmul_tma_bt_bf16"]
    cpu_ir = str(ast_to_ttir(fn, sig, consts))
    assert "tt.descriptor" not in cpu_ir
    with keep_descriptor_info():
        cuda_ir = str(ast_to_ttir(fn, sig, consts))
    assert cuda_ir.count('"tt.descriptor_info"') == 2
    assert cuda_ir.count("tt.descriptor = 1") == 1 and cuda_ir.count("tt.descriptor = 2") == 1
    # without the info ops and attributes the two modules are the same
    k = tritium.compile(ASTSource(fn, sig, consts), target=GPUTarget("cpu", "", 1))
    assert "tt.descriptor" not in k.asm["ttir"]


def test_conformance_descriptor_kernels_compile_for_cuda(tmp_path: Any) -> None:
    """The conformance suite's tensor-descriptor tests (in-kernel, host-side and 3-D
    descriptors, loads and stores), run on the CPU with each kernel also compiled for sm_80
    and sm_90a (``shadow_compile.py``, with the descriptor info the CUDA frontend keeps)."""
    import json
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
    out = tmp_path / "shadow.jsonl"
    env = dict(os.environ, PYTHONPATH=root, TRITIUM_SHADOW_OUT=str(out))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider",
         "-p", "tests.backends.cuda.shadow_compile", "tests/language/conformance/test_memory.py",
         "-k", "descriptor and cpu"],
        capture_output=True, text=True, env=env, cwd=root, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["kernel"] for r in rows} >= {"_descriptors", "_host_descriptor", "_descriptor_3d"}
    assert all(r["status"] == "ok" for r in rows), [r for r in rows if r["status"] != "ok"]
    assert {r["cc"] for r in rows} == {80, 90}


# ---- on a GPU ----------------------------------------------------------------------------------
needs_gpu = pytest.mark.skipif(not HAVE_GPU, reason="no NVIDIA GPU")


@needs_gpu
@pytest.mark.parametrize("shape", [(256, 384, 192), (200, 136, 100)], ids=["aligned", "edges"])
def test_tma_persistent_matmul_on_gpu(monkeypatch: pytest.MonkeyPatch, shape: tuple) -> None:
    """Tutorial 09's persistent matmul through host descriptors against a float64 reference
    (TMA on sm_90a, cp.async or plain loads elsewhere); edges exercise the zero fill."""
    import torch
    from sample_kernels import matmul_tma_persistent

    from tritium.runtime.tensor_descriptor import TensorDescriptor

    monkeypatch.setenv("TRITIUM_BACKEND", "cuda")
    m, n, k = shape
    g = torch.Generator(device="cuda").manual_seed(int(os.environ.get("TRITIUM_TEST_SEED", "0")))
    a = torch.randn(m, k, device="cuda", generator=g).half()
    b = torch.randn(k, n, device="cuda", generator=g).half()
    c = torch.full((m, n), float("nan"), device="cuda", dtype=torch.float16)
    bm, bn, bk = 128, 128, 64
    descs = [TensorDescriptor.from_tensor(a, [bm, bk]), TensorDescriptor.from_tensor(b, [bk, bn]),
             TensorDescriptor.from_tensor(c, [bm, bn])]  # fmt: skip
    sms = torch.cuda.get_device_properties(0).multi_processor_count
    grid = (min(sms, triton_cdiv(m, bm) * triton_cdiv(n, bn)),)
    matmul_tma_persistent[grid](*descs, m, n, k, BM=bm, BN=bn, BK=bk, NUM_SMS=grid[0],
                                num_warps=8, num_stages=3)  # fmt: skip
    ref = (a.double() @ b.double()).half()
    torch.testing.assert_close(c, ref, rtol=2e-2, atol=2e-2)


def triton_cdiv(x: int, y: int) -> int:
    return (x + y - 1) // y


@needs_gpu
@pytest.mark.parametrize("dtype", ["bfloat16", "float8_e4m3fn"])
def test_tma_k_major_b_on_gpu(monkeypatch: pytest.MonkeyPatch, dtype: str) -> None:
    """c = a @ bt.T through descriptors (a K-major wgmma b by TMA on sm_90a: 64B swizzle for
    bf16, 128B for fp8) on ragged shapes, against float64."""
    import torch
    from sample_kernels import matmul_tma_bt

    from tritium.runtime.tensor_descriptor import TensorDescriptor

    monkeypatch.setenv("TRITIUM_BACKEND", "cuda")
    bm, bn, bk = (64, 64, 32) if dtype == "bfloat16" else (64, 128, 128)
    m, n, k = 150, 200, 4 * bk + 16
    g = torch.Generator(device="cuda").manual_seed(int(os.environ.get("TRITIUM_TEST_SEED", "0")))
    a = torch.randn(m, k, device="cuda", generator=g).to(getattr(torch, dtype))
    bt = torch.randn(n, k, device="cuda", generator=g).to(getattr(torch, dtype))
    c = torch.full((m, n), float("nan"), device="cuda")
    da, db = TensorDescriptor.from_tensor(a, [bm, bk]), TensorDescriptor.from_tensor(bt, [bn, bk])
    grid = (triton_cdiv(m, bm), triton_cdiv(n, bn))
    matmul_tma_bt[grid](da, db, c, m, n, k, BM=bm, BN=bn, BK=bk, num_warps=4, num_stages=3)
    ref = a.double() @ bt.double().T
    torch.testing.assert_close(c, ref.float(), rtol=1e-2, atol=1e-2)
