"""Memory model: masks and ``other``, atomics, block pointers, pointer casts, aliasing."""

from __future__ import annotations

import numpy as np
import pytest

import tritium.language as tl
from tritium.interpreter import launcher, run_kernel

from ._helpers import poison


def gather_kernel(src_ptr, idx_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    i = tl.load(idx_ptr + offs, mask=m, other=0)
    v = tl.load(src_ptr + i, mask=m & (i % 3 != 0), other=-7.5)
    tl.store(out_ptr + offs, v, mask=m)


def test_gather_with_mask_and_other(run, rng):
    src = rng.standard_normal(50).astype(np.float32)
    idx = rng.integers(0, 50, 77).astype(np.int32)
    out = poison(77, np.float32)
    run(gather_kernel, (3,), src_ptr=src, idx_ptr=idx, out_ptr=out, n=77, BLOCK=32)
    np.testing.assert_array_equal(out, np.where(idx % 3 != 0, src[idx], -7.5))


def histogram_kernel(x_ptr, hist_ptr, old_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    b = tl.load(x_ptr + offs, mask=m, other=0)
    old = tl.atomic_add(hist_ptr + b, 1, mask=m)
    tl.store(old_ptr + offs, old, mask=m)


def test_atomic_add_sequential_old_values(rng):
    x = rng.integers(0, 5, 100).astype(np.int32)
    hist = np.zeros(5, np.int32)
    old = poison(100, np.int32)
    run_kernel(histogram_kernel, (4,), dict(x_ptr=x, hist_ptr=hist, old_ptr=old, n=100, BLOCK=32))
    np.testing.assert_array_equal(hist, np.bincount(x, minlength=5))
    # program order, then lane order: each lane sees the count of earlier equal values
    ref = [int((x[:i] == x[i]).sum()) for i in range(100)]
    np.testing.assert_array_equal(old, ref)


def atomics_kernel(p_ptr, v_ptr, out_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    v = tl.load(v_ptr + offs)
    pid = tl.program_id(0)
    o = tl.atomic_max(p_ptr + offs, v)
    o += tl.atomic_min(p_ptr + BLOCK + offs, v)
    o += tl.atomic_and(p_ptr + 2 * BLOCK + offs, v + pid)
    o += tl.atomic_or(p_ptr + 3 * BLOCK + offs, v + pid)
    o += tl.atomic_xor(p_ptr + 4 * BLOCK + offs, v * pid)
    o += tl.atomic_xchg(p_ptr + 5 * BLOCK + offs, v - pid)
    o += tl.atomic_cas(p_ptr + 6 * BLOCK + offs, pid, pid + 1)
    tl.store(out_ptr + pid * BLOCK + offs, o)


def test_atomic_ops_match_sequential_reference(rng):
    B, P = 8, 3
    v = rng.integers(-50, 50, B).astype(np.int32)
    mem = rng.integers(-50, 50, 7 * B).astype(np.int32)
    mem[6 * B :] = rng.integers(0, 2, B)
    out = poison(P * B, np.int32)
    ref_mem = mem.astype(np.int64).copy()
    ref_out = np.zeros((P, B), np.int64)
    for pid in range(P):
        r = ref_mem.reshape(7, B)
        o = r[0].copy()
        r[0] = np.maximum(r[0], v)
        o += r[1]
        r[1] = np.minimum(r[1], v)
        o += r[2]
        r[2] &= v + pid
        o += r[3]
        r[3] |= v + pid
        o += r[4]
        r[4] ^= v * pid
        o += r[5]
        r[5] = v - pid
        o += r[6]
        r[6] = np.where(r[6] == pid, pid + 1, r[6])
        ref_out[pid] = o
    run_kernel(atomics_kernel, (P,), dict(p_ptr=mem, v_ptr=v, out_ptr=out, BLOCK=B))
    np.testing.assert_array_equal(mem, ref_mem)
    np.testing.assert_array_equal(out.reshape(P, B), ref_out)


def float_atomic_kernel(acc_ptr, x_ptr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.atomic_add(acc_ptr, tl.sum(tl.load(x_ptr + offs), axis=0))


def test_float_atomic_add_scalar(rng):
    x = rng.standard_normal(256).astype(np.float32)
    acc = np.zeros(1, np.float32)
    run_kernel(float_atomic_kernel, (8,), dict(acc_ptr=acc, x_ptr=x, BLOCK=32))
    np.testing.assert_allclose(acc[0], x.astype(np.float64).sum(), rtol=1e-5)


def lock_kernel(lock_ptr, count_ptr):
    while tl.atomic_cas(lock_ptr, 0, 1) == 1:
        pass
    c = tl.load(count_ptr)
    tl.store(count_ptr, c + 1)
    tl.atomic_xchg(lock_ptr, 0)


def test_spin_lock():
    lock = np.zeros(1, np.int32)
    count = np.zeros(1, np.int32)
    run_kernel(lock_kernel, (6,), dict(lock_ptr=lock, count_ptr=count))
    assert count[0] == 6 and lock[0] == 0


def block_ptr_kernel(a_ptr, out_ptr, M, N, sm, sn, BM: tl.constexpr, BN: tl.constexpr):
    pid = tl.program_id(0)
    src = tl.make_block_ptr(a_ptr, (M, N), (sm, sn), (pid * BM, 0), (BM, BN), (1, 0))
    dst = tl.make_block_ptr(out_ptr, (M, N), (N, 1), (pid * BM, 0), (BM, BN), (1, 0))
    for _ in range(tl.cdiv(N, BN)):
        x = tl.load(src, boundary_check=(0, 1), padding_option="zero")
        tl.store(dst, x * 2, boundary_check=(0, 1))
        src = tl.advance(src, (0, BN))
        dst = tl.advance(dst, (0, BN))


def test_block_pointers(run, rng):
    M, N = 19, 23
    a = rng.standard_normal((N, M)).astype(np.float32).T  # column-major view
    out = poison((M, N), np.float32)
    run(block_ptr_kernel, (-(-M // 8),), a_ptr=a, out_ptr=out, M=M, N=N, sm=1, sn=M, BM=8, BN=8)
    np.testing.assert_array_equal(out, a * 2)


def pointer_cast_kernel(x_ptr, out_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    as_bytes = x_ptr.to(tl.pointer_type(tl.uint8))
    b = tl.load(as_bytes + offs)  # the bytes of the first BLOCK // 4 floats
    addr = x_ptr.to(tl.int64)
    p = addr.to(tl.pointer_type(tl.float32))
    tl.store(out_ptr + offs, b.to(tl.float32) + tl.load(p + offs // 4))


def test_pointer_casts(rng):
    x = rng.standard_normal(16).astype(np.float32)
    out = poison(16, np.float32)
    run_kernel(pointer_cast_kernel, (1,), dict(x_ptr=x, out_ptr=out, BLOCK=16))
    ref = x[:4].view(np.uint8).astype(np.float32) + np.repeat(x[:4], 4)
    np.testing.assert_array_equal(out, ref)


def copy_kernel(src_ptr, dst_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(dst_ptr + offs, tl.load(src_ptr + offs, mask=offs < n), mask=offs < n)


def test_bool_and_uint_arrays(run, rng):
    b = rng.integers(0, 2, 40).astype(bool)
    out = np.zeros(40, bool)
    run(copy_kernel, (2,), src_ptr=b, dst_ptr=out, n=40, BLOCK=32)
    np.testing.assert_array_equal(out, b)
    u = rng.integers(0, 2**63, 40, dtype=np.uint64)
    uo = poison(40, np.uint64)
    run(copy_kernel, (2,), src_ptr=u, dst_ptr=uo, n=40, BLOCK=32)
    np.testing.assert_array_equal(uo, u)


def test_read_only_array_is_refused(rng):
    x = rng.standard_normal(8).astype(np.float32)
    ro = np.zeros(8, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        run_kernel(copy_kernel, (1,), dict(src_ptr=x, dst_ptr=ro, n=8, BLOCK=8))


def test_missing_and_unknown_arguments(rng):
    x = rng.standard_normal(8).astype(np.float32)
    with pytest.raises(TypeError, match="missing argument 'n'"):
        run_kernel(copy_kernel, (1,), dict(src_ptr=x, dst_ptr=x, BLOCK=8))
    with pytest.raises(TypeError, match="unexpected"):
        run_kernel(copy_kernel, (1,), dict(src_ptr=x, dst_ptr=x, n=8, BLOCK=8, bogus=1))
    with pytest.raises(ValueError, match="grid"):
        run_kernel(copy_kernel, (-1,), dict(src_ptr=x, dst_ptr=x, n=8, BLOCK=8))


def test_vectorized_batches_cover_large_grids(rng):
    n = 70000
    x = rng.standard_normal(n).astype(np.float32)
    out = poison(n, np.float32)
    run_kernel(copy_kernel, (-(-n // 16),), dict(src_ptr=x, dst_ptr=out, n=n, BLOCK=16))
    assert launcher.last_mode == "vectorized"
    np.testing.assert_array_equal(out, x)


def dup_atomics_kernel(a_ptr, x_ptr, y_ptr, v_ptr, old_ptr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = tl.arange(0, BLOCK)
    idx = tl.load(v_ptr + pid * BLOCK + offs)  # lanes and programs repeat addresses
    val = pid * 100 + offs
    o1 = tl.atomic_add(a_ptr + idx, val)
    o2 = tl.atomic_xor(x_ptr + idx, val)
    o3 = tl.atomic_xchg(y_ptr + idx, val)
    tl.store(old_ptr + pid * 3 * BLOCK + offs, o1)
    tl.store(old_ptr + pid * 3 * BLOCK + BLOCK + offs, o2)
    tl.store(old_ptr + pid * 3 * BLOCK + 2 * BLOCK + offs, o3)


def test_atomics_with_repeated_addresses_match_sequential(rng):
    P, B = 5, 16
    idx = rng.integers(0, 8, P * B).astype(np.int32)
    results = []
    for vectorize in (True, False):
        a = np.arange(8, dtype=np.int32) * 7
        x = np.arange(8, dtype=np.int32) * 3
        y = np.arange(8, dtype=np.int32) * 5
        old = poison(P * 3 * B, np.int32)
        run_kernel(
            dup_atomics_kernel,
            (P,),
            dict(a_ptr=a, x_ptr=x, y_ptr=y, v_ptr=idx, old_ptr=old, BLOCK=B),
            vectorize=vectorize,
        )
        if vectorize:
            assert launcher.last_mode == "vectorized"
        results.append((a, x, y, old))
    for got, ref in zip(results[0], results[1]):
        np.testing.assert_array_equal(got, ref)
    a_ref = np.arange(8, dtype=np.int64) * 7
    for p in range(P):
        for lane in range(B):
            a_ref[idx[p * B + lane]] += p * 100 + lane
    np.testing.assert_array_equal(results[0][0], a_ref)


def test_atomics_fall_back_when_memory_is_shared(rng):
    lock = np.zeros(1, np.int32)
    count = np.zeros(1, np.int32)
    run_kernel(lock_kernel, (6,), dict(lock_ptr=lock, count_ptr=count))
    assert launcher.last_mode in ("mixed", "sequential") and count[0] == 6
    x = rng.integers(0, 5, 64).astype(np.int32)
    hist = np.zeros(5, np.int32)
    old = poison(64, np.int32)
    run_kernel(histogram_kernel, (4,), dict(x_ptr=x, hist_ptr=hist, old_ptr=old, n=64, BLOCK=16))
    assert launcher.last_mode == "vectorized"
    np.testing.assert_array_equal(hist, np.bincount(x, minlength=5))


def descriptor_kernel(a_ptr, out_ptr, M, N, BM: tl.constexpr, BN: tl.constexpr):
    pid = tl.program_id(0)
    src = tl.make_tensor_descriptor(a_ptr, (M, N), (N, 1), (BM, BN))
    dst = tl.make_tensor_descriptor(out_ptr, (M, N), (N, 1), (BM, BN))
    for j in range(tl.cdiv(N, BN)):
        x = src.load([pid * BM, j * BN])  # out of bounds lanes read 0
        dst.store([pid * BM, j * BN], x + 1)  # and are not written


def test_tensor_descriptors(run, rng):
    M, N = 10, 13
    a = rng.standard_normal((M, N)).astype(np.float32)
    out = poison((M, N), np.float32)
    run(descriptor_kernel, (-(-M // 4),), a_ptr=a, out_ptr=out, M=M, N=N, BM=4, BN=8)
    np.testing.assert_array_equal(out, a + 1)


class _DLPackOnly:
    """An array known only through the DLPack protocol."""

    def __init__(self, arr: np.ndarray) -> None:
        self.arr = arr

    def __dlpack__(self, **kwargs):
        return self.arr.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self.arr.__dlpack_device__()


class _InterfaceOnly:
    """An array known only through ``__array_interface__``."""

    def __init__(self, arr: np.ndarray) -> None:
        self.arr = arr
        self.__array_interface__ = arr.__array_interface__


def test_dlpack_and_array_interface_arguments(rng):
    x = rng.standard_normal(40).astype(np.float32)
    out = poison(40, np.float32)
    run_kernel(
        copy_kernel, (2,), dict(src_ptr=_DLPackOnly(x), dst_ptr=_InterfaceOnly(out), n=40, BLOCK=32)
    )
    np.testing.assert_array_equal(out, x)


def select_pointer_kernel(a_ptr, b_ptr, out_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    p = tl.where(offs % 2 == 0, a_ptr + offs, b_ptr + offs)  # lanes from two arguments
    tl.store(out_ptr + offs, tl.load(p))


def test_pointers_selected_from_two_arguments(run, rng):
    a = rng.standard_normal(16).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    out = poison(16, np.float32)
    run(select_pointer_kernel, (1,), a_ptr=a, b_ptr=b, out_ptr=out, BLOCK=16)
    np.testing.assert_array_equal(out, np.where(np.arange(16) % 2 == 0, a, b))


def pointer_table_kernel(table_ptr, out_ptr, a_ptr, b_ptr, BLOCK: tl.constexpr):
    # a_ptr and b_ptr are unused: passing them makes their memory part of the launch
    offs = tl.arange(0, BLOCK)
    addrs = tl.load(table_ptr + offs % 2)  # int64 addresses of two different arrays
    p = addrs.to(tl.pointer_type(tl.float32)) + offs // 2
    tl.store(out_ptr + offs, tl.load(p))


def test_pointers_loaded_from_memory(run, rng):
    a = rng.standard_normal(4).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    table = np.array([a.ctypes.data, b.ctypes.data], np.int64)
    out = poison(8, np.float32)
    run(pointer_table_kernel, (1,), table_ptr=table, out_ptr=out, a_ptr=a, b_ptr=b, BLOCK=8)
    np.testing.assert_array_equal(out, np.stack([a, b], 1).reshape(-1))


def barrier_kernel(flag_ptr):
    pid = tl.program_id(0)
    if pid == 0:
        while tl.atomic_cas(flag_ptr, 1, 1) == 0:  # waits for program 1, which runs later
            pass
    tl.atomic_xchg(flag_ptr, 1)


def test_waiting_for_a_later_program_fails_instead_of_hanging(monkeypatch):
    from tritium.interpreter import engine_base

    monkeypatch.setattr(engine_base, "_SPIN_LIMIT", 200)
    with pytest.raises(RuntimeError, match="waits for another program"):
        run_kernel(barrier_kernel, (2,), dict(flag_ptr=np.zeros(1, np.int32)))


def host_descriptor_kernel(desc_in, desc_out, BM: tl.constexpr, BK: tl.constexpr):
    pid_m = tl.program_id(0)
    pid_k = tl.program_id(1)
    a = desc_in.load([pid_m * BM, pid_k * BK])
    desc_out.store([pid_m * BM, pid_k * BK], a * 3)


def test_host_tensor_descriptor_arguments(run, rng):
    from tritium.runtime.tensor_descriptor import TensorDescriptor

    x = rng.standard_normal((12, 24)).astype(np.float32)
    y = poison((12, 24), np.float32)
    din = TensorDescriptor.from_tensor(x, [8, 16])
    dout = TensorDescriptor.from_tensor(y, [8, 16])
    run(host_descriptor_kernel, (2, 2), desc_in=din, desc_out=dout, BM=8, BK=16)
    np.testing.assert_array_equal(y, x * 3)


def tuple_arg_kernel(ptrs, out_ptr, scale, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(out_ptr + offs, (tl.load(ptrs[0] + offs) + tl.load(ptrs[1] + offs)) * scale[0])


def test_tuple_arguments(rng):
    a = rng.standard_normal(8).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    out = poison(8, np.float32)
    run_kernel(tuple_arg_kernel, (1,), dict(ptrs=(a, b), out_ptr=out, scale=(2.0,), BLOCK=8))
    np.testing.assert_array_equal(out, (a + b) * np.float32(2.0))


def strided_copy_kernel(src_ptr, dst_ptr, stride, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(dst_ptr + offs, tl.load(src_ptr + offs * stride))


def test_negative_strides(rng):
    base = rng.standard_normal(16).astype(np.float32)
    rev = base[::-1]  # the kernel gets its first element and walks down with stride -1
    out = poison(16, np.float32)
    run_kernel(strided_copy_kernel, (1,), dict(src_ptr=rev, dst_ptr=out, stride=-1, BLOCK=16))
    np.testing.assert_array_equal(out, rev)
    from tritium.errors import SanitizerError

    with pytest.raises(SanitizerError, match=r"valid range \[-15, 1\) elements"):
        run_kernel(strided_copy_kernel, (1,), dict(src_ptr=rev, dst_ptr=out, stride=1, BLOCK=16))
