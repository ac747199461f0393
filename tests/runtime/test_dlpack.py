"""DLPack arguments read from the capsule (tritium/dlpack.py): every dtype tritium
has, compiled and interpreted; read-only exports refused for stores; devices, complex and
vector dtypes refused with errors naming the argument; JAX arrays and ``tritium.jax``."""

from __future__ import annotations

import ctypes
import os
import zlib

import ml_dtypes
import numpy as np
import pytest

import tritium
import tritium.language as tl
from tritium import dlpack

N = 300


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    seed = int(os.environ.get("TRITIUM_TEST_SEED", "0"))
    return np.random.default_rng([seed, zlib.crc32(request.node.nodeid.encode())])


@tritium.jit
def widen_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask).to(tl.float32)
    tl.store(out_ptr + offs, x * 2.0 + 1.0, mask=mask)


@tritium.jit
def scale_in_place_kernel(x_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(x_ptr + offs, tl.load(x_ptr + offs, mask=mask) * 3.0, mask=mask)


# ---- a stand-in producer: a DLPack capsule built with ctypes around a NumPy buffer -------------

_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.restype = ctypes.py_object
_capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]


class StandIn:
    """A minimal DLPack producer over ``buf`` with any dtype code, flags, device or version;
    it counts deleter calls through the capsule destructor, as real producers do."""

    _keep: list = []

    def __init__(self, buf, code, bits, *, lanes=1, flags=0, versioned=True, device=(1, 0)):
        self.buf, self.code, self.bits, self.lanes = buf, code, bits, lanes
        self.flags, self.versioned, self.device = flags, versioned, device
        self.deleted = 0

    def __dlpack_device__(self):
        return self.device

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        versioned = self.versioned and max_version is not None and max_version[0] >= 1
        shape = (ctypes.c_int64 * self.buf.ndim)(*self.buf.shape)
        strides = (ctypes.c_int64 * self.buf.ndim)(
            *(s // self.buf.itemsize for s in self.buf.strides)
        )
        t = dlpack._DLTensor(
            self.buf.ctypes.data,
            dlpack._DLDevice(*self.device),
            self.buf.ndim,
            dlpack._DLDataType(self.code, self.bits, self.lanes),
            ctypes.cast(shape, ctypes.POINTER(ctypes.c_int64)),
            ctypes.cast(strides, ctypes.POINTER(ctypes.c_int64)),
            0,
        )
        if versioned:
            m = dlpack._DLManagedTensorVersioned(
                dlpack._DLPackVersion(1, 1), None, None, self.flags, t
            )
            name = b"dltensor_versioned"
        else:
            m = dlpack._DLManagedTensor(t, None, None)
            name = b"dltensor"
        owner = self

        @ctypes.CFUNCTYPE(None, ctypes.c_void_p)
        def destructor(capsule_ptr):
            owner.deleted += 1

        StandIn._keep.append((shape, strides, m, destructor))
        return _capsule_new(ctypes.addressof(m), name, ctypes.cast(destructor, ctypes.c_void_p))


# (DLPack code, bits) -> NumPy/ml_dtypes dtype of the same bits, for every dtype tritium takes.
CASES = {
    "bool": (6, 8, np.bool_),
    "int8": (0, 8, np.int8),
    "int16": (0, 16, np.int16),
    "int32": (0, 32, np.int32),
    "int64": (0, 64, np.int64),
    "uint8": (1, 8, np.uint8),
    "uint16": (1, 16, np.uint16),
    "uint32": (1, 32, np.uint32),
    "uint64": (1, 64, np.uint64),
    "float16": (2, 16, np.float16),
    "float32": (2, 32, np.float32),
    "float64": (2, 64, np.float64),
    "bfloat16": (4, 16, ml_dtypes.bfloat16),
    "float8_e4m3fn": (10, 8, ml_dtypes.float8_e4m3fn),
    "float8_e4m3fnuz": (11, 8, ml_dtypes.float8_e4m3fnuz),
    "float8_e5m2": (12, 8, ml_dtypes.float8_e5m2),
    "float8_e5m2fnuz": (13, 8, ml_dtypes.float8_e5m2fnuz),
}


def _random(rng: np.random.Generator, dt: type, n: int = N) -> np.ndarray:
    if dt is np.bool_:
        return rng.random(n) < 0.5
    if np.issubdtype(dt, np.integer):
        lo = 0 if np.issubdtype(dt, np.unsignedinteger) else -100
        return rng.integers(lo, 100, n).astype(dt)
    return rng.uniform(-4, 4, n).astype(dt)  # within every fp8 format's range


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_dtype_through_the_capsule(name: str, mode: str, rng: np.random.Generator) -> None:
    code, bits, dt = CASES[name]
    x = _random(rng, dt)
    producer = StandIn(x, code, bits)
    out = np.full(N, np.nan, np.float32)
    widen_kernel[(tritium.cdiv(N, 128),)](producer, out, N, BLOCK=128)
    ref = x.astype(np.float32).astype(np.float64) * 2 + 1  # the kernel widens to fp32 first
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-6)
    # The capsule was not consumed: its destructor ran (the producer's deleter would).
    assert producer.deleted >= 1


