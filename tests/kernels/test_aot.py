"""Ahead-of-time compilation with the real stages: ``tritium.compile(ASTSource(...))``."""

from __future__ import annotations

import numpy as np

import tritium
from tritium.compiler import ASTSource
from tutorials import matmul, vector_add


def test_compile_vector_add_without_running(rng) -> None:
    src = ASTSource(
        vector_add.add_kernel,
        {"x_ptr": "*fp32", "y_ptr": "*fp32", "output_ptr": "*fp32", "n_elements": "i32"},
        constexprs={"BLOCK_SIZE": 256},
    )
    k = tritium.compile(src)
    assert "tt.func" in k.asm["ttir"] and "add_kernel" in k.asm["ttir"]
    assert "define" in k.asm["llir"]
    assert k.asm.get("asm")
    n = 1000
    x, y = rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32)
    out = np.full(n, np.nan, np.float32)
    k[(tritium.cdiv(n, 256),)](x, y, out, n)
    np.testing.assert_allclose(out, x.astype(np.float64) + y, rtol=1e-6)


def test_compile_tutorial_matmul() -> None:
    signature = {
        "a_ptr": "*fp16",
        "b_ptr": "*fp16",
        "c_ptr": "*fp16",
        "M": "i32",
        "N": "i32",
        "K": "i32",
        "stride_am": "i32",
        "stride_ak": "i32",
        "stride_bk": "i32",
        "stride_bn": "i32",
        "stride_cm": "i32",
        "stride_cn": "i32",
    }
    constexprs = {
        "BLOCK_SIZE_M": 32,
        "BLOCK_SIZE_N": 32,
        "BLOCK_SIZE_K": 32,
        "GROUP_SIZE_M": 4,
        "ACTIVATION": "leaky_relu",
    }
    k = tritium.compile(
        ASTSource(
            matmul.matmul_kernel.fn, signature, constexprs, attrs={"a_ptr": {"tt.divisibility": 16}}
        )
    )
    assert "tt.dot" in k.asm["ttir"] and k.asm["llir"]
    assert k.metadata["constants"]["ACTIVATION"] == "leaky_relu"


def test_dump_and_override_stages(rng, tmp_path, monkeypatch) -> None:
    """Every stage is dumped; a hand-edited .ttir replaces the compiler's IR."""
    from tritium import knobs
    from tritium.compiler import stages

    dump, override = tmp_path / "dump", tmp_path / "override"
    override.mkdir()
    monkeypatch.setattr(knobs, "kernel_dump_dir", lambda: str(dump), raising=False)
    monkeypatch.setattr(knobs, "kernel_override_dir", lambda: "", raising=False)
    signature = {"x_ptr": "*fp32", "y_ptr": "*fp32", "output_ptr": "*fp32", "n_elements": "i32"}
    src = ASTSource(vector_add.add_kernel, signature, constexprs={"BLOCK_SIZE": 128})
    tritium.compile(src)
    (ttir,) = dump.rglob("add_kernel.ttir")
    assert ttir.with_suffix(".llir").exists() and ttir.with_suffix(".asm").exists()
    # each Tile IR stage of compiler/stages.py's STAGES, numbered in pipeline order
    names = sorted(p.name for p in ttir.parent.glob("add_kernel.*-*.ttir"))
    assert names == [f"add_kernel.{n}-{s}.ttir" for n, s in enumerate(stages.STAGES, 1)][:-1]
    assert '"tt.func"' in ttir.with_suffix(".1-frontend.ttir").read_text()
    assert ttir.with_suffix(".4-bounds-check.ttir").read_text() == ttir.read_text()
    text = ttir.read_text()
    assert '"arith.addf"' in text
    (override / "add_kernel.ttir").write_text(text.replace('"arith.addf"', '"arith.subf"'))
    monkeypatch.setattr(knobs, "kernel_override_dir", lambda: str(override), raising=False)
    k = tritium.compile(src)
    n = 300
    x, y = rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32)
    out = np.full(n, np.nan, np.float32)
    k[(tritium.cdiv(n, 128),)](x, y, out, n)
    np.testing.assert_allclose(out, x.astype(np.float64) - y, rtol=1e-6)
