"""The core of ``tritium.language``: constexpr, the tensor base class, engine dispatch.

A kernel's ``tl.*`` calls do not compute anything here. Each builtin binds its arguments
with Triton's signature, unwraps :class:`constexpr` values and calls the method of the
same name on the *active engine* (see :mod:`tritium.language.engine_protocol`): the frontend's
engine builds Tile IR, the interpreter's engine computes on NumPy arrays. An engine is
activated per thread (per context) with::

    with engine_scope(my_engine):
        kernel_fn(*args)          # tl.* calls inside go to my_engine

Outside an engine a builtin raises ``RuntimeError("tl.X can only be called inside a kernel")``.
The dtypes themselves live in :mod:`tritium.language.dtypes` and are re-exported here.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import operator
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from tritium.language.dtypes import (  # noqa: F401 - re-exported for `core.X` users
    TRITON_MAX_TENSOR_NUMEL,
    bfloat16,
    block_type,
    dtype,
    float8e4b8,
    float8e4b15,
    float8e4nv,
    float8e5,
    float8e5b16,
    float16,
    float32,
    float64,
    get_int_dtype,
    int1,
    int8,
    int16,
    int32,
    int64,
    pi32_t,
    pointer_type,
    str_to_ty,
    uint8,
    uint16,
    uint32,
    uint64,
    void,
)

if TYPE_CHECKING:
    from tritium.language.engine_protocol import Engine

__all__ = [
    "Shape",
    "active_engine",
    "builtin",
    "constexpr",
    "constexpr_function",
    "current_engine",
    "engine_scope",
    "extern",
    "extern_elementwise",
    "is_builtin",
    "must_use_result",
    "tensor",
    "tensor_member",
    "unwrap_constexpr",
]

F = TypeVar("F", bound=Callable[..., Any])

# --------------------------------------------------------------------------------------------
# Engine dispatch
# --------------------------------------------------------------------------------------------

_ACTIVE_ENGINE: contextvars.ContextVar[Engine | None] = contextvars.ContextVar(
    "tritium_language_engine", default=None
)


def current_engine() -> Engine:
    """The engine active in this thread; ``RuntimeError`` if no kernel is being run or built."""
    engine = _ACTIVE_ENGINE.get()
    if engine is None:
        raise RuntimeError("tritium.language builtins can only be called inside a kernel")
    return engine


def active_engine() -> Engine | None:
    """The engine active in this thread, or None outside a kernel (never raises)."""
    return _ACTIVE_ENGINE.get()


@contextlib.contextmanager
def engine_scope(engine: Engine) -> Iterator[Engine]:
    """Make ``engine`` the active engine for the duration of the ``with`` block.

    Scopes nest: the previous engine (or none) is restored on exit, also on exceptions.
    """
    token = _ACTIVE_ENGINE.set(engine)
    try:
        yield engine
    finally:
        _ACTIVE_ENGINE.reset(token)


def unwrap_constexpr(value: Any) -> Any:
    """``value`` with every :class:`constexpr` replaced by its ``.value``, through tuples/lists."""
    if isinstance(value, constexpr):
        return unwrap_constexpr(value.value)
    if type(value) is tuple or type(value) is list:
        return type(value)(unwrap_constexpr(v) for v in value)
    return value


def builtin(fn: F) -> F:
    """Mark ``fn`` as a ``tl`` builtin that needs an active engine.

    The wrapper raises ``RuntimeError("tl.<name> can only be called inside a kernel")`` when
    no engine is active, then unwraps constexpr arguments and calls ``fn``, whose body
    normalizes the arguments and forwards them to the engine. Python's own argument binding
    reports a misspelled keyword as ``TypeError: load() got an unexpected keyword argument``.
    """
    name = fn.__name__

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _ACTIVE_ENGINE.get() is None:
            raise RuntimeError(f"tl.{name} can only be called inside a kernel")
        # (a loop of isinstance tests first: most calls have nothing to unwrap, and a call per
        # argument is a microsecond per builtin in interpreted loops)
        for a in args:
            if isinstance(a, _UNWRAPPED):
                args = tuple(map(unwrap_constexpr, args))
                break
        if kwargs:
            for v in kwargs.values():
                if isinstance(v, _UNWRAPPED):
                    kwargs = {k: unwrap_constexpr(v) for k, v in kwargs.items()}
                    break
        return fn(*args, **kwargs)

    wrapper.__tritium_builtin__ = True  # type: ignore[attr-defined]
    wrapper.__signature__ = inspect.signature(fn)  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


# Triton's private spelling, used by some third-party kernels' constexpr helpers.
_unwrap_if_constexpr = unwrap_constexpr


def is_builtin(fn: Any) -> bool:
    """Whether ``fn`` is a ``tl`` builtin (or a ``tl`` helper that engines run as Python)."""
    return bool(getattr(fn, "__tritium_builtin__", False))


def _engine() -> Engine:
    # Used inside builtin bodies, where the wrapper has already checked that one is active.
    return _ACTIVE_ENGINE.get()  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------
# constexpr
# --------------------------------------------------------------------------------------------


def _cx_binary(op: Callable[[Any, Any], Any], reflected: bool = False) -> Callable[..., Any]:
    def method(self: constexpr, other: Any) -> Any:
        if isinstance(other, tensor):
            return NotImplemented  # let the tensor's (reflected) operator handle it
        other = unwrap_constexpr(other)
        return constexpr(op(other, self.value) if reflected else op(self.value, other))

    return method


class constexpr:  # noqa: N801 - Triton's public name
    """A value known at compile time (an int, float, bool, str, dtype, None, function ...).

    Used as a parameter annotation (``BLOCK: tl.constexpr``) and as a wrapper around values.
    Arithmetic and comparisons between constexprs (and plain Python values) give constexprs;
    an operation with a :class:`tensor` defers to the tensor.
    """

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value.value if isinstance(value, constexpr) else value

    def __repr__(self) -> str:
        return f"constexpr[{self.value}]"

    def __str__(self) -> str:
        return str(self.value)

    def __hash__(self) -> int:
        return hash(self.value)

    def __bool__(self) -> bool:
        return bool(self.value)

    def __index__(self) -> int:
        return operator.index(self.value)

    def __int__(self) -> int:
        return int(self.value)

    def __float__(self) -> float:
        return float(self.value)

    def __neg__(self) -> constexpr:
        return constexpr(-self.value)

    def __pos__(self) -> constexpr:
        return constexpr(+self.value)

    def __invert__(self) -> constexpr:
        return constexpr(~self.value)

    def __abs__(self) -> constexpr:
        return constexpr(abs(self.value))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # A constexpr may wrap a function (e.g. an activation passed as a constexpr parameter).
        return self.value(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        # Attribute access reads through to the wrapped value (`BLOCK.bit_length()`,
        # `DTYPE.is_floating()`); __slots__ names never reach here.
        if name.startswith("__") or name == "value":  # "value": an unpickled, empty slot
            raise AttributeError(name)
        return getattr(self.value, name)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.value)

    def __len__(self) -> int:
        return len(self.value)

    def __getitem__(self, idx: Any) -> Any:
        return self.value[unwrap_constexpr(idx)]

    def logical_and(self, other: Any) -> constexpr:
        """``self and other`` on compile-time values."""
        return constexpr(self.value and unwrap_constexpr(other))

    def logical_or(self, other: Any) -> constexpr:
        """``self or other`` on compile-time values."""
        return constexpr(self.value or unwrap_constexpr(other))

    def logical_not(self) -> constexpr:
        """``not self`` on a compile-time value."""
        return constexpr(not self.value)


# Python's own operators on the wrapped values: constexpr arithmetic is Python arithmetic.
_CX_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "truediv": operator.truediv,
    "floordiv": operator.floordiv,
    "mod": operator.mod,
    "pow": operator.pow,
    "and": operator.and_,
    "or": operator.or_,
    "xor": operator.xor,
    "lshift": operator.lshift,
    "rshift": operator.rshift,
}
for _name, _op in _CX_OPS.items():
    setattr(constexpr, f"__{_name}__", _cx_binary(_op))
    setattr(constexpr, f"__r{_name}__", _cx_binary(_op, reflected=True))
for _name in ("lt", "le", "gt", "ge", "eq", "ne"):
    setattr(constexpr, f"__{_name}__", _cx_binary(getattr(operator, _name)))
del _name, _op


# --------------------------------------------------------------------------------------------
# tensor
# --------------------------------------------------------------------------------------------


#: What :func:`unwrap_constexpr` may change (anything else it returns as it is).
_UNWRAPPED = (constexpr, tuple, list)


def _binary_operator(name: str, reflected: bool = False) -> Callable[..., Any]:
    def method(self: tensor, other: Any) -> Any:
        if isinstance(other, _UNWRAPPED):  # (the common operands, without a call)
            other = unwrap_constexpr(other)
        engine = _ACTIVE_ENGINE.get()
        fn = getattr(engine if engine is not None else current_engine(), name)
        return fn(other, self) if reflected else fn(self, other)

    method.__name__ = f"__r{name.rstrip('_')}__" if reflected else f"__{name.rstrip('_')}__"
    return method


def _unary_operator(name: str) -> Callable[..., Any]:
    def method(self: tensor) -> Any:
        return getattr(current_engine(), name)(self)

    return method


class Shape(tuple):
    """A tile's shape: a tuple of ints that also concatenates with lists.

    Triton code builds shapes with list arithmetic (``x.shape[:-1] + [2 * n]``); a plain tuple
    would refuse that, so slices and sums of a ``Shape`` stay ``Shape``.
    """

    def __getitem__(self, index: Any) -> Any:
        item = super().__getitem__(index)
        return Shape(item) if isinstance(index, slice) else item

    def __add__(self, other: Any) -> Shape:  # type: ignore[override]
        return Shape(tuple(self) + tuple(unwrap_constexpr(other)))

    def __radd__(self, other: Any) -> Shape:
        return Shape(tuple(unwrap_constexpr(other)) + tuple(self))

    def __eq__(self, other: object) -> bool:
        # Triton's shapes are lists: ``x.shape == [128]`` holds, as does ``== (128,)``.
        other = unwrap_constexpr(other)
        if isinstance(other, (list, tuple)):
            return tuple(self) == tuple(unwrap_constexpr(o) for o in other)
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = tuple.__hash__


class tensor:  # noqa: N801 - Triton's public name
    """The base class of every engine's tile (and scalar) values.

    ``handle`` is the engine's own representation (an IR value, a NumPy array) and ``type``
    the language type: a scalar :class:`dtype`, a :class:`pointer_type` or a
    :class:`block_type`. Operators and methods call the active engine or the ``tl``
    builtins; an engine subclasses ``tensor`` and adds nothing the language depends on.
    """

    def __init__(self, handle: Any, type: dtype) -> None:
        self.handle = handle
        self.type = type

    # -- properties ---------------------------------------------------------------------------

    @property
    def dtype(self) -> dtype:
        """The element type (``type.scalar``)."""
        return self.type.scalar

    @property
    def shape(self) -> Shape:
        """The tile's shape (a tuple of ints); ``()`` for a scalar."""
        return Shape(self.type.shape if self.type.is_block() else ())

    @property
    def numel(self) -> int:
        """The number of elements (1 for a scalar)."""
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def T(self) -> tensor:  # noqa: N802 - Triton's name
        """The transpose of a 2-D tile (``tl.trans(self)``)."""
        from tritium.language.shape import trans

        return trans(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.type})"

    # Python's default truth value (always True) would silently take both branches wrong.
    def __bool__(self) -> bool:
        raise TypeError(
            "the truth value of a tl.tensor is not known while the kernel is being "
            "built; use tl.where, or a comparison inside `if`"
        )

    __hash__ = object.__hash__  # __eq__ is overloaded below; keep tensors usable as dict keys

    def __iter__(self) -> Iterator[Any]:
        raise TypeError("a tl.tensor is not iterable; index it or use tl.split")

    # -- methods forwarding to builtins -----------------------------------------------------

    def to(self, dtype: Any, fp_downcast_rounding: Any = None, bitcast: Any = False) -> tensor:
        """Cast to ``dtype`` (``tl.cast(self, dtype, fp_downcast_rounding, bitcast)``)."""
        from tritium.language.ops import cast

        return cast(self, dtype, fp_downcast_rounding, bitcast)

    def __getitem__(self, idx: Any) -> Any:
        idx = unwrap_constexpr(idx)
        items = idx if isinstance(idx, tuple) else (idx,)
        for it in items:
            it = unwrap_constexpr(it)
            if it is None or it is Ellipsis or it == slice(None):
                continue
            # Triton's message: a tile is indexed only to add axes (None) or keep them (:).
            raise ValueError(
                f"unsupported tensor index: {it!r} (only None, ':' and '...' are allowed; "
                "use tl.split, tl.reshape or masks for the rest)"
            )
        return current_engine().getitem(self, idx)

    def __abs__(self) -> tensor:
        from tritium.language.ops import abs as tl_abs

        return tl_abs(self)


