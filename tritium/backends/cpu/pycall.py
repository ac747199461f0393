"""A native entry for warm launches that Python calls like a builtin, without ctypes.

A ctypes call converts each argument through its generic machinery and costs ~1 us, more than
the rest of a warm launch. Instead, one small function is generated here in LLVM IR (once per
process; its object code is kept in the disk cache) and wrapped as a builtin
(``PyCFunction_NewEx`` with ``METH_FASTCALL``):

    rc = pycall(handle, grid, nthreads, v0, v1, ...)

``handle`` is the address of a :class:`Handle`: the kernel's launch entry, the thread pool, the
stop word, and one :class:`Arg` record per value ``v0, v1, ...``. A record's kind says how its
value becomes a 64-bit argument word:

* ``SKIP``: nothing (an argument specialized away); ``INT``: any Python integer, as a 64-bit
  word (pointers too); ``FLOAT``: a double. The launcher's values, already converted;
* the *guards* take the user's own arguments and check that they match the specialization the
  handle was made for, so that a warm launch needs no key in Python: ``G_NDARRAY`` (exactly a
  ``numpy.ndarray`` of the recorded dtype object, writable and C-contiguous, non-NULL, its data
  pointer aligned to 16 bytes or not as recorded: the pointer is passed), ``G_INT`` (exactly an
  ``int`` whose Triton type and hint, i32/i64 and ``== 1``/divisible by 16, are the recorded
  ones), ``G_FLOAT`` (exactly a ``float``), ``G_BOOL``, ``G_NONE``.

``grid`` must be a tuple of 1 to 3 ``int`` (exactly), each in [1, 2^31), whose product fits in
63 bits. Whenever a guard or the grid does not match, ``1`` is returned without launching, and
the caller takes the generic path (which launches, or raises the right error). Otherwise the
stop word is cleared, the GIL released for the launch, and ``0`` is returned when every program
ran, or the launcher's error record ``(code, x, y, z)``. A value of the wrong type for ``INT``
or ``FLOAT`` raises ``TypeError`` from the C API (never a wrong launch).

Used only on CPython with the GIL, with the object layouts checked once; elsewhere
:func:`pycall` is None and launches go through ctypes.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from typing import Any

__all__ = [
    "Arg",
    "FLOAT",
    "G_BOOL",
    "G_FLOAT",
    "G_INT",
    "G_NDARRAY",
    "G_NONE",
    "Handle",
    "INT",
    "MAX_SLOTS",
    "SKIP",
    "int_class",
    "ndarray_guards_ok",
    "pycall",
]

SKIP, INT, FLOAT, G_NDARRAY, G_INT, G_FLOAT, G_BOOL, G_NONE = range(8)
MAX_SLOTS = 256  # argument words on the native stack; kernels with more use ctypes
_SYMBOL = "tritium_pycall_v2"
_METH_FASTCALL = 0x0080

# NumPy's array object: PyObject_HEAD, then data, nd, dimensions, strides, base, descr, flags
# (numpy/ndarraytypes.h, PyArrayObject_fields; the same in NumPy 1.x and 2.x). Checked on
# live arrays before any guard uses them.
_ND_DATA, _ND_DESCR, _ND_FLAGS = 16, 56, 64
_NPY_C_CONTIGUOUS, _NPY_WRITEABLE = 0x1, 0x400

#: ``Arg.flags`` bits: the integer specialization level (0, 1 = ``== 1`` only, 2 = full, as
#: ``tritium.signature``), and for ``G_NDARRAY`` whether alignment is part of the key / was aligned.
SPEC_MASK, ALIGN_CHECKED, ALIGNED = 0x3, 0x4, 0x8


class Arg(ctypes.Structure):
    """One value's record: its kind, flags and the datum its guard compares with."""

    _fields_ = [("kind", ctypes.c_uint8), ("flags", ctypes.c_uint8), ("data", ctypes.c_uint64)]


