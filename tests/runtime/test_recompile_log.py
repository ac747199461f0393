"""TRITIUM_LOG_RECOMPILES=1 says why a kernel compiles again."""

from __future__ import annotations

import numpy as np
import pytest

import tritium
import tritium.language as tl


@tritium.jit
def add_one(src, dst, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(dst + offs, tl.load(src + offs, mask=offs < n) + 1, mask=offs < n)


def test_recompile_log_names_what_changed(fake_stages, monkeypatch, capsys) -> None:
    monkeypatch.setenv("TRITIUM_LOG_RECOMPILES", "1")
    add_one.cache.clear()
    add_one.__dict__.pop("_specializations", None)
    x32, y32 = np.zeros(64, np.float32), np.zeros(64, np.float32)
    add_one[(1,)](x32, y32, 64, BLOCK=64)
    assert capsys.readouterr().err == ""  # a first compile is not a recompile
    add_one[(1,)](x32, y32, 64, BLOCK=64)
    assert capsys.readouterr().err == ""  # a cache hit
    add_one[(1,)](x32.astype(np.float16), y32, 64, BLOCK=64)
    assert "argument 'src' dtype '*fp32' -> '*fp16'" in capsys.readouterr().err
    add_one[(1,)](x32, y32, 64, BLOCK=32)
    assert "argument 'BLOCK' constexpr 64 -> 32" in capsys.readouterr().err
    add_one[(1,)](x32[1:], y32, 63, BLOCK=64)  # src no longer 16-byte aligned
    err = capsys.readouterr().err
    assert "argument 'src' specialization hint" in err and "argument 'n'" in err, err


def test_no_log_unless_asked(fake_stages, monkeypatch, capsys) -> None:
    monkeypatch.delenv("TRITIUM_LOG_RECOMPILES", raising=False)
    add_one.cache.clear()
    x = np.zeros(64, np.float32)
    add_one[(1,)](x, x, 64, BLOCK=64)
    add_one[(1,)](x, x, 64, BLOCK=16)
    assert capsys.readouterr().err == ""


pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