def test_writes_through_a_writable_capsule_land_in_place(mode: str, rng) -> None:
    x = rng.uniform(-1, 1, N).astype(ml_dtypes.bfloat16)
    before = x.astype(np.float64)
    scale_in_place_kernel[(tritium.cdiv(N, 64),)](StandIn(x, 4, 16), N, BLOCK=64)
    np.testing.assert_allclose(x.astype(np.float64), before * 3, rtol=1e-2)


@pytest.mark.parametrize("flags", [1, 2], ids=["read_only", "is_copied"])
def test_read_only_exports_are_refused_for_stores(flags: int, mode: str, rng) -> None:
    x = rng.uniform(-1, 1, N).astype(np.float32)
    before = x.copy()
    ro = StandIn(x, 2, 32, flags=flags)
    with pytest.raises(Exception, match="read-only") as info:
        scale_in_place_kernel[(tritium.cdiv(N, 64),)](ro, N, BLOCK=64)
    # both modes: the compiler's error (the interpreter reports what the compiler would)
    assert isinstance(info.value, tritium.CompilationError)
    assert "tl.store(x_ptr" in str(info.value)  # the user's line, naming the argument
    np.testing.assert_array_equal(x, before)
    # Reading through it is fine.
    out = np.full(N, np.nan, np.float32)
    widen_kernel[(tritium.cdiv(N, 128),)](StandIn(x, 2, 32, flags=flags), out, N, BLOCK=128)
    np.testing.assert_allclose(out, x.astype(np.float64) * 2 + 1, rtol=1e-6)


def test_legacy_capsules_and_key(rng) -> None:
    x = rng.uniform(-1, 1, (6, 8)).astype(np.float16)[:, ::2]
    t = dlpack.from_dlpack(StandIn(x, 2, 16, versioned=False))
    assert t.version is None and not t.readonly
    assert t.shape == (6, 4) and t.strides == (8, 2) and t.data == x.ctypes.data
    view = dlpack.numpy_view(StandIn(x, 2, 16))
    np.testing.assert_array_equal(view, x)
    key, ptr = dlpack.dlpack_key(StandIn(x, 2, 16, flags=1), 2)
    assert key == ("*kfp16", x.ctypes.data % 16 == 0) and int(ptr) == x.ctypes.data
    assert not dlpack.numpy_view(StandIn(x, 2, 16, flags=1)).flags.writeable


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"code": 5, "bits": 64}, "complex64, which tritium kernels do not support"),
        ({"code": 14, "bits": 8}, "float8_e8m0fnu"),
        ({"code": 9, "bits": 8}, "float8_e4m3b11fnuz"),
        ({"code": 2, "bits": 32, "lanes": 4}, "4 lanes"),
        ({"code": 2, "bits": 32, "device": (2, 0)}, "kDLCUDA:0"),
    ],
)
def test_unusable_exports_name_the_argument(kwargs, message: str) -> None:
    buf = np.zeros(8, np.float64)
    out = np.full(8, np.nan, np.float32)
    with pytest.raises(TypeError, match=message) as info:
        widen_kernel[(1,)](StandIn(buf, **kwargs), out, 8, BLOCK=8)
    assert "argument 'x_ptr'" in str(info.value)


