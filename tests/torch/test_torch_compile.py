"""``torch.compile`` beside tritium: Inductor's C++ backend, Inductor's Triton backend through
tritium (compiled and interpreted), user kernels with ``fullgraph=True``, ``triton_op``.

Each mode runs in a subprocess (torch looks for Triton once per process); the cases are tiny
so that the cost is torch's own compile time, a few seconds per case.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

pytest.importorskip("torch")

CASES = pathlib.Path(__file__).with_name("torch_compile_cases.py")
ROOT = CASES.parent.parent.parent


def _run(mode: str, tmp_path: pathlib.Path, extra_env: dict[str, str]) -> list[dict]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env["TORCHINDUCTOR_CACHE_DIR"] = str(tmp_path / "inductor")  # fresh: kernels are generated
    env["TORCHINDUCTOR_COMPILE_THREADS"] = "1"
    env.update(extra_env)
    proc = subprocess.run(
        [sys.executable, str(CASES), mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    if rows and "skip" in rows[0]:
        pytest.skip(rows[0]["skip"])
    return rows


def test_torch_compile_compiled(tmp_path: pathlib.Path) -> None:
    rows = {r["case"]: r for r in _run("compiled", tmp_path, {})}
    assert set(rows) == {
        "cpp_backend",
        "triton_softmax",
        "triton_layernorm",
        "triton_argmax",
        "triton_strided",
        "user_kernel_fullgraph",
        "triton_op",
    }
    for case, row in rows.items():
        assert row["ok"], (case, row)
        assert row["interpreted"] == 0, row
    # (a) the default CPU backend stays Inductor's C++ code; (2) the Triton one is tritium's
    assert rows["cpp_backend"]["cpp_kernels"] > 0 and rows["cpp_backend"]["triton_kernels"] == 0
    for case in ("triton_softmax", "triton_layernorm", "triton_argmax", "triton_strided"):
        assert rows[case]["triton_kernels"] > 0 and rows[case]["cpp_kernels"] == 0, rows[case]
    # kernels that call math (exp, sin, rsqrt, sigmoid) get two registers per vector chunk;
    # argmax/amax keep the host's width (they checked against float64 eager above)
    for case in ("triton_softmax", "triton_layernorm"):
        assert rows[case]["widths"] and set(rows[case]["widths"].values()) == {16}, rows[case]
    assert rows["triton_argmax"]["widths"], rows["triton_argmax"]
    assert set(rows["triton_argmax"]["widths"].values()) == {None}, rows["triton_argmax"]


def test_calls_math_finds_inductor_math_calls() -> None:
    from tritium.runtime.torch_integration import calls_math

    for src in (
        "tmp3 = tl_math.exp(tmp2)",
        "tmp28 = libdevice.erf(tmp27)",
        "tmp5 = tl.sigmoid(tmp4)",
        "tmp1 = libdevice.rsqrt(tmp0)",
        "tmp2 = tl.sqrt_rn(tmp1)",
        "y = tl.math.tanh (x)",
    ):
        assert calls_math(src), src
    for src in (
        "tmp2 = tl.sum(_tmp2, 1)[:, None]",
        "tmp3 = triton_helpers.maximum(tmp1, tmp2)",
        "_tmp2 = tl.where(r0_mask, tmp3, _tmp2)  # expected exp_sum",
        "",
    ):
        assert not calls_math(src), src


def test_torch_compile_interpreted(tmp_path: pathlib.Path) -> None:
    rows = _run("interpreted", tmp_path, {"TRITON_INTERPRET": "1"})
    cases = ["triton_softmax", "triton_layernorm", "triton_argmax", "triton_strided"]
    assert [r["case"] for r in rows] == cases
    for row in rows:
        assert row["ok"], row
        assert row["triton_kernels"] > 0
    assert rows[-1]["interpreted"] > 0  # the kernels ran in tritium's interpreter


def test_custom_op_without_alias(tmp_path: pathlib.Path) -> None:
    (row,) = _run("no_alias", tmp_path, {})
    assert row["case"] == "custom_op_no_alias" and row["ok"], row
