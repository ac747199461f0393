"""bf16 K loops on Intel AMX tiles (``dot_amx``), run here with the tile instructions emulated
(``TRITIUM_CPU_AMX=emulate``: no host of these sessions has AMX).

The emulation follows the SDM's TDPBF16PS: per tile step, the even and the odd products of
the ``kt`` pairs summed apart from zero, then added to C. Its results are checked bit for bit
against a NumPy model of that order (products of two bf16 are exact in fp32, so float32 adds
are the instruction's fused adds) and against float64 references; the NumPy model of
VDPBF16PS is checked the same way against the ``vdpbf16ps`` path (so the models are shown
faithful where the hardware is here). Outputs are poisoned; masked K tails, odd shapes,
several blockings, 2 threads, tutorial 03, and AVX2 code (``-avx512f``). Compile-only for
Sapphire Rapids: the object holds the instructions.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import warnings
from collections.abc import Iterator

import ml_dtypes
import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tests.backends.cpu import test_dot_kloop_packed as packed
from tests.backends.cpu.test_dot_kloop_packed import _matmul
from tritium.backends.cpu import dot_amx, dot_amx_check
from tritium.backends.cpu.target import host_target

_SAPPHIRE = (
    "+avx512f,+avx512bw,+avx512vl,+avx512dq,+avx512bf16,+avx512vnni,+avx2,+fma,+f16c,"
    "+amx-tile,+amx-bf16,+amx-int8"
)


@pytest.fixture
def emulate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRITIUM_CPU_AMX", "emulate")


@pytest.fixture
def amx_host(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """A host with AMX, faked: its features, Linux granting the tile state and the self-test
    passing; what was asked, in order, is yielded. Code with tiles may be compiled and
    loaded here, not run (no AMX on these hosts): ``_dot_loop`` forgets its kernels after."""
    import tritium.backends.cpu as cpu_backend
    from tritium.backends.cpu import target as tg

    asked: list[str] = []

    def request() -> bool:
        asked.append("request")
        return True

    def self_test(hardware: bool = True) -> dot_amx_check.Report:
        asked.append("self-test")
        return dot_amx_check.Report(0.0, bf16_bits=True, int8_exact=True)

    monkeypatch.setenv("TRITIUM_CPU_AMX", "auto")
    monkeypatch.setenv("TRITIUM_CPU_FEATURES", "+amx-tile,+amx-bf16,+amx-int8")
    monkeypatch.setattr(tg, "missing_features", lambda features: [])
    monkeypatch.setattr(cpu_backend, "missing_features", lambda features: [])  # its load's
    monkeypatch.setattr(dot_amx, "_ready", [])
    monkeypatch.setattr(dot_amx, "_request", request)
    monkeypatch.setattr(dot_amx_check, "self_test", self_test)
    yield asked
    _dot_loop.cache.clear()  # no later test may launch the tile code compiled here


def _operands(rng: np.random.Generator, m: int, n: int, k: int):  # type: ignore[no-untyped-def]
    a = rng.standard_normal((m, k)).astype(ml_dtypes.bfloat16)
    b = rng.standard_normal((k, n)).astype(ml_dtypes.bfloat16)
    init = rng.standard_normal((m, n)).astype(np.float32)
    return a, b, init


def _run(a, b, init, blocks, tag: str = "amx"):  # type: ignore[no-untyped-def]
    (m, k), n = a.shape, b.shape[1]
    bm, bn, bk = blocks
    c = np.full((m, n), np.nan, np.float32)  # poisoned
    grid = (-(-m // bm) * -(-n // bn),)
    kernel = _matmul[grid](
        a, b, c, init, m, n, k, k, 1, n, 1,
        BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, ADD_FORM=True, TAG=tag,
    )  # fmt: skip
    return c, kernel


def _kt(bk: int) -> int:
    return next(kt for kt in (16, 8, 4, 2, 1) if (bk // 2) % kt == 0)


def _padded(a, b, bk):  # type: ignore[no-untyped-def]
    """Operands as float32 with K padded by zeros to whole steps (the masked tail's values)."""
    k = a.shape[1]
    kp = -(-k // bk) * bk
    a32 = np.zeros((a.shape[0], kp), np.float32)
    b32 = np.zeros((kp, b.shape[1]), np.float32)
    a32[:, :k], b32[:k] = a.astype(np.float32), b.astype(np.float32)
    return a32, b32


def amx_model(a, b, init, bk):  # type: ignore[no-untyped-def]
    """TDPBF16PS's order over the K loop (SDM): per tile of ``kt`` pairs, even and odd sums
    from zero, then C += even + odd."""
    a32, b32 = _padded(a, b, bk)
    kt = _kt(bk)
    c = init.copy()
    for k0 in range(0, a32.shape[1], 2 * kt):
        even = np.zeros_like(c)
        odd = np.zeros_like(c)
        for p in range(k0, k0 + 2 * kt, 2):
            even = even + a32[:, p, None] * b32[None, p]
            odd = odd + a32[:, p + 1, None] * b32[None, p + 1]
        c = c + (even + odd)
    return c


def vdp_model(a, b, init, bk):  # type: ignore[no-untyped-def]
    """VDPBF16PS's order (SDM): each pair's odd product, then its even one, into C."""
    a32, b32 = _padded(a, b, bk)
    c = init.copy()
    for p in range(0, a32.shape[1], 2):
        c = c + a32[:, p + 1, None] * b32[None, p + 1]
        c = c + a32[:, p, None] * b32[None, p]
    return c


def _check(c, a, b, init, bk) -> None:  # type: ignore[no-untyped-def]
    ref = init.astype(np.float64) + a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(c, ref, rtol=1e-5, atol=1e-4 * np.sqrt(a.shape[1]))
    model = amx_model(a, b, init, bk)
    assert np.array_equal(c.view(np.uint32), model.view(np.uint32))


@pytest.mark.parametrize(
    "shape, blocks",
    [
        ((64, 64, 128), (32, 32, 32)),  # whole steps: 2 x 2 C tiles, 16-pair tiles
        ((70, 45, 100), (32, 32, 32)),  # masked M, N and K tail
        ((48, 80, 96), (16, 16, 64)),  # 1 x 1 C tiles
        ((40, 96, 72), (16, 32, 16)),  # 1 x 2 C tiles, 8-pair tiles
        ((64, 64, 520), (64, 64, 64)),  # 4 x 4 tiles a block of C, K over two chunks
    ],
)
def test_amx_emulated_matches_its_model(
    emulate: None, shape: tuple[int, int, int], blocks: tuple[int, int, int]
) -> None:
    rng = np.random.default_rng(sum(shape))
    a, b, init = _operands(rng, *shape)
    c, kernel = _run(a, b, init, blocks)
    assert "tritium.amx.tdpbf16ps" in kernel.asm["llir"]
    _check(c, a, b, init, blocks[2])


@pytest.mark.parametrize("dtype", ["bf16", "int8"])
@pytest.mark.parametrize(
    "m, n, k, blocks, trans",
    [(*case, False) for case in packed._CASES] + [(48, 64, 96, (16, 32, 32), True)],
)
def test_packed_cases_emulated(
    emulate: None,
    dtype: str,
    m: int,
    n: int,
    k: int,
    blocks: tuple[int, int, int],
    trans: bool,
) -> None:
    """``dot_kloop_packed``'s cases (and transposed operands) on tiles where the blocks allow
    (BLOCK_M and BLOCK_N multiples of 16); int8 exact, and equal to its ``vpdpbusd`` path."""
    if dtype == "int8" and not host_target().has("avx512vnni"):
        pytest.skip("int8 tiles need AVX512-VNNI's packing")
    rng = np.random.default_rng(m * n + k)
    a, b, init = packed._operands(rng, m, n, k, dtype, trans, trans)
    c, kernel = packed._launch(a, b, init, blocks, tag=f"amx{dtype}")
    tiles = blocks[0] % 16 == 0 and blocks[1] % 16 == 0
    op = "tdpbf16ps" if dtype == "bf16" else "tdpbssd"
    assert (f"tritium.amx.{op}" in kernel.asm["llir"]) == tiles
    packed._check(c, a, b, init)
    if dtype == "bf16" and tiles:
        model = amx_model(a, b, init, blocks[2])
        assert np.array_equal(c.view(np.uint32), model.view(np.uint32))


def test_vdpbf16ps_path_matches_its_model() -> None:
    """The models' method on the instruction this host has: the packed path's bits."""
    if not host_target().has("avx512bf16"):
        pytest.skip("no AVX512-BF16 here")
    rng = np.random.default_rng(7)
    a, b, init = _operands(rng, 70, 45, 100)
    c, kernel = _run(a, b, init, (32, 32, 32), tag="vdp")
    assert "tritium.amx.tdpbf16ps" not in kernel.asm["llir"]
    assert np.array_equal(c.view(np.uint32), vdp_model(a, b, init, 32).view(np.uint32))


def test_amx_emulated_on_avx2_and_two_threads(
    emulate: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The emulation needs no AVX-512; programs split over 2 threads."""
    rng = np.random.default_rng(3)
    a, b, init = _operands(rng, 96, 64, 160)
    monkeypatch.setenv("TRITIUM_NUM_THREADS", "2")
    c2, _ = _run(a, b, init, (32, 32, 32), tag="two")
    _check(c2, a, b, init, 32)
    monkeypatch.setenv("TRITIUM_CPU_FEATURES", "-avx512f")
    c, kernel = _run(a, b, init, (32, 32, 32), tag="avx2")
    assert "tritium.amx.tdpbf16ps" in kernel.asm["llir"]
    assert "zmm" not in kernel.asm["asm"]
    _check(c, a, b, init, 32)


def test_tutorial_matmul_bf16_emulated(emulate: None) -> None:
    from tutorials import matmul

    rng = np.random.default_rng(5)
    a = rng.standard_normal((128, 96)).astype(ml_dtypes.bfloat16)
    b = rng.standard_normal((96, 80)).astype(ml_dtypes.bfloat16)
    c = np.asarray(matmul.matmul(a, b), np.float32)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(c, ref, rtol=1e-2, atol=2e-2)


def test_amx_off_leaves_the_code_alone(
    amx_host: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a host with AMX (faked; compiled, not run), ``auto`` gives the tile code and
    ``TRITIUM_CPU_AMX=0`` the packed path."""
    args = _dot_loop_args(np.dtype(ml_dtypes.bfloat16))
    irs = {}
    for knob in ("auto", "0"):
        monkeypatch.setenv("TRITIUM_CPU_AMX", knob)
        _dot_loop.cache.clear()
        irs[knob] = _dot_loop.warmup(*args, BLOCK=32, BLOCK_K=32, grid=(1,)).asm["llir"]
    assert "tdpbf16ps %tmm6, %tmm4, %tmm0" in irs["auto"]
    assert "tdpbf16ps" not in irs["0"] and "tileloadd" not in irs["0"]
    if host_target().has("avx512bf16"):
        assert "avx512bf16.dpbf16ps" in irs["0"]  # the packed path


def test_config_bytes() -> None:
    cfg = dot_amx.config_bytes(dot_amx.Tiles(2, 2, 16, emulate=False))
    assert len(cfg) == 64 and cfg[0] == 1 and not any(cfg[1:16])
    colsb = [int.from_bytes(cfg[16 + 2 * t : 18 + 2 * t], "little") for t in range(8)]
    assert colsb == [64] * 8 and list(cfg[48:56]) == [16] * 8
    cfg = dot_amx.config_bytes(dot_amx.Tiles(1, 2, 8, emulate=False))
    colsb = [int.from_bytes(cfg[16 + 2 * t : 18 + 2 * t], "little") for t in range(8)]
    # C tiles 0, 1; A tile 4 (8 pairs: 32 bytes a row); B tiles 6, 7 (8 pair rows)
    assert colsb == [64, 64, 0, 0, 32, 0, 64, 64] and list(cfg[48:56]) == [
        16,
        16,
        0,
        0,
        16,
        0,
        8,
        8,
    ]


def test_self_test_runs_emulated() -> None:
    """The self-test's machinery (one block's tile program, loaded and run): with the
    emulation on both sides it passes, bf16 bit for bit and far inside its bound (on an AMX
    host one side is the hardware)."""
    report = dot_amx_check.self_test(hardware=False)
    assert report.passed and report.bf16_bits and report.int8_exact
    assert report.bf16_error < 0.01


def _f32_of_bf16(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(ml_dtypes.bfloat16).astype(np.float32)


def test_bf16_rule_takes_any_summation_order() -> None:
    """What real silicon may do and the SDM's pseudocode does not say (another order of the
    partial sums, a wider accumulator, FMA after FMA) stays far inside the bound; a lost, a
    repeated or a sign-flipped product, or a column off by one, is hundreds of times over."""
    rng = np.random.default_rng(11)
    k = 64
    a, b, c0 = _f32_of_bf16(rng, 32, k), _f32_of_bf16(rng, k, 32), _f32_of_bf16(rng, 32, 32)
    wide = (c0.astype(np.float64) + a.astype(np.float64) @ b.astype(np.float64)).astype(np.float32)
    backwards = c0.copy()
    for p in reversed(range(k)):
        backwards = backwards + a[:, p, None] * b[None, p]
    good = {
        "SDM": amx_model(a, b, c0, k),
        "float64 then rounded": wide,
        "vdpbf16ps order": vdp_model(a, b, c0, k),
        "reversed": backwards,
    }
    for name, c in good.items():
        assert dot_amx_check.bf16_error(a, b, c0, c) < 0.01, name
    flipped = b.copy()
    flipped[5] = -flipped[5]
    bad = {
        "lost product": c0 + np.delete(a, 5, 1) @ np.delete(b, 5, 0),
        "repeated product": wide + a[:, 5, None] * b[None, 5],
        "wrong sign": c0 + a @ flipped,
        "column off by one": c0 + a @ np.roll(b, 1, axis=1),
        "pairs swapped": c0 + a @ b.reshape(k // 2, 2, 32)[:, ::-1].reshape(k, 32),
        "nan": np.where(np.arange(32) == 3, np.nan, wide),
    }
    for name, c in bad.items():
        error = dot_amx_check.bf16_error(a, b, c0, c)
        assert not error < 100, (name, error)


class _Broken:
    """The "hardware" side of the self-test's programs with one bug, over the emulation."""

    def __init__(self, isa, bug: str) -> None:  # type: ignore[no-untyped-def]
        self.isa, self.bug = isa, bug

    def configure(self, cfg):  # type: ignore[no-untyped-def]
        self.isa.configure(cfg)

    def release(self) -> None:
        self.isa.release()

    def load(self, t: int, at, stride) -> None:  # type: ignore[no-untyped-def]
        self.isa.load(t, self._moved(t, at), self._stride(t, stride))

    def _moved(self, t: int, at):  # type: ignore[no-untyped-def]
        import llvmlite.ir as ll

        # a: 2 bytes (one bf16, two int8); b: one column of words
        shift = {"a off by one value": (4, 2), "b off by one column": (6, 4)}.get(self.bug)
        if shift is None or t not in (shift[0], shift[0] + 1):
            return at
        return self.isa.b.gep(
            at, [ll.Constant(ll.IntType(64), shift[1])], source_etype=ll.IntType(8)
        )

    def _stride(self, t: int, stride):  # type: ignore[no-untyped-def]
        if self.bug == "a stride halved" and t in (4, 5):
            return self.isa.b.lshr(stride, stride.type(1))
        return stride

    def store(self, t: int, at, stride) -> None:  # type: ignore[no-untyped-def]
        if self.bug == "c tiles swapped" and t in (1, 2):
            t = 3 - t
        self.isa.store(t, at, stride)

    def dot(self, op: str, c: int, a: int, bt: int) -> None:
        if self.bug == "b tiles swapped":
            bt = 13 - bt
        if self.bug == "dot skipped" and c == 3:
            return
        self.isa.dot(op, c, a, bt)
        if self.bug == "dot repeated" and c == 0:
            self.isa.dot(op, c, a, bt)


_BUGS = [
    "dot skipped",
    "dot repeated",
    "b tiles swapped",
    "b off by one column",
    "a off by one value",
    "a stride halved",
    "c tiles swapped",
]


@pytest.mark.parametrize("bug", _BUGS)
def test_self_test_fails_a_broken_tile_program(monkeypatch: pytest.MonkeyPatch, bug: str) -> None:
    """A "hardware" side with one layout, operand, stride or tile bug fails the self-test by
    orders of magnitude (bf16 over 100 times its bound; int8 not exact)."""
    made = []
    real = dot_amx._isa

    def isa(*args):  # type: ignore[no-untyped-def]
        made.append(real(*args))
        if len(made) % 2 == 1:  # each program's first ISA is the hardware's side
            return _Broken(made[-1], bug)
        return made[-1]

    monkeypatch.setattr(dot_amx, "_isa", isa)
    report = dot_amx_check.self_test(hardware=False)
    assert not report.passed and not report.int8_exact and not report.bf16_bits
    assert not report.bf16_error < 100, report


def test_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Off without the features or with the knob at 0; the emulation on request; on a host
    with AMX only once Linux granted it and the self-test passed (else off, warned once). The
    key part asks no one: ``;amx=auto`` on such a host until a refusal, nothing after it."""
    from tritium.backends.cpu import target as tg

    amx = tg.HostTarget("sapphirerapids", "+avx512f,+amx-tile,+amx-bf16,+amx-int8", "x86_64", "")
    bf16_only = tg.HostTarget("x", "+avx512f,+amx-tile,+amx-bf16,-amx-int8", "x86_64", "")
    plain = tg.HostTarget("znver4", "+avx512f,-amx-tile", "x86_64", "")
    monkeypatch.setenv("TRITIUM_CPU_AMX", "0")
    assert dot_amx.mode(amx) == "off" and dot_amx.key_part(amx) == ""
    monkeypatch.setenv("TRITIUM_CPU_AMX", "emulate")
    assert dot_amx.mode(plain) == "emulate" and dot_amx.key_part(plain) == ";amx=emulate"
    monkeypatch.delenv("TRITIUM_CPU_AMX")
    assert dot_amx.mode(plain) == "off"
    monkeypatch.setattr(tg, "missing_features", lambda features: [])  # as on an AMX host
    monkeypatch.setattr(dot_amx, "_request", lambda: True)
    monkeypatch.setattr(dot_amx, "_ready", [True])
    assert dot_amx.mode(bf16_only) == "off"  # the self-test (and int8 loops) run tdpbssd
    reports = [  # bits apart from the SDM's model pass; bf16 over its bound or int8 off fail
        ("hw", dot_amx_check.Report(0.2, bf16_bits=False, int8_exact=True)),
        ("off", dot_amx_check.Report(1.5, bf16_bits=True, int8_exact=True)),
        ("off", dot_amx_check.Report(0.0, bf16_bits=True, int8_exact=False)),
        ("off", dot_amx_check.Report(float("nan"), bf16_bits=False, int8_exact=True)),
    ]
    for want, report in reports:
        monkeypatch.setattr(dot_amx, "_ready", [])
        monkeypatch.setattr(dot_amx_check, "self_test", lambda hardware=True, r=report: r)
        assert dot_amx.key_part(amx) == ";amx=auto" and dot_amx._ready == []  # not asked
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            assert dot_amx.mode(amx) == want and dot_amx.mode(amx) == want  # asked once
        assert len(seen) == (0 if want == "hw" else 1)
        assert dot_amx.key_part(amx) == (";amx=auto" if want == "hw" else "")


def test_sapphire_rapids_object_holds_the_instructions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Compile-only for a CPU with AMX: the object code holds ldtilecfg, tileloadd,
    tdpbf16ps (C tmm0 += A tmm4 . B tmm6), tilestored and tilerelease. Only where this host
    has AMX (faked: the code runs here, the process asked Linux): code for another CPU gets
    none."""
    from tritium.backends.cpu import target as tg
    from tritium.backends.cpu.target import compiling_for
    from tritium.backends.driver import driver
    from tritium.compiler import ASTSource
    from tritium.compiler.stages import run_stages
    from tutorials import matmul

    monkeypatch.delenv("TRITIUM_CPU_AMX", raising=False)
    monkeypatch.setattr(dot_amx, "permitted", lambda: True)
    signature = {p: "*bf16" for p in ("a_ptr", "b_ptr")} | {"c_ptr": "*fp16"}
    signature |= {p: "i32" for p in ("M", "N", "K", "stride_am", "stride_bk", "stride_cm")}
    constexprs = {"stride_ak": 1, "stride_bn": 1, "stride_cn": 1, "ACTIVATION": ""}
    constexprs |= {"BLOCK_SIZE_M": 64, "BLOCK_SIZE_N": 64, "BLOCK_SIZE_K": 64, "GROUP_SIZE_M": 8}
    src = ASTSource(matmul.matmul_kernel.fn, signature, constexprs, {})
    with compiling_for("sapphirerapids", _SAPPHIRE):
        art = run_stages(src, driver.active.get_current_target(), {})
    assert "tdpbf16ps" not in art.asm["llir"]  # code for another CPU: its process never asked
    monkeypatch.setattr(tg, "missing_features", lambda features: [])  # as on an AMX host
    with compiling_for("sapphirerapids", _SAPPHIRE):
        art = run_stages(src, driver.active.get_current_target(), {})
    obj, text = bytes(art.binary), art.asm["asm"]
    encodings = {  # each instruction's every copy, whatever registers address its memory
        "ldtilecfg": _vex(0x78, 0x49, reg=0, sib=False),
        "tilerelease": re.compile(re.escape(bytes.fromhex("c4e27849c0"))),
        "tileloadd": _vex(0x7B, 0x4B, reg=None, sib=True),  # 3 of 8 address through r8-r15
        "tilestored": _vex(0x7A, 0x4B, reg=None, sib=True),
        "tdpbf16ps": re.compile(  # tmm += tmm . tmm: vvvv (byte 2) and ModRM (mod 11) any
            b"\\xc4\\xe2["
            + b"".join(re.escape(bytes([0x42 | v << 3])) for v in range(8))
            + b"]\\x5c[\\xc0-\\xff]"
        ),
    }
    for name, code in encodings.items():
        want = text.count(f"\t{name}\t") + text.count(f"\t{name}\n")
        assert want > 0 and len(code.findall(obj)) == want, name
    assert "tdpbf16ps\t%tmm6, %tmm4, %tmm0" in text and bytes.fromhex("c4e24a5cc4") in obj
    assert "tritium.amx.tdpbf16ps" not in art.asm["llir"]  # not the emulation
    # ldtilecfg at the microkernel's start and after each block's fused C store, tilerelease
    # before that store (no tiles held over its code) and at the end
    assert art.asm["llir"].count("ldtilecfg") == 2 and art.asm["llir"].count("tilerelease") == 2


def _vex(pp_byte: int, opcode: int, reg: int | None, sib: bool) -> re.Pattern[bytes]:
    """A 3-byte VEX instruction of map 0F38 (W0, L0, no vvvv: its third byte ``pp_byte``)
    with a memory operand, whatever its registers: VEX's inverted R, X and B bits (byte 1's
    top bits, set by r8-r15 in the address) take any value, ModRM's mod any but 11, its reg
    field ``reg`` (None: any tmm), its rm 100 (a SIB byte follows) where ``sib``."""
    rxb = b"".join(re.escape(bytes([x << 5 | 0x02])) for x in range(8))
    keep = [
        x
        for x in range(256)
        if x >> 6 != 3 and reg in (None, (x >> 3) & 7) and (not sib or x & 7 == 4)
    ]
    pattern = b"\\xc4[" + rxb + b"]" + re.escape(bytes([pp_byte, opcode]))
    return re.compile(pattern + b"[" + b"".join(re.escape(bytes([x])) for x in keep) + b"]")


def _dot_loop_args(dtype: np.dtype) -> tuple[object, ...]:  # type: ignore[type-arg]
    """_dot_loop's arguments for one 32 x 32 block over K = 64."""
    rng = np.random.default_rng(3)
    a = rng.standard_normal((32, 64)).astype(dtype)
    b = rng.standard_normal((64, 32)).astype(dtype)
    return a, b, np.full((32, 32), np.nan, np.float32), 64


def _dot_loop_ref(args: tuple[object, ...]) -> np.ndarray:  # type: ignore[type-arg]
    a, b = (np.asarray(x, np.float64) for x in args[:2])
    return a @ b


@triton.jit
def _dot_loop(a_ptr, b_ptr, c_ptr, K, BLOCK: tl.constexpr, BLOCK_K: tl.constexpr):  # type: ignore[no-untyped-def]
    rows = tl.arange(0, BLOCK)
    ks = tl.arange(0, BLOCK_K)
    acc = tl.zeros((BLOCK, BLOCK), tl.float32)
    for k0 in range(0, K, BLOCK_K):
        a = tl.load(a_ptr + rows[:, None] * K + (k0 + ks)[None, :])
        b = tl.load(b_ptr + (k0 + ks)[:, None] * BLOCK + rows[None, :])
        acc += tl.dot(a, b)
    tl.store(c_ptr + rows[:, None] * BLOCK + rows[None, :], acc)


def test_aot_libraries_get_no_amx(monkeypatch: pytest.MonkeyPatch) -> None:
    """``tritium.tools.aot``'s libraries run in a process that never asked Linux for the tile
    state: their K loops keep the packed path even where this process's JIT code takes AMX
    (faked here: AMX features, permission granted, self-test passed)."""
    from contextlib import nullcontext

    from tritium.backends.cpu import target as tg
    from tritium.tools import aot

    monkeypatch.delenv("TRITIUM_CPU_AMX", raising=False)
    monkeypatch.setenv("TRITIUM_CPU_FEATURES", "+amx-tile,+amx-bf16,+amx-int8")
    monkeypatch.setattr(tg, "missing_features", lambda features: [])
    monkeypatch.setattr(dot_amx, "permitted", lambda: True)
    assert dot_amx.mode(tg.host_target()) == "hw"
    with dot_amx.elsewhere():
        assert dot_amx.mode(tg.host_target()) == "off"
        assert dot_amx.key_part(tg.host_target()) == ";amx=auto"  # the JIT's key, unchanged
    v = aot.parse_specialization(_dot_loop, "*bf16, *bf16, *fp32, i32, 32, 32")
    irs = {level: aot._compile_variant(_dot_loop, v, level)[0] for level in ("host", "x86-64-v4")}
    for level, ir in irs.items():
        assert "tileloadd" not in ir and "tdpbf16ps" not in ir, level
    if tg.host_target().has("avx512bf16"):
        assert "avx512bf16.dpbf16ps" in irs["host"]  # the packed path
    monkeypatch.setattr(dot_amx, "elsewhere", nullcontext)  # as without the guard
    ir, _, _ = aot._compile_variant(_dot_loop, v, "host")
    assert "tdpbf16ps %tmm6, %tmm4, %tmm0" in ir


def test_no_request_without_a_tile_dot(amx_host: list[str]) -> None:
    """On a host with AMX (faked), a process whose kernels take no tiles never asks Linux for
    the tile state nor runs the self-test, cache key computed, fp32 dot compiled, loaded and
    run; the first bf16 dot that wants tiles asks (once)."""
    from tritium.backends.cpu import CPUBackend

    assert CPUBackend().target_key().endswith(";amx=auto")
    args = _dot_loop_args(np.dtype(np.float32))
    _dot_loop.cache.clear()
    _dot_loop[(1,)](*args, BLOCK=32, BLOCK_K=32)
    np.testing.assert_allclose(args[2], _dot_loop_ref(args), rtol=1e-4, atol=1e-4)
    assert amx_host == []
    bf16 = _dot_loop_args(np.dtype(ml_dtypes.bfloat16))
    kernel = _dot_loop.warmup(*bf16, BLOCK=32, BLOCK_K=32, grid=(1,))  # compiled, not run
    assert amx_host == ["request", "self-test"] and kernel.metadata["amx"]


def test_a_refused_process_loads_no_amx_code(
    amx_host: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Code with tiles in the disk cache (a granted process compiled it) is not loaded by a
    process that Linux refused: it compiles the kernel again without tiles, under its own
    key, runs it correctly, and leaves the cached AMX code to the next granted process."""
    from tritium.compiler.cache import DiskCache

    args = _dot_loop_args(np.dtype(ml_dtypes.bfloat16))
    _dot_loop.cache.clear()
    granted = _dot_loop.warmup(*args, BLOCK=32, BLOCK_K=32, grid=(1,))
    assert granted.metadata["amx"] and "tdpbf16ps %tmm" in granted.asm["llir"]
    monkeypatch.setattr(dot_amx, "_ready", [])  # another process, refused
    monkeypatch.setattr(dot_amx, "_request", lambda: False)
    _dot_loop.cache.clear()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        refused = _dot_loop.warmup(*args, BLOCK=32, BLOCK_K=32, grid=(1,))
    assert not seen, [str(w.message) for w in seen]  # no "failed to load; rebuilding"
    assert "amx" not in refused.metadata and "tileloadd" not in refused.asm["llir"]
    assert refused.hash != granted.hash
    _dot_loop[(1,)](*args, BLOCK=32, BLOCK_K=32)
    np.testing.assert_allclose(args[2], _dot_loop_ref(args), rtol=1e-2, atol=1e-2)
    entry = DiskCache().load(granted.hash)
    assert entry is not None and entry.metadata["amx"]  # kept
    monkeypatch.setattr(dot_amx, "_ready", [])  # a granted process again: the AMX code
    monkeypatch.setattr(dot_amx, "_request", lambda: True)
    _dot_loop.cache.clear()
    again = _dot_loop.warmup(*args, BLOCK=32, BLOCK_K=32, grid=(1,))
    assert again.hash == granted.hash and again.metadata["amx"]


def test_a_refusal_while_compiling_stores_under_the_refused_key(
    amx_host: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process refused at its first tile dot (the key said ``;amx=auto`` before it asked)
    stores the code it made without tiles under its refused key: a granted process later
    compiles its own AMX code."""
    monkeypatch.setattr(dot_amx, "_request", lambda: False)
    args = _dot_loop_args(np.dtype(ml_dtypes.bfloat16))
    _dot_loop.cache.clear()
    refused = _dot_loop.warmup(*args, BLOCK=32, BLOCK_K=64, grid=(1,))
    assert "amx" not in refused.metadata
    monkeypatch.setattr(dot_amx, "_ready", [])
    monkeypatch.setattr(dot_amx, "_request", lambda: True)
    _dot_loop.cache.clear()
    granted = _dot_loop.warmup(*args, BLOCK=32, BLOCK_K=64, grid=(1,))
    assert granted.metadata["amx"] and granted.hash != refused.hash


def test_the_request_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    """No libc or no syscall(): AMX off, one warning, asked once (not raised at every dot);
    on another OS no Linux system call is made at all."""
    import ctypes

    def no_libc(*args: object, **kwargs: object) -> None:
        raise OSError("no libc here")

    monkeypatch.setattr(dot_amx, "_ready", [])
    monkeypatch.setattr(ctypes, "CDLL", no_libc)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert dot_amx.permitted() is False and dot_amx.permitted() is False
    assert len(seen) == 1 and "no libc here" in str(seen[0].message)
    calls: list[object] = []
    monkeypatch.setattr(dot_amx, "_ready", [])
    monkeypatch.setattr(ctypes, "CDLL", lambda *args, **kwargs: calls.append(args))
    monkeypatch.setattr(dot_amx.sys, "platform", "win32")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert dot_amx.permitted() is False
    assert calls == [] and not seen


def test_a_fork_child_gets_a_free_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fork while a thread holds dot_amx's lock (here the forking one) leaves the child a
    free lock: it asks and answers instead of hanging (killed by an alarm after 10 s)."""
    monkeypatch.setattr(dot_amx, "_ready", [])
    monkeypatch.setattr(dot_amx, "_request", lambda: False)
    with dot_amx._lock:
        pid = os.fork()
        if pid == 0:  # the child
            signal.alarm(10)
            try:
                os._exit(0 if dot_amx.permitted() is False else 1)
            finally:
                os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status


def test_elsewhere_holds_for_its_thread_only(amx_host: list[str]) -> None:
    """An AOT build's elsewhere() in one thread leaves another thread's JIT code its AMX."""
    seen: list[str] = []
    with dot_amx.elsewhere():
        assert dot_amx.mode(host_target()) == "off"
        other = threading.Thread(target=lambda: seen.append(dot_amx.mode(host_target())))
        other.start()
        other.join()
        assert dot_amx.mode(host_target()) == "off"
    assert seen == ["hw"] and dot_amx.mode(host_target()) == "hw"