def test_torch_tensors_through_dlpack_only(rng) -> None:
    """A producer that only speaks DLPack (here: a wrapper around torch tensors)."""
    torch = pytest.importorskip("torch")

    class OnlyDLPack:
        def __init__(self, t):
            self.t = t

        def __dlpack__(self, **kw):
            return self.t.__dlpack__(**kw)

        def __dlpack_device__(self):
            return self.t.__dlpack_device__()

    src = torch.from_numpy(rng.uniform(-4, 4, N).astype(np.float32))
    for dt in [torch.bfloat16, torch.float8_e4m3fn, torch.float8_e5m2, torch.int16, torch.bool]:
        x = src.to(dt)
        out = np.full(N, np.nan, np.float32)
        widen_kernel[(tritium.cdiv(N, 128),)](OnlyDLPack(x), out, N, BLOCK=128)
        np.testing.assert_allclose(out, x.double().numpy() * 2 + 1, rtol=1e-6, err_msg=str(dt))
    with pytest.raises(TypeError, match="complex"):
        widen_kernel[(1,)](OnlyDLPack(torch.zeros(4, dtype=torch.complex64)), out, 4, BLOCK=8)


def test_jax_arrays_are_read_only_inputs(mode: str, rng) -> None:
    jnp = pytest.importorskip("jax.numpy")
    x_np = rng.uniform(-4, 4, N).astype(ml_dtypes.bfloat16)
    x = jnp.asarray(x_np)
    out = np.full(N, np.nan, np.float32)
    widen_kernel[(tritium.cdiv(N, 128),)](x, out, N, BLOCK=128)
    np.testing.assert_allclose(out, x_np.astype(np.float64) * 2 + 1, rtol=1e-6)
    with pytest.raises(Exception, match="read-only"):
        scale_in_place_kernel[(tritium.cdiv(N, 64),)](x, N, BLOCK=64)
    np.testing.assert_array_equal(np.asarray(x), x_np)


def test_jax_triton_call(rng) -> None:
    jax = pytest.importorskip("jax")
    import tritium.jax as tj

    x_np = rng.uniform(-4, 4, N).astype(np.float32)
    x = jax.numpy.asarray(x_np.astype(ml_dtypes.bfloat16))
    spec = jax.ShapeDtypeStruct((N,), np.float32)
    grid = lambda meta: (tritium.cdiv(meta["n"], meta["BLOCK"]),)  # noqa: E731
    y = tj.triton_call(x, kernel=widen_kernel, out_shape=spec, grid=grid, n=N, BLOCK=128)
    assert isinstance(y, jax.Array) and y.shape == (N,) and y.dtype == np.float32
    ref = np.asarray(x).astype(np.float64) * 2 + 1
    np.testing.assert_allclose(np.asarray(y), ref, rtol=1e-6)

    # Under jax.jit: a host callback running the same launch.
    @jax.jit
    def f(a):
        return (
            tj.triton_call(a, kernel=widen_kernel, out_shape=[spec], grid=(3,), n=N, BLOCK=128)[0]
            + 1
        )

    np.testing.assert_allclose(np.asarray(f(x)), ref + 1, rtol=1e-6)

    # Aliasing an input to an output: the kernel gets the output's buffer (a copy of the
    # input) in both places; the JAX input itself is unchanged.
    xf = jax.numpy.asarray(x_np)
    (z,) = tj.triton_call(
        xf,
        kernel=widen_kernel,
        out_shape=[jax.ShapeDtypeStruct((N,), np.float32)],
        grid=(tritium.cdiv(N, 64),),
        input_output_aliases={0: 0},
        n=N,
        BLOCK=64,
    )
    np.testing.assert_allclose(np.asarray(z), x_np.astype(np.float64) * 2 + 1, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(xf), x_np)
    with pytest.raises(TypeError, match="out_shape"):
        tj.triton_call(x, kernel=widen_kernel, out_shape=[(N,)], grid=(1,), n=N, BLOCK=128)