class Handle(ctypes.Structure):
    """What :func:`pycall` reads: where to launch and how to take each value."""

    _fields_ = [
        ("entry", ctypes.c_void_p),
        ("pool", ctypes.c_void_p),
        ("stop", ctypes.c_void_p),
        ("nargs", ctypes.c_int64),
        ("ndarray_type", ctypes.c_void_p),
        ("args", Arg * MAX_SLOTS),
    ]


assert ctypes.sizeof(Arg) == 16 and Handle.args.offset == 40


def int_class(v: int, spec: int) -> int | None:
    """The code ``G_INT`` compares: 4 * (0 for i32, 1 for i64) + (2 for == 1, 1 for divisible
    by 16, else 0), as ``tritium.signature`` keys an integer; None outside int64."""
    if -(2**31) <= v < 2**31:
        ty = 0
    elif -(2**63) <= v < 2**63:
        ty = 1
    else:
        return None
    hint = 0
    if spec and v == 1:
        hint = 2
    elif spec == 2 and v % 16 == 0:
        hint = 1
    return 4 * ty + hint


class _MethodDef(ctypes.Structure):
    _fields_ = [
        ("ml_name", ctypes.c_char_p),
        ("ml_meth", ctypes.c_void_p),
        ("ml_flags", ctypes.c_int),
        ("ml_doc", ctypes.c_char_p),
    ]


_FUNCTIONS = {  # C API function -> its LLVM declaration
    "PyLong_AsVoidPtr": "ptr @PyLong_AsVoidPtr(ptr)",
    "PyLong_AsLongLong": "i64 @PyLong_AsLongLong(ptr)",
    "PyLong_AsUnsignedLongLongMask": "i64 @PyLong_AsUnsignedLongLongMask(ptr)",
    "PyLong_FromLongLong": "ptr @PyLong_FromLongLong(i64)",
    "PyFloat_AsDouble": "double @PyFloat_AsDouble(ptr)",
    "PyErr_Occurred": "ptr @PyErr_Occurred()",
    "PyErr_Clear": "void @PyErr_Clear()",
    "PyTuple_Size": "i64 @PyTuple_Size(ptr)",
    "PyTuple_GetItem": "ptr @PyTuple_GetItem(ptr, i64)",
    "PyTuple_New": "ptr @PyTuple_New(i64)",
    "PyTuple_SetItem": "i32 @PyTuple_SetItem(ptr, i64, ptr)",
    "PyEval_SaveThread": "ptr @PyEval_SaveThread()",
    "PyEval_RestoreThread": "void @PyEval_RestoreThread(ptr)",
}
# C API objects -> the Python object they are (their address is id()).
_OBJECTS = {
    "PyTuple_Type": tuple,
    "PyLong_Type": int,
    "PyFloat_Type": float,
    "PyBool_Type": bool,
    "_Py_NoneStruct": None,
    "_Py_TrueStruct": True,
}
_PREFIX = "tritium.py."  # the JIT symbols are registered under these names


def _dims_ir() -> str:
    out = []
    for i in range(3):
        nxt = f"dim{i + 1}" if i < 2 else "grid_ok"
        out.append(
            f"""
dim{i}:
  %has{i} = icmp sgt i64 %glen, {i}
  br i1 %has{i}, label %item{i}, label %done{i}
item{i}:
  %it{i} = call ptr @PyTuple_GetItem(ptr %grid, i64 {i})
  %itt{i} = call ptr @type_of(ptr %it{i})
  %isint{i} = icmp eq ptr %itt{i}, @PyLong_Type
  br i1 %isint{i}, label %conv{i}, label %slow
conv{i}:
  %v{i} = call i64 @PyLong_AsLongLong(ptr %it{i})
  %okv{i} = icmp ult i64 %v{i}, 2147483647
  %pos{i} = icmp sgt i64 %v{i}, 0
  %good{i} = and i1 %okv{i}, %pos{i}
  br i1 %good{i}, label %done{i}, label %badv{i}
badv{i}:
  %e{i} = call ptr @PyErr_Occurred()
  %ise{i} = icmp ne ptr %e{i}, null
  br i1 %ise{i}, label %clear, label %slow
done{i}:
  %g{i} = phi i64 [ 1, %dim{i} ], [ %v{i}, %conv{i} ]
  br label %{nxt}"""
        )
    return "\n".join(out)


