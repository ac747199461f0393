"""The engine protocol: what a backend of the language (frontend, interpreter) implements.

``tl.X(...)`` binds its arguments with Triton's signature, applies defaults, unwraps
:class:`~tritium.language.core.constexpr` and normalizes them, then calls
``current_engine().X(...)`` **positionally, in Triton's parameter order**. Operators on
:class:`~tritium.language.core.tensor` call the operator methods below. Each method
receives:

* tensors as the engine's own ``tl.tensor`` subclass, **or plain Python scalars**
  (``int``, ``float``, ``bool``) wherever a tensor is accepted: ``x + 1`` calls
  ``add(x, 1)``, ``2 * x`` calls ``mul(2, x)``, ``tl.where(m, x, 0.0)`` calls
  ``where(m, x, 0.0)``. Promotion and broadcasting are the engine's job, with Triton's rules
  as implemented by :mod:`tritium.language.type_rules` (``binary_result_type`` etc.);
* dtypes as :class:`~tritium.language.dtypes.dtype` objects (never strings);
* shapes, axes and hint values as Python ``int`` / ``tuple[int, ...]``;
* compile-time options as plain Python values (``str``, ``bool``, ``None``).

and returns the engine's tensor(s). Methods that return several values return a tuple.

Engine methods vs. language helpers
-----------------------------------
**Engine methods** (this class) are the operations an engine must implement: anything
that touches memory, program ids, shapes and layouts, reductions/scans/sorts, elementwise
arithmetic and math, casts, dot products, hints and debugging.

**Language helpers** (:mod:`tritium.language.standard`, :mod:`tritium.language.random`)
are plain Python functions built from builtins and operators, so they work in every engine
without the engine knowing about them: ``cdiv``, ``zeros``, ``zeros_like``, ``sigmoid``,
``softmax``, ``ravel``, ``swizzle2d``, ``interleave``, ``to_tensor``, ``reduce_or``,
``bitonic_merge``, ``rand``/``randn``/``randint``/``randint4x``/``philox`` and the combine
functions of the reductions. A frontend calls them like any other Python code it meets while
calling builtins (``tritium.language.core.is_builtin`` is true for them).
``Engine.unimplemented()`` lists what an engine class still lacks.

Some builtins are normalized onto one engine method:

* ``tl.trans(x, *dims)`` and ``tl.permute(x, *dims)`` → :meth:`Engine.permute` (``trans`` with
  no dims swaps the two axes of a 2-D tile);
* ``tl.view(x, *shape)`` → :meth:`Engine.reshape` with ``can_reorder=True``;
* ``tl.expand_dims(x, axes)`` → one :meth:`Engine.expand_dims` per axis, ascending;
* ``tl.dot(..., allow_tf32=...)`` → :meth:`Engine.dot` with ``input_precision``;
* the ``tl.math``/libdevice functions without a method of their own →
  :meth:`Engine.math` ``(name, args)`` (see :data:`MATH_FUNCTIONS`);
* ``tl.reduce``/``tl.associative_scan`` always pass a **tuple** of inputs and get a tuple back;
* ``tl.sum``/``max``/``min``/``argmax``/``argmin``/``cumsum``/``cumprod`` widen their input
  (a :meth:`Engine.cast` call) as Triton does before calling the engine;
* dtype checks Triton makes at the language level (``tl.exp`` on fp16 is a ValueError,
  bitcast widths) happen in the builtins, before the engine is called.

Combine functions
-----------------
``reduce``/``associative_scan`` receive ``combine_fn``: either a ``@jit`` function (an object
with ``is_jit_function = True`` and ``.fn``) or a plain Python callable written with ``tl``
builtins and operators (``lambda a, b: a + b``). An engine calls it with tensors of its own
(2 × number of inputs arguments, scalars of the element dtypes) and gets back one tensor or a
tuple. The frontend builds the combine region by calling it under its own engine.

Every method here raises ``NotImplementedError``; an engine overrides what it supports.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tritium.language.dtypes import dtype

__all__ = [
    "MATH_FUNCTIONS",
    "MATH_INT32_RESULTS",
    "MATH_INT64_RESULTS",
    "Engine",
    "Scalar",
    "Tensor",
]

#: A tile or scalar value of the engine (its ``tl.tensor`` subclass).
Tensor = Any
#: What a method may receive where a tensor is expected: a tensor or a Python scalar.
Scalar = Any

#: Names :meth:`Engine.math` receives, with their arity. All are elementwise on fp32/fp64
#: tensors (the builtin rejects other tensor dtypes; a Python float is an fp32 scalar) and
#: return the input's dtype, except those in :data:`MATH_INT32_RESULTS` and
#: :data:`MATH_INT64_RESULTS`. Meanings are C's / CUDA libdevice's (``rcp`` is 1/x, ``exp10``
#: 10**x, ``normcdf`` the standard normal CDF, ``round`` rounds half away from zero, ``rint``
#: and ``nearbyint`` half to even, ``float2int_rn`` to nearest even int32).
MATH_FUNCTIONS: dict[str, int] = {
    **dict.fromkeys(
        "tan tanh asin acos atan sinh cosh asinh acosh atanh log10 log1p expm1 exp10 cbrt rcp"
        " trunc round rint nearbyint erfc erfinv lgamma tgamma signbit isnan isinf isfinite"
        " j0 j1 y0 y1 normcdf ilogb float2int_rn llrint llround".split(),
        1,
    ),
    **dict.fromkeys("pow atan2 hypot fmod remainder copysign nextafter fdim ldexp".split(), 2),
}

#: Math functions whose result is int32 (libdevice's convention), not the input's dtype.
MATH_INT32_RESULTS = frozenset({"signbit", "isnan", "isinf", "isfinite", "ilogb", "float2int_rn"})
#: Math functions whose result is int64 (round to nearest integer, as C's llrint/llround).
MATH_INT64_RESULTS = frozenset({"llrint", "llround"})


class Engine:
    """The protocol every engine implements; one method per builtin and per operator."""

    @classmethod
    def unimplemented(cls) -> list[str]:
        """The protocol methods ``cls`` does not override (for an engine's own coverage test)."""
        return sorted(
            name
            for name, fn in vars(Engine).items()
            if callable(fn)
            and not name.startswith("_")
            and name != "unimplemented"
            and getattr(cls, name) is fn
        )

    # ---------------------------------------------------------------------------------------
    # Operators (tensor dunder methods and the frontend's AST visitor)
    # ---------------------------------------------------------------------------------------

    def add(self, lhs: Scalar, rhs: Scalar) -> Tensor:
        """``lhs + rhs`` (also pointer + integer offset, counted in elements)."""
        raise NotImplementedError("add")

    def sub(self, lhs: Scalar, rhs: Scalar) -> Tensor:
        """``lhs - rhs`` (also pointer - integer)."""
        raise NotImplementedError("sub")

    def mul(self, lhs: Scalar, rhs: Scalar) -> Tensor:
        """``lhs * rhs``."""
        raise NotImplementedError("mul")

    def truediv(self, lhs: Scalar, rhs: Scalar) -> Tensor:
        """``lhs / rhs``: always floating point (int / int gives fp32, as in Triton)."""
        raise NotImplementedError("truediv")

    def floordiv(self, lhs: Scalar, rhs: Scalar) -> Tensor:
        """``lhs // rhs`` on integers: division rounding toward zero (C semantics, as Triton).
        Triton rejects ``//`` on floating point operands; engines raise TypeError too."""
        raise NotImplementedError("floordiv")

    def mod(self, lhs: Scalar, rhs: Scalar) -> Tensor:
        """``lhs % rhs``: the remainder has the sign of ``lhs`` (C's ``%`` and ``fmod``, as
        Triton's srem/urem/frem), not Python's sign-of-divisor rule."""
        raise NotImplementedError("mod")

    def neg(self, operand: Tensor) -> Tensor:
        """``-operand``."""
        raise NotImplementedError("neg")

    def pos(self, operand: Tensor) -> Tensor:
        """``+operand`` (identity)."""
        raise NotImplementedError("pos")

    def invert(self, operand: Tensor) -> Tensor:
        """``~operand``: bitwise not of an integer tensor."""
        raise NotImplementedError("invert")

    def and_(self, lhs: Scalar, rhs: Scalar) -> Tensor:
        """``lhs & rhs`` (integers and booleans)."""
        raise NotImplementedError("and_")

    def or_(self, lhs: Scalar, rhs: Scalar) -> Tensor:
        """``lhs | rhs``."""
        raise NotImplementedError("or_")

    def xor(self, lhs: Scalar, rhs: Scalar) -> Tensor:
        """``lhs ^ rhs``."""
        raise NotImplementedError("xor")

    def lshift(self, lhs: Scalar, rhs: Scalar) -> Tensor:
        """``lhs << rhs``."""
        raise NotImplementedError("lshift")

    def rshift(self, lhs: Scalar, rhs: Scalar) -> Tensor:
        """``lhs >> rhs``: arithmetic for signed, logical for unsigned integers."""
        raise NotImplementedError("rshift")

    def lt(self, lhs: Scalar, rhs: Scalar) -> Tensor:
        """``lhs < rhs``, an int1 result."""
        raise NotImplementedError("lt")

    def le(self, lhs: Scalar, rhs: Scalar) -> Tensor:
        """``lhs <= rhs``."""
        raise NotImplementedError("le")

    def gt(self, lhs: Scalar, rhs: Scalar) -> Tensor:
        """``lhs > rhs``."""
        raise NotImplementedError("gt")

    def ge(self, lhs: Scalar, rhs: Scalar) -> Tensor:
        """``lhs >= rhs``."""
        raise NotImplementedError("ge")

    def eq(self, lhs: Scalar, rhs: Scalar) -> Tensor:
        """``lhs == rhs``."""
        raise NotImplementedError("eq")

    def ne(self, lhs: Scalar, rhs: Scalar) -> Tensor:
        """``lhs != rhs``."""
        raise NotImplementedError("ne")

    def logical_and(self, lhs: Scalar, rhs: Scalar) -> Tensor:
        """``lhs and rhs`` on tensors (called by the frontend's AST visitor), an int1 result."""
        raise NotImplementedError("logical_and")

    def logical_or(self, lhs: Scalar, rhs: Scalar) -> Tensor:
        """``lhs or rhs`` on tensors."""
        raise NotImplementedError("logical_or")

    def logical_not(self, operand: Tensor) -> Tensor:
        """``not operand`` on a tensor."""
        raise NotImplementedError("logical_not")

    def getitem(self, input: Tensor, idx: Any) -> Tensor:
        """``input[idx]``: ``idx`` is a tuple (or single item) of ``None`` (new axis of size 1)
        and ``slice(None)`` (keep the axis); constexprs already unwrapped."""
        raise NotImplementedError("getitem")

    # ---------------------------------------------------------------------------------------
    # Program ids, creation
    # ---------------------------------------------------------------------------------------

    def program_id(self, axis: int) -> Tensor:
        """The id of the running program along ``axis`` (0, 1 or 2): an int32 scalar."""
        raise NotImplementedError("program_id")

    def num_programs(self, axis: int) -> Tensor:
        """The number of programs along ``axis`` (0, 1 or 2): an int32 scalar."""
        raise NotImplementedError("num_programs")

    def arange(self, start: int, end: int) -> Tensor:
        """The int32 tile ``[start, end)``; the builtin checked ``0 <= start < end <= 2**31``.
        ``end - start`` need not be a power of two: tritium allows tiles of any size."""
        raise NotImplementedError("arange")

    def full(self, shape: tuple[int, ...], value: Scalar, dtype: dtype) -> Tensor:
        """A tile of ``shape`` filled with ``value`` (a Python scalar or a scalar tensor) cast to
        ``dtype``. ``shape == ()`` makes a scalar."""
        raise NotImplementedError("full")

    # ---------------------------------------------------------------------------------------
    # Memory
    # ---------------------------------------------------------------------------------------

    def load(
        self,
        pointer: Tensor,
        mask: Scalar | None,
        other: Scalar | None,
        boundary_check: tuple[int, ...],
        padding_option: str,
        cache_modifier: str,
        eviction_policy: str,
        volatile: bool,
    ) -> Tensor:
        """Load from a pointer (scalar or tile) or a block pointer.

        ``mask``/``other``: None or a tensor/scalar broadcastable to the pointer's shape;
        lanes where ``mask`` is false are not read and take ``other`` (undefined if None; the
        builtin already rejected ``other`` without ``mask``, and both with a block pointer).
        For block pointers, ``boundary_check`` lists the axes to check and ``padding_option``
        is ``""``, ``"zero"`` or ``"nan"``. The hint strings are ``""`` when not given.
        """
        raise NotImplementedError("load")

    def store(
        self,
        pointer: Tensor,
        value: Scalar,
        mask: Scalar | None,
        boundary_check: tuple[int, ...],
        cache_modifier: str,
        eviction_policy: str,
    ) -> None:
        """Store ``value`` (cast to the pointee dtype, broadcast to the pointer's shape) where
        ``mask`` is true (everywhere if None)."""
        raise NotImplementedError("store")

    def make_block_ptr(
        self,
        base: Tensor,
        shape: tuple[Scalar, ...],
        strides: tuple[Scalar, ...],
        offsets: tuple[Scalar, ...],
        block_shape: tuple[int, ...],
        order: tuple[int, ...],
    ) -> Tensor:
        """A block pointer into the tensor at ``base`` (a scalar pointer). ``shape``, ``strides``
        and ``offsets`` hold ints or integer scalar tensors (one per dimension). Its ``type``
        must be ``pointer_type(block_type(element, block_shape))``, as in Triton, so that the
        builtins can tell block pointers apart (``memory.is_block_pointer``)."""
        raise NotImplementedError("make_block_ptr")

    def advance(self, base: Tensor, offsets: tuple[Scalar, ...]) -> Tensor:
        """The block pointer ``base`` moved by ``offsets`` (in elements, per dimension)."""
        raise NotImplementedError("advance")

    def make_tensor_descriptor(
        self,
        base: Tensor,
        shape: tuple[Scalar, ...],
        strides: tuple[Scalar, ...],
        block_shape: tuple[int, ...],
        padding_option: str,
    ) -> Any:
        """A tensor descriptor (TMA-style) over ``base``: an instance of a subclass of
        :class:`tritium.language.memory.tensor_descriptor` (so ``desc.load(offsets)`` works),
        whose ``type`` is ``block_type(element, block_shape)``."""
        raise NotImplementedError("make_tensor_descriptor")

    def descriptor_load(self, desc: Any, offsets: tuple[Scalar, ...]) -> Tensor:
        """Load the block at ``offsets`` through a tensor descriptor (out of bounds: padding)."""
        raise NotImplementedError("descriptor_load")

    def descriptor_store(self, desc: Any, offsets: tuple[Scalar, ...], value: Tensor) -> None:
        """Store ``value`` to the block at ``offsets`` through a tensor descriptor."""
        raise NotImplementedError("descriptor_store")

    # Atomics: ``sem`` is "acq_rel" (default), "acquire", "release" or "relaxed"; ``scope`` is
    # "gpu" (default), "cta" or "sys". Each returns the values memory held before the update.

    def atomic_add(
        self, pointer: Tensor, val: Scalar, mask: Scalar | None, sem: str, scope: str
    ) -> Tensor:
        """Atomically ``*pointer += val`` where ``mask``; returns the old values."""
        raise NotImplementedError("atomic_add")

    def atomic_max(
        self, pointer: Tensor, val: Scalar, mask: Scalar | None, sem: str, scope: str
    ) -> Tensor:
        """Atomically ``*pointer = max(*pointer, val)``; returns the old values."""
        raise NotImplementedError("atomic_max")

    def atomic_min(
        self, pointer: Tensor, val: Scalar, mask: Scalar | None, sem: str, scope: str
    ) -> Tensor:
        """Atomically ``*pointer = min(*pointer, val)``; returns the old values."""
        raise NotImplementedError("atomic_min")

    def atomic_and(
        self, pointer: Tensor, val: Scalar, mask: Scalar | None, sem: str, scope: str
    ) -> Tensor:
        """Atomically ``*pointer &= val``; returns the old values."""
        raise NotImplementedError("atomic_and")

    def atomic_or(
        self, pointer: Tensor, val: Scalar, mask: Scalar | None, sem: str, scope: str
    ) -> Tensor:
        """Atomically ``*pointer |= val``; returns the old values."""
        raise NotImplementedError("atomic_or")

    def atomic_xor(
        self, pointer: Tensor, val: Scalar, mask: Scalar | None, sem: str, scope: str
    ) -> Tensor:
        """Atomically ``*pointer ^= val``; returns the old values."""
        raise NotImplementedError("atomic_xor")

    def atomic_xchg(
        self, pointer: Tensor, val: Scalar, mask: Scalar | None, sem: str, scope: str
    ) -> Tensor:
        """Atomically ``*pointer = val``; returns the old values."""
        raise NotImplementedError("atomic_xchg")

    def atomic_cas(self, pointer: Tensor, cmp: Scalar, val: Scalar, sem: str, scope: str) -> Tensor:
        """Atomically ``if *pointer == cmp: *pointer = val``; returns the old values."""
        raise NotImplementedError("atomic_cas")

    # ---------------------------------------------------------------------------------------
    # Linear algebra
    # ---------------------------------------------------------------------------------------

    def dot(
        self,
        input: Tensor,
        other: Tensor,
        acc: Tensor | None,
        input_precision: str | None,
        max_num_imprecise_acc: int | None,
        out_dtype: dtype,
    ) -> Tensor:
        """``input @ other (+ acc)`` on 2-D (or batched 3-D) tiles, each dim >= 16.

        ``input_precision`` is None (engine default), "ieee", "tf32" or "tf32x3"; ``out_dtype``
        is the accumulator dtype (float32 default; int32 for int8 inputs).
        """
        raise NotImplementedError("dot")

    def dot_scaled(
        self,
        lhs: Tensor,
        lhs_scale: Tensor | None,
        lhs_format: str,
        rhs: Tensor,
        rhs_scale: Tensor | None,
        rhs_format: str,
        acc: Tensor | None,
        fast_math: bool,
        lhs_k_pack: bool,
        rhs_k_pack: bool,
        out_dtype: dtype,
    ) -> Tensor:
        """A microscaled dot product (formats "e2m1", "e4m3", "e5m2", "bf16", "fp16")."""
        raise NotImplementedError("dot_scaled")

    # ---------------------------------------------------------------------------------------
    # Reductions, scans, sorting
    # ---------------------------------------------------------------------------------------

    def reduce(
        self,
        inputs: tuple[Tensor, ...],
        axis: int | None,
        combine_fn: Callable[..., Any],
        keep_dims: bool,
    ) -> tuple[Tensor, ...]:
        """Reduce the tiles ``inputs`` (one shape) along ``axis`` (None: all axes, flattened)
        with ``combine_fn`` (see the module docstring); one result per input."""
        raise NotImplementedError("reduce")

    def associative_scan(
        self, inputs: tuple[Tensor, ...], axis: int, combine_fn: Callable[..., Any], reverse: bool
    ) -> tuple[Tensor, ...]:
        """Inclusive scan of ``inputs`` along ``axis`` with ``combine_fn``."""
        raise NotImplementedError("associative_scan")

    def sum(self, input: Tensor, axis: int | None, keep_dims: bool, dtype: dtype) -> Tensor:
        """Sum along ``axis`` (None: everything). The builtin resolved ``dtype`` with
        :func:`~tritium.language.type_rules.sum_dtype` and already cast ``input`` to it,
        so ``dtype == input.dtype``: accumulate and return in it."""
        raise NotImplementedError("sum")

    def max(
        self,
        input: Tensor,
        axis: int | None,
        return_indices: bool,
        return_indices_tie_break_left: bool,
        keep_dims: bool,
    ) -> Any:
        """Maximum along ``axis``; with ``return_indices`` a tuple ``(values, int32 indices)``.
        ``input`` is already widened by :func:`~tritium.language.type_rules.max_min_dtype`;
        ties pick the smallest index if ``return_indices_tie_break_left`` (else any)."""
        raise NotImplementedError("max")

    def min(
        self,
        input: Tensor,
        axis: int | None,
        return_indices: bool,
        return_indices_tie_break_left: bool,
        keep_dims: bool,
    ) -> Any:
        """Minimum along ``axis``; like :meth:`max`."""
        raise NotImplementedError("min")

    def argmax(
        self, input: Tensor, axis: int | None, tie_break_left: bool, keep_dims: bool
    ) -> Tensor:
        """int32 index of the maximum along ``axis`` (ties: smallest index if tie_break_left)."""
        raise NotImplementedError("argmax")

    def argmin(
        self, input: Tensor, axis: int | None, tie_break_left: bool, keep_dims: bool
    ) -> Tensor:
        """int32 index of the minimum along ``axis``."""
        raise NotImplementedError("argmin")

    def xor_sum(self, input: Tensor, axis: int | None, keep_dims: bool) -> Tensor:
        """Bitwise xor of an integer tile along ``axis``."""
        raise NotImplementedError("xor_sum")

    def cumsum(self, input: Tensor, axis: int, reverse: bool, dtype: dtype) -> Tensor:
        """Inclusive prefix sum along ``axis``; ``input`` is already cast to ``dtype``
        (:func:`~tritium.language.type_rules.cumsum_dtype`)."""
        raise NotImplementedError("cumsum")

    def cumprod(self, input: Tensor, axis: int, reverse: bool) -> Tensor:
        """Inclusive prefix product along ``axis`` (bf16 input already widened to fp32)."""
        raise NotImplementedError("cumprod")

    def sort(self, x: Tensor, dim: int, descending: bool) -> Tensor:
        """``x`` sorted along ``dim`` (the builtin resolved None to the last dim)."""
        raise NotImplementedError("sort")

    def topk(self, x: Tensor, k: int, dim: int, descending: bool) -> Tensor:
        """The ``k`` largest (``descending``) or smallest values along ``dim``, in order
        (``k`` a power of two)."""
        raise NotImplementedError("topk")

    def flip(self, x: Tensor, dim: int) -> Tensor:
        """``x`` reversed along ``dim`` (the builtin resolved None to the last dim)."""
        raise NotImplementedError("flip")

    def histogram(self, input: Tensor, num_bins: int, mask: Scalar | None) -> Tensor:
        """int32 counts of the values of a 1-D int tile in bins ``[0, num_bins)``; values
        outside the range (and masked-off lanes) are not counted."""
        raise NotImplementedError("histogram")

    def gather(self, src: Tensor, index: Tensor, axis: int) -> Tensor:
        """``out[i][j] = src[index[i][j]][j]`` for axis 0 (like ``torch.gather``)."""
        raise NotImplementedError("gather")

    # ---------------------------------------------------------------------------------------
    # Elementwise arithmetic and math
    # ---------------------------------------------------------------------------------------

    def where(self, condition: Scalar, x: Scalar, y: Scalar) -> Tensor:
        """``x`` where ``condition`` else ``y``, broadcast together and promoted."""
        raise NotImplementedError("where")

    def maximum(self, x: Scalar, y: Scalar, propagate_nan: str) -> Tensor:
        """Elementwise maximum; ``propagate_nan`` is "none" (a NaN input may or may not win)
        or "all" (any NaN input gives NaN)."""
        raise NotImplementedError("maximum")

    def minimum(self, x: Scalar, y: Scalar, propagate_nan: str) -> Tensor:
        """Elementwise minimum (see :meth:`maximum`)."""
        raise NotImplementedError("minimum")

    def clamp(self, x: Scalar, min: Scalar, max: Scalar, propagate_nan: str) -> Tensor:
        """``minimum(maximum(x, min), max)`` on floats."""
        raise NotImplementedError("clamp")

    def fma(self, x: Scalar, y: Scalar, z: Scalar) -> Tensor:
        """``x * y + z`` with one rounding."""
        raise NotImplementedError("fma")

    # The builtins below checked that tensor arguments are fp32/fp64 (see type_rules);
    # a Python float argument is an fp32 scalar.

    def exp(self, x: Tensor) -> Tensor:
        """e**x."""
        raise NotImplementedError("exp")

    def exp2(self, x: Tensor) -> Tensor:
        """2**x."""
        raise NotImplementedError("exp2")

    def log(self, x: Tensor) -> Tensor:
        """Natural logarithm."""
        raise NotImplementedError("log")

    def log2(self, x: Tensor) -> Tensor:
        """Base-2 logarithm."""
        raise NotImplementedError("log2")

    def cos(self, x: Tensor) -> Tensor:
        """Cosine."""
        raise NotImplementedError("cos")

    def sin(self, x: Tensor) -> Tensor:
        """Sine."""
        raise NotImplementedError("sin")

    def sqrt(self, x: Tensor) -> Tensor:
        """Square root (may be approximate)."""
        raise NotImplementedError("sqrt")

    def sqrt_rn(self, x: Tensor) -> Tensor:
        """Square root rounded to nearest (IEEE)."""
        raise NotImplementedError("sqrt_rn")

    def rsqrt(self, x: Tensor) -> Tensor:
        """1 / sqrt(x)."""
        raise NotImplementedError("rsqrt")

    def abs(self, x: Tensor) -> Tensor:
        """Absolute value (ints and floats; unsigned ints unchanged)."""
        raise NotImplementedError("abs")

    def floor(self, x: Tensor) -> Tensor:
        """Round toward -inf."""
        raise NotImplementedError("floor")

    def ceil(self, x: Tensor) -> Tensor:
        """Round toward +inf."""
        raise NotImplementedError("ceil")

    def erf(self, x: Tensor) -> Tensor:
        """The error function."""
        raise NotImplementedError("erf")

    def div_rn(self, x: Scalar, y: Scalar) -> Tensor:
        """x / y rounded to nearest (IEEE) on floats."""
        raise NotImplementedError("div_rn")

    def fdiv(self, x: Scalar, y: Scalar, ieee_rounding: bool) -> Tensor:
        """Floating point x / y; approximate unless ``ieee_rounding``."""
        raise NotImplementedError("fdiv")

    def umulhi(self, x: Scalar, y: Scalar) -> Tensor:
        """The high 32 (or 64) bits of the unsigned product of two integer tensors."""
        raise NotImplementedError("umulhi")

    def math(self, name: str, args: tuple[Scalar, ...]) -> Tensor:
        """The elementwise function ``name`` from :data:`MATH_FUNCTIONS` applied to ``args``."""
        raise NotImplementedError(f"math.{name}")

    def cast(
        self, input: Scalar, dtype: dtype, fp_downcast_rounding: str | None, bitcast: bool
    ) -> Tensor:
        """``input`` converted to ``dtype``; ``bitcast`` reinterprets bits (same width);
        ``fp_downcast_rounding`` is None, "rtne" or "rtz" for float narrowing."""
        raise NotImplementedError("cast")

    def map_elementwise(
        self, scalar_fn: Callable[..., Any], args: tuple[Scalar, ...], pack: int
    ) -> Any:
        """Apply ``scalar_fn`` elementwise over ``args`` broadcast together. ``scalar_fn`` is
        a ``@jit`` function or a plain callable of ``tl`` ops, called with ``pack`` scalars per
        argument (``len(args) * pack`` values); it returns ``pack`` scalars per result (one
        result, or a tuple). Returns one tile, or a tuple of tiles."""
        raise NotImplementedError("map_elementwise")

    def inline_asm_elementwise(
        self,
        asm: str,
        constraints: str,
        args: tuple[Tensor, ...],
        dtype: dtype | tuple[dtype, ...],
        is_pure: bool,
        pack: int,
    ) -> Any:
        """Inline assembly applied elementwise; engines without an assembler raise."""
        raise NotImplementedError("inline_asm_elementwise")

    # ---------------------------------------------------------------------------------------
    # Shapes
    # ---------------------------------------------------------------------------------------

    def broadcast(self, input: Scalar, other: Scalar) -> tuple[Tensor, Tensor]:
        """``input`` and ``other`` broadcast to their common shape."""
        raise NotImplementedError("broadcast")

    def broadcast_to(self, input: Scalar, shape: tuple[int, ...]) -> Tensor:
        """``input`` broadcast to ``shape`` (numpy rules: size-1 dims, leading dims)."""
        raise NotImplementedError("broadcast_to")

    def expand_dims(self, input: Tensor, axis: int) -> Tensor:
        """``input`` with a new size-1 axis at ``axis`` (0 <= axis <= rank, already resolved)."""
        raise NotImplementedError("expand_dims")

    def reshape(self, input: Tensor, shape: tuple[int, ...], can_reorder: bool) -> Tensor:
        """``input`` reshaped (row-major) to ``shape``; ``can_reorder`` lets the engine pick any
        element order (Triton's ``view``)."""
        raise NotImplementedError("reshape")

    def permute(self, input: Tensor, dims: tuple[int, ...]) -> Tensor:
        """``input`` with its axes permuted: result axis i is input axis ``dims[i]``."""
        raise NotImplementedError("permute")

    def join(self, a: Tensor, b: Tensor) -> Tensor:
        """Stack ``a`` and ``b`` (one shape) along a new last axis of size 2."""
        raise NotImplementedError("join")

    def split(self, a: Tensor) -> tuple[Tensor, Tensor]:
        """Split a tile whose last axis has size 2 into two tiles without that axis."""
        raise NotImplementedError("split")

    def cat(self, input: Tensor, other: Tensor, can_reorder: bool) -> Tensor:
        """Concatenate two tiles of one shape along axis 0 (``can_reorder``: the engine may
        order the result's elements as it likes, which is all Triton promises)."""
        raise NotImplementedError("cat")

    # ---------------------------------------------------------------------------------------
    # Compiler hints
    # ---------------------------------------------------------------------------------------

    def multiple_of(self, input: Tensor, values: tuple[int, ...]) -> Tensor:
        """``input`` with the hint that its values are multiples of ``values`` (per dim)."""
        raise NotImplementedError("multiple_of")

    def max_contiguous(self, input: Tensor, values: tuple[int, ...]) -> Tensor:
        """``input`` with the hint that its first ``values`` values are contiguous."""
        raise NotImplementedError("max_contiguous")

    def max_constancy(self, input: Tensor, values: tuple[int, ...]) -> Tensor:
        """``input`` with the hint that runs of ``values`` values are constant."""
        raise NotImplementedError("max_constancy")

    def assume(self, cond: Tensor) -> None:
        """Let the compiler assume the int1 scalar ``cond`` holds."""
        raise NotImplementedError("assume")

    # ---------------------------------------------------------------------------------------
    # Debugging
    # ---------------------------------------------------------------------------------------

    def device_assert(self, cond: Scalar, msg: str, mask: Scalar | None) -> None:
        """Fail the launch with ``msg`` where ``cond`` is false (and ``mask`` true)."""
        raise NotImplementedError("device_assert")

    def device_print(self, prefix: str, args: tuple[Scalar, ...], hex: bool) -> None:
        """Print ``prefix`` and the values of ``args`` from every program (``hex``: in hex)."""
        raise NotImplementedError("device_print")

    def debug_barrier(self) -> None:
        """Synchronize all threads of a program (a no-op where programs are sequential)."""
        raise NotImplementedError("debug_barrier")