for _name in (
    "add",
    "sub",
    "mul",
    "truediv",
    "floordiv",
    "mod",
    "and_",
    "or_",
    "xor",
    "lshift",
    "rshift",
):
    _dunder = _name.rstrip("_")
    setattr(tensor, f"__{_dunder}__", _binary_operator(_name))
    setattr(tensor, f"__r{_dunder}__", _binary_operator(_name, reflected=True))
for _name in ("lt", "le", "gt", "ge", "eq", "ne"):
    setattr(tensor, f"__{_name}__", _binary_operator(_name))
for _name in ("neg", "pos", "invert"):
    setattr(tensor, f"__{_name}__", _unary_operator(_name))
del _name, _dunder


def tensor_member(fn: F) -> F:
    """Also expose the builtin ``fn`` as a method of :class:`tensor` (``x.sum(axis=0)``)."""
    setattr(tensor, fn.__name__, fn)
    return fn


def constexpr_function(fn: F) -> F:
    """Let a plain Python function be called from kernels on compile-time values.

    Inside a kernel the arguments are unwrapped from :class:`constexpr` and the result comes
    back as a ``constexpr``; called from host code the function behaves as written. A tensor
    argument is a TypeError: the function runs while the kernel is compiled, not on device.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        args = tuple(unwrap_constexpr(a) for a in args)
        kwargs = {k: unwrap_constexpr(v) for k, v in kwargs.items()}
        if _ACTIVE_ENGINE.get() is None:
            return fn(*args, **kwargs)
        for value in (*args, *kwargs.values()):
            if isinstance(value, tensor):
                raise TypeError(
                    f"{fn.__name__}() is a constexpr_function: its arguments must be "
                    f"compile-time values, got a tensor of type {value.type}"
                )
        return constexpr(fn(*args, **kwargs))

    wrapper.__tritium_builtin__ = True  # type: ignore[attr-defined]
    wrapper.__tritium_constexpr_function__ = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


# Triton keeps these in ``triton.language.core``; they live in their own module and import this
# one, so they are re-exported last.
from tritium.language.extern import extern, extern_elementwise  # noqa: E402

#: Triton's shared ``constexpr(0)`` (libraries import ``tl.core.CONSTEXPR_0``).
CONSTEXPR_0 = constexpr(0)


def must_use_result(x: Any, s: Any = True) -> Any:
    """Mark a builtin whose result must be used (Triton's decorator; kept as a marker)."""
    if isinstance(x, str):
        return lambda fn: must_use_result(fn, x)
    x._must_use_result = s
    return x


def __getattr__(name: str) -> Any:
    # Triton's ``triton.language.core`` holds every builtin and type; code reaches for them
    # there (``tl.core.view``, ``tl.core.constexpr_type``). tritium spreads them over several
    # modules, so a name missing here is looked up on the package.
    import tritium.language as tl

    if name.startswith("__") or tl.__dict__.get("core") is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        return tl.__dict__[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