def _fill_ir() -> str:
    out = []
    for i in range(4):
        out.append(
            f"  %ep{i} = getelementptr i32, ptr %err, i64 {i}\n"
            f"  %e{i}v = load i32, ptr %ep{i}\n"
            f"  %ex{i} = zext i32 %e{i}v to i64\n"
            f"  %eo{i} = call ptr @PyLong_FromLongLong(i64 %ex{i})\n"
            f"  call i32 @PyTuple_SetItem(ptr %t, i64 {i}, ptr %eo{i})"
        )
    return "\n".join(out)


def ir() -> str:
    """The entry's LLVM IR (C API symbols by name: see :func:`_register_symbols`)."""
    decls = "\n".join(f"declare {d}" for d in _FUNCTIONS.values())
    objs = "\n".join(f"@{n} = external global i8" for n in _OBJECTS)
    return f"""
{decls}
{objs}
declare {{i64, i1}} @llvm.umul.with.overflow.i64(i64, i64)

define internal ptr @type_of(ptr %o) alwaysinline {{
  %p = getelementptr i8, ptr %o, i64 8
  %t = load ptr, ptr %p
  ret ptr %t
}}

define ptr @{_SYMBOL}(ptr %self, ptr %args, i64 %n) {{
entry:
  %buf = alloca [{MAX_SLOTS} x i64], align 16
  %err = alloca [4 x i32], align 16
  %enough = icmp uge i64 %n, 3
  br i1 %enough, label %handle, label %slow
handle:
  %a0 = load ptr, ptr %args
  %h = call ptr @PyLong_AsVoidPtr(ptr %a0)
  %hnull = icmp eq ptr %h, null
  br i1 %hnull, label %fail, label %counted
counted:
  %nap = getelementptr i8, ptr %h, i64 24
  %na = load i64, ptr %nap
  %want = add i64 %na, 3
  %same = icmp eq i64 %n, %want
  br i1 %same, label %gridty, label %slow
gridty:
  %gp = getelementptr ptr, ptr %args, i64 1
  %grid = load ptr, ptr %gp
  %gt = call ptr @type_of(ptr %grid)
  %istuple = icmp eq ptr %gt, @PyTuple_Type
  br i1 %istuple, label %glen_b, label %slow
glen_b:
  %glen = call i64 @PyTuple_Size(ptr %grid)
  %glo = icmp sge i64 %glen, 1
  %ghi = icmp sle i64 %glen, 3
  %gok = and i1 %glo, %ghi
  br i1 %gok, label %dim0, label %slow
{_dims_ir()}
grid_ok:
  %gxy = mul i64 %g0, %g1
  %tot = call {{i64, i1}} @llvm.umul.with.overflow.i64(i64 %gxy, i64 %g2)
  %tov = extractvalue {{i64, i1}} %tot, 1
  %tv = extractvalue {{i64, i1}} %tot, 0
  %tbig = icmp slt i64 %tv, 0
  %toobig = or i1 %tov, %tbig
  br i1 %toobig, label %slow, label %threads
threads:
  %tp = getelementptr ptr, ptr %args, i64 2
  %tobj = load ptr, ptr %tp
  %nt = call i64 @PyLong_AsLongLong(ptr %tobj)
  %ntm1 = icmp eq i64 %nt, -1
  br i1 %ntm1, label %nt_check, label %nt_ok
nt_check:
  %nterr = call ptr @PyErr_Occurred()
  %nthas = icmp ne ptr %nterr, null
  br i1 %nthas, label %fail, label %nt_ok
nt_ok:
  %ntlo = icmp slt i64 %nt, 1
  %nt1 = select i1 %ntlo, i64 1, i64 %nt
  %nthi = icmp sgt i64 %nt1, 65536
  %nt2 = select i1 %nthi, i64 65536, i64 %nt1
  %nt32 = trunc i64 %nt2 to i32
  %ndtp = getelementptr i8, ptr %h, i64 32
  %ndtype = load ptr, ptr %ndtp
  br label %loop
loop:
  %i = phi i64 [ 0, %nt_ok ], [ %inext, %next ]
  %slot = phi i64 [ 0, %nt_ok ], [ %slotnext, %next ]
  %more = icmp slt i64 %i, %na
  br i1 %more, label %body, label %launch
body:
  %rec0 = getelementptr i8, ptr %h, i64 40
  %roff = mul i64 %i, 16
  %rec = getelementptr i8, ptr %rec0, i64 %roff
  %kind = load i8, ptr %rec
  %flp = getelementptr i8, ptr %rec, i64 1
  %fl = load i8, ptr %flp
  %dp = getelementptr i8, ptr %rec, i64 8
  %datum = load i64, ptr %dp
  %ai = add i64 %i, 3
  %op = getelementptr ptr, ptr %args, i64 %ai
  %obj = load ptr, ptr %op
  %dst = getelementptr i64, ptr %buf, i64 %slot
  %oty = call ptr @type_of(ptr %obj)
  switch i8 %kind, label %skip [ i8 {INT}, label %as_int
                                 i8 {FLOAT}, label %as_float
                                 i8 {G_NDARRAY}, label %g_nd
                                 i8 {G_INT}, label %g_int
                                 i8 {G_FLOAT}, label %g_float
                                 i8 {G_BOOL}, label %g_bool
                                 i8 {G_NONE}, label %g_none ]
as_int:
  %iv = call i64 @PyLong_AsUnsignedLongLongMask(ptr %obj)
  %ivm1 = icmp eq i64 %iv, -1
  br i1 %ivm1, label %iv_check, label %store_int
iv_check:
  %iverr = call ptr @PyErr_Occurred()
  %ivhas = icmp ne ptr %iverr, null
  br i1 %ivhas, label %fail, label %store_int
as_float:
  %fv = call double @PyFloat_AsDouble(ptr %obj)
  %fvm1 = fcmp oeq double %fv, -1.0
  br i1 %fvm1, label %fv_check, label %store_float
fv_check:
  %fverr = call ptr @PyErr_Occurred()
  %fvhas = icmp ne ptr %fverr, null
  br i1 %fvhas, label %fail, label %store_float
g_nd:
  %isnd = icmp eq ptr %oty, %ndtype
  br i1 %isnd, label %g_nd_descr, label %slow
g_nd_descr:
  %descrp = getelementptr i8, ptr %obj, i64 {_ND_DESCR}
  %descr = load i64, ptr %descrp
  %samed = icmp eq i64 %descr, %datum
  %ndflp = getelementptr i8, ptr %obj, i64 {_ND_FLAGS}
  %ndfl = load i32, ptr %ndflp
  %need = and i32 %ndfl, {_NPY_C_CONTIGUOUS | _NPY_WRITEABLE}
  %hasall = icmp eq i32 %need, {_NPY_C_CONTIGUOUS | _NPY_WRITEABLE}
  %ndptrp = getelementptr i8, ptr %obj, i64 {_ND_DATA}
  %ndptr = load i64, ptr %ndptrp
  %nonnull = icmp ne i64 %ndptr, 0
  %low = and i64 %ndptr, 15
  %isal = icmp eq i64 %low, 0
  %flal = and i8 %fl, {ALIGNED}
  %wantal = icmp ne i8 %flal, 0
  %alsame = icmp eq i1 %isal, %wantal
  %flck = and i8 %fl, {ALIGN_CHECKED}
  %nock = icmp eq i8 %flck, 0
  %alok = or i1 %alsame, %nock
  %c1 = and i1 %samed, %hasall
  %c2 = and i1 %nonnull, %alok
  %ndok = and i1 %c1, %c2
  br i1 %ndok, label %g_nd_ok, label %slow
g_nd_ok:
  store i64 %ndptr, ptr %dst
  br label %stored
g_int:
  %isi = icmp eq ptr %oty, @PyLong_Type
  br i1 %isi, label %g_int_v, label %slow
g_int_v:
  %gv = call i64 @PyLong_AsLongLong(ptr %obj)
  %gvm1 = icmp eq i64 %gv, -1
  br i1 %gvm1, label %gv_check, label %g_int_cls
gv_check:
  %gverr = call ptr @PyErr_Occurred()
  %gvhas = icmp ne ptr %gverr, null
  br i1 %gvhas, label %clear, label %g_int_cls
g_int_cls:
  %gvb = add i64 %gv, 2147483648
  %is32 = icmp ult i64 %gvb, 4294967296
  %ty = select i1 %is32, i64 0, i64 4
  %spec = and i8 %fl, {SPEC_MASK}
  %hasspec = icmp ne i8 %spec, 0
  %isone = icmp eq i64 %gv, 1
  %one = and i1 %hasspec, %isone
  %full = icmp eq i8 %spec, 2
  %low4 = and i64 %gv, 15
  %d16 = icmp eq i64 %low4, 0
  %div = and i1 %full, %d16
  %h1 = select i1 %div, i64 1, i64 0
  %hint = select i1 %one, i64 2, i64 %h1
  %cls = add i64 %ty, %hint
  %clsok = icmp eq i64 %cls, %datum
  br i1 %clsok, label %g_int_ok, label %slow
g_int_ok:
  br i1 %one, label %skip, label %g_int_store
g_int_store:
  store i64 %gv, ptr %dst
  br label %stored
g_float:
  %isf = icmp eq ptr %oty, @PyFloat_Type
  br i1 %isf, label %as_float, label %slow
g_bool:
  %isb = icmp eq ptr %oty, @PyBool_Type
  br i1 %isb, label %g_bool_ok, label %slow
g_bool_ok:
  %bt = icmp eq ptr %obj, @_Py_TrueStruct
  %bv = zext i1 %bt to i64
  store i64 %bv, ptr %dst
  br label %stored
g_none:
  %isn = icmp eq ptr %obj, @_Py_NoneStruct
  br i1 %isn, label %skip, label %slow
store_int:
  store i64 %iv, ptr %dst
  br label %stored
store_float:
  store double %fv, ptr %dst
  br label %stored
stored:
  %s1 = add i64 %slot, 1
  br label %next
skip:
  br label %next
next:
  %slotnext = phi i64 [ %s1, %stored ], [ %slot, %skip ]
  %inext = add i64 %i, 1
  br label %loop
launch:
  %ep = load ptr, ptr %h
  %pp = getelementptr i8, ptr %h, i64 8
  %pool = load ptr, ptr %pp
  %sp = getelementptr i8, ptr %h, i64 16
  %stop = load ptr, ptr %sp
  store atomic i32 0, ptr %stop monotonic, align 4
  %gx = trunc i64 %g0 to i32
  %gy = trunc i64 %g1 to i32
  %gz = trunc i64 %g2 to i32
  %ts = call ptr @PyEval_SaveThread()
  %rc = call i32 %ep(ptr %buf, i32 %gx, i32 %gy, i32 %gz, i32 %nt32, ptr %err, ptr %pool, ptr %stop)
  call void @PyEval_RestoreThread(ptr %ts)
  %okrc = icmp eq i32 %rc, 0
  br i1 %okrc, label %ret0, label %report
ret0:
  %zero = call ptr @PyLong_FromLongLong(i64 0)
  ret ptr %zero
report:
  %t = call ptr @PyTuple_New(i64 4)
  %tnull = icmp eq ptr %t, null
  br i1 %tnull, label %fail, label %fill
fill:
{_fill_ir()}
  ret ptr %t
clear:
  call void @PyErr_Clear()
  br label %slow
slow:
  %r1 = call ptr @PyLong_FromLongLong(i64 1)
  ret ptr %r1
fail:
  ret ptr null
}}
"""


