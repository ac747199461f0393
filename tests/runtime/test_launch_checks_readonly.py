"""Unwritable outputs are refused inside tuple arguments and for torch tensors too, compiled and
interpreted: read-only arrays, stride-0 (expanded) views, and torch tensors over memory the
process may not write (``torch.from_numpy`` of a ``PROT_READ`` map), which used to crash, or
over an immutable ``bytes`` object (``torch.frombuffer``), which used to be changed in place."""

from __future__ import annotations

import mmap
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import tritium
import tritium.language as tl
from tritium.signature import unwritable_memory

pytest.importorskip("tritium.backends.cpu")


@tritium.jit
def tuple_copy(T, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(T[1] + offs, tl.load(T[0] + offs, mask=offs < n) * 2.0, mask=offs < n)


@tritium.jit
def copy(src, dst, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(dst + offs, tl.load(src + offs, mask=offs < n) * 2.0, mask=offs < n)


@pytest.fixture
def x() -> np.ndarray:
    rng = np.random.default_rng(int(os.environ.get("TRITIUM_TEST_SEED", "0")))
    return rng.standard_normal(32).astype(np.float32)


@pytest.fixture
def read_only_map(tmp_path: Path):
    """32 float32 of a file mapped PROT_READ: a store through it would fault."""
    path = tmp_path / "data.bin"
    path.write_bytes(np.full(1024, 7.0, np.float32).tobytes())
    fd = os.open(path, os.O_RDONLY)
    m = mmap.mmap(fd, 4096, prot=mmap.PROT_READ)
    os.close(fd)
    yield np.frombuffer(m, np.float32, 32)


def _refused(mode: str, name: str, what: str):
    # the interpreter reports the store (its error wraps the ValueError)
    name = re.escape(name)
    text = f"argument '{name}' of .* is {what}" if mode == "compiled" else f"'{name}', a {what}"
    return pytest.raises(Exception, match=text)


def test_read_only_element_of_a_tuple_output(mode, x) -> None:
    out = np.full(32, np.nan, np.float32)
    out.flags.writeable = False
    with _refused(mode, "T[1]", "read-only"):
        tuple_copy[(1,)]((x, out), 32, BLOCK=32)
    assert np.isnan(out).all()
    # a read-only input inside the tuple is fine
    src, out = x.copy(), np.full(32, np.nan, np.float32)
    src.flags.writeable = False
    tuple_copy[(1,)]((src, out), 32, BLOCK=32)
    np.testing.assert_array_equal(out, x * np.float32(2.0))


def test_expanded_torch_tensor_in_a_tuple_output(x) -> None:
    torch = pytest.importorskip("torch")
    out = torch.full((1,), float("nan")).expand(32)
    with pytest.raises(ValueError, match=r"argument 'T\[1\]' of tuple_copy is a view whose"):
        tuple_copy[(1,)]((torch.from_numpy(x), out), 32, BLOCK=32)
    assert torch.isnan(out).all()


def test_torch_tensor_over_a_read_only_map(mode, x, read_only_map) -> None:
    torch = pytest.importorskip("torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns that the array is not writable
        out = torch.from_numpy(read_only_map)
    with _refused(mode, "dst", "read-only"):
        copy[(1,)](x, out, 32, BLOCK=32)
    with _refused(mode, "T[1]", "read-only"):
        tuple_copy[(1,)]((x, out), 32, BLOCK=32)
    # reading it is fine
    dst = np.full(32, np.nan, np.float32)
    copy[(1,)](out, dst, 32, BLOCK=32)
    np.testing.assert_array_equal(dst, np.full(32, 14.0, np.float32))
    # and so is a tensor over writable memory torch did not allocate
    dst = np.full(32, np.nan, np.float32)
    copy[(1,)](x, torch.from_numpy(dst), 32, BLOCK=32)
    np.testing.assert_array_equal(dst, x * np.float32(2.0))


def test_read_only_map_where_writable_memory_was(mode, x, tmp_path: Path) -> None:
    # The address of a freed writable map is reused by the next map: an answer remembered for
    # the address (not for the live storage) let a store fault here (found by the full suite).
    torch = pytest.importorskip("torch")
    path = tmp_path / "data.bin"
    path.write_bytes(np.full(16384, 7.0, np.float32).tobytes())
    for _ in range(3):
        anon = mmap.mmap(-1, 65536)
        dst = torch.frombuffer(anon, dtype=torch.float32)[:32]
        copy[(1,)](x, dst, 32, BLOCK=32)  # writable: runs
        np.testing.assert_array_equal(dst.numpy(), x * np.float32(2.0))
        del dst
        anon.close()
        fd = os.open(path, os.O_RDONLY)
        ro = mmap.mmap(fd, 65536, prot=mmap.PROT_READ)
        os.close(fd)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = torch.frombuffer(ro, dtype=torch.float32)[:32]
        with _refused(mode, "dst", "read-only"):
            copy[(1,)](x, out, 32, BLOCK=32)
        del out
        ro.close()


def test_unwritable_memory_reads_the_maps(read_only_map) -> None:
    buf = np.zeros(64, np.uint8)
    assert not unwritable_memory(buf.ctypes.data, buf.nbytes)
    assert unwritable_memory(read_only_map.ctypes.data, 4)
    assert unwritable_memory(8, 8)  # no mapping at all


def test_torch_tensor_over_immutable_bytes(mode, x) -> None:
    # torch.frombuffer(bytes) only warns; the pages are writable, so a store used to change
    # the bytes object in place. Whole, at an offset, through a memoryview slice: all refused.
    torch = pytest.importorskip("torch")
    data = np.full(48, 3.0, np.float32).tobytes()
    before = bytes(bytearray(data))  # a copy that is not the same object
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns that the buffer is not writable
        outs = [
            torch.frombuffer(data, dtype=torch.float32),
            torch.frombuffer(data, dtype=torch.float32, offset=64),
            torch.frombuffer(memoryview(data)[32:], dtype=torch.float32),
        ]
    for out in outs:
        with _refused(mode, "dst", "read-only"):
            copy[(1,)](x, out, 32, BLOCK=32)
        with _refused(mode, "T[1]", "read-only"):
            tuple_copy[(1,)]((x, out), 32, BLOCK=32)
    assert data == before
    # reading it is fine, and a tensor over a writable buffer (bytearray) is written
    dst = np.full(32, np.nan, np.float32)
    copy[(1,)](outs[1], dst, 32, BLOCK=32)
    np.testing.assert_array_equal(dst, np.full(32, 6.0, np.float32))
    writable = bytearray(128)
    copy[(1,)](x, torch.frombuffer(writable, dtype=torch.float32), 32, BLOCK=32)
    np.testing.assert_array_equal(np.frombuffer(writable, np.float32), x * np.float32(2.0))


def test_inside_bytes_object_needs_the_whole_range_inside() -> None:
    from tritium.signature import inside_bytes_object

    data = bytes(range(256)) * 4
    addr = np.frombuffer(data, np.uint8).ctypes.data
    assert inside_bytes_object(addr, len(data))
    assert inside_bytes_object(addr + 100, 200)
    assert not inside_bytes_object(addr + 100, len(data))  # runs past the object's end
    for arr in (np.zeros(64, np.float32), bytearray(64)):  # writable Python/NumPy memory
        a = np.frombuffer(arr, np.uint8) if isinstance(arr, bytearray) else arr
        assert not inside_bytes_object(a.ctypes.data, a.nbytes)