def ndarray_guards_ok() -> bool:
    """Whether NumPy's array layout is the one ``G_NDARRAY`` reads (checked on live arrays)."""
    if _ND_OK:
        return bool(_ND_OK[0])
    ok = False
    try:
        import numpy as np

        read = ctypes.c_void_p.from_address
        flags = ctypes.c_int32.from_address
        arrays = [np.zeros(3, np.float32), np.zeros((4, 5), np.int8)[1:, ::2], np.ones(2)]
        arrays[2].flags.writeable = False
        ok = all(
            read(id(a) + _ND_DATA).value == a.__array_interface__["data"][0]
            and read(id(a) + _ND_DESCR).value == id(a.dtype)
            and flags(id(a) + _ND_FLAGS).value == a.flags.num
            for a in arrays
        )
        ok = ok and arrays[0].flags.num & (_NPY_C_CONTIGUOUS | _NPY_WRITEABLE) == (
            _NPY_C_CONTIGUOUS | _NPY_WRITEABLE
        )
        ok = ok and not arrays[2].flags.num & _NPY_WRITEABLE
        ok = ok and not arrays[1].flags.num & _NPY_C_CONTIGUOUS
    except Exception:  # noqa: BLE001 - no guards then: launches take the generic path
        ok = False
    _ND_OK.append(ok)
    return ok


_ND_OK: list[bool] = []


def _layout_ok() -> bool:
    """CPython with the GIL and the classic object header (``ob_type`` at offset 8)."""
    if sys.implementation.name != "cpython" or ctypes.sizeof(ctypes.c_void_p) != 8:
        return False
    # a free-threaded build ("t" in its ABI flags) has another object header; sysconfig
    # (~1-5 ms to import with its data, issue 13) only where there are no ABI flags (Windows)
    flags = getattr(sys, "abiflags", None)
    if "t" in flags if flags is not None else _gil_disabled_build():
        return False
    read = ctypes.c_void_p.from_address
    return bool(read(id(()) + 8).value == id(tuple) and read(id(7) + 8).value == id(int))


def _gil_disabled_build() -> bool:
    import sysconfig

    return bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def _register_symbols() -> None:
    """Tell the JIT where this process's C API functions and objects are."""
    from tritium.backends.cpu.target import add_symbol

    for name in _FUNCTIONS:
        fn = getattr(ctypes.pythonapi, name)
        add_symbol(name, int(ctypes.cast(fn, ctypes.c_void_p).value or 0))
    for name, obj in _OBJECTS.items():
        add_symbol(name, id(obj))


_lock = threading.Lock()
_state: list[Any] = []  # [the builtin or None, the method def kept alive]


def pycall() -> Any:
    """The native launch builtin (built on first use), or None where it cannot be used."""
    if _state:
        return _state[0]
    with _lock:
        if not _state:
            fn, keep = None, None
            try:
                if _layout_ok():
                    fn, keep = _build()
            except Exception:  # noqa: BLE001 - never fatal: launches go through ctypes
                fn, keep = None, None
            _state[:] = [fn, keep]
    return _state[0]


def _build() -> tuple[Any, Any]:
    from tritium.backends.cpu.target import load_object, runtime_object

    _register_symbols()
    address = load_object(runtime_object(ir()), _SYMBOL)
    md = _MethodDef(b"tritium_launch", address, _METH_FASTCALL, None)
    new = ctypes.pythonapi.PyCFunction_NewEx
    new.restype = ctypes.py_object
    new.argtypes = [ctypes.c_void_p, ctypes.py_object, ctypes.py_object]
    fn = new(ctypes.addressof(md), None, None)
    return fn, md
