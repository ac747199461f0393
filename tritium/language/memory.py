"""Builtins that touch memory: load, store, block pointers, tensor descriptors, atomics."""

from __future__ import annotations

from typing import Any

from tritium.language.args import as_int, as_shape, check_choice
from tritium.language.core import _engine, builtin, tensor, tensor_member

__all__ = [
    "advance",
    "atomic_add",
    "atomic_and",
    "atomic_cas",
    "atomic_max",
    "atomic_min",
    "atomic_or",
    "atomic_xchg",
    "atomic_xor",
    "is_block_pointer",
    "load",
    "load_tensor_descriptor",
    "make_block_ptr",
    "make_tensor_descriptor",
    "store",
    "store_tensor_descriptor",
    "tensor_descriptor",
    "tensor_descriptor_base",
]

_LOAD_CACHE_MODIFIERS = ("", ".ca", ".cg", ".cs", ".cv")
_STORE_CACHE_MODIFIERS = ("", ".wb", ".cg", ".cs", ".wt")
_EVICTION_POLICIES = ("", "evict_first", "evict_last", "evict_normal")
_PADDING_OPTIONS = ("", "zero", "nan")
_SEMANTICS = ("acq_rel", "acquire", "release", "relaxed")
_SCOPES = ("gpu", "cta", "sys")


def _boundary_check(value: Any) -> tuple[int, ...]:
    if value is None:
        return ()
    if not isinstance(value, (tuple, list)):
        value = (value,)
    return tuple(as_int(v, "boundary_check") for v in value)


def _no_options(
    boundary_check: Any, padding_option: Any, cache_modifier: Any, eviction: Any, volatile: Any
) -> bool:
    """Whether a load/store gives none of its options (each at its default or falsy)."""
    return (boundary_check is None or (type(boundary_check) is tuple and not boundary_check)) and (
        not (padding_option or cache_modifier or eviction or volatile)
    )


def is_block_pointer(pointer: Any) -> bool:
    """Whether ``pointer`` is a block pointer: its type is ``pointer_type(block_type(...))``,
    the type engines give the result of ``make_block_ptr``."""
    ty = getattr(pointer, "type", None)
    return bool(ty is not None and ty.is_ptr() and ty.element_ty.is_block())


def _check_plain_pointer_options(
    pointer: Any, boundary_check: Any, padding_option: str, what: str
) -> None:
    # Only block pointers know their bounds; Triton refuses these options on plain pointers
    # rather than silently ignoring them.
    ty = getattr(pointer, "type", None)
    if ty is None or not ty.scalar.is_ptr():
        return  # not a pointer the language can see into; the engine reports it
    if boundary_check:
        raise ValueError(
            f"{what}: boundary_check needs a block pointer (tl.make_block_ptr); with a tile of "
            "pointers use a mask"
        )
    if padding_option:
        raise ValueError(
            f"{what}: padding_option needs a block pointer (tl.make_block_ptr); with a tile "
            "of pointers use mask and other"
        )


def _dims(value: Any, what: str) -> tuple[Any, ...]:
    # Dimensions that may be run-time values (ints or integer scalar tensors).
    if not isinstance(value, (tuple, list)):
        value = (value,)
    return tuple(value)


@builtin
def load(
    pointer: Any,
    mask: Any = None,
    other: Any = None,
    boundary_check: Any = (),
    padding_option: Any = "",
    cache_modifier: Any = "",
    eviction_policy: Any = "",
    volatile: Any = False,
) -> tensor:
    """Load a tile (or scalar) from ``pointer``: a pointer, a tile of pointers, or a block
    pointer. Lanes where ``mask`` is false are not read and take ``other``."""
    if _no_options(boundary_check, padding_option, cache_modifier, eviction_policy, volatile):
        # the common call (interpreted loops make it every iteration): nothing to check but
        # the mask's and other's combination
        if mask is None:
            if other is None:
                return _engine().load(pointer, None, None, (), "", "", "", False)
        elif not is_block_pointer(pointer):
            return _engine().load(pointer, mask, other, (), "", "", "", False)
    padding_option = padding_option or ""
    check_choice(padding_option, _PADDING_OPTIONS, "padding_option")
    check_choice(cache_modifier or "", _LOAD_CACHE_MODIFIERS, "cache_modifier")
    if is_block_pointer(pointer):
        if mask is not None or other is not None:
            raise ValueError(
                "load: mask and other cannot be used with a block pointer; use "
                "boundary_check and padding_option"
            )
    else:
        if mask is None and other is not None:
            raise ValueError("load: other cannot be given without mask")
        _check_plain_pointer_options(
            pointer, _boundary_check(boundary_check), padding_option, "load"
        )
    check_choice(eviction_policy or "", _EVICTION_POLICIES, "eviction_policy")
    return _engine().load(
        pointer,
        mask,
        other,
        _boundary_check(boundary_check),
        padding_option,
        cache_modifier or "",
        eviction_policy or "",
        bool(volatile),
    )


@tensor_member
@builtin
def store(
    pointer: Any,
    value: Any,
    mask: Any = None,
    boundary_check: Any = (),
    cache_modifier: Any = "",
    eviction_policy: Any = "",
) -> None:
    """Store ``value`` at ``pointer`` where ``mask`` is true (everywhere if None)."""
    if _no_options(boundary_check, "", cache_modifier, eviction_policy, False) and (
        mask is None or not is_block_pointer(pointer)
    ):
        return _engine().store(pointer, value, mask, (), "", "")
    check_choice(cache_modifier or "", _STORE_CACHE_MODIFIERS, "cache_modifier")
    if is_block_pointer(pointer):
        if mask is not None:
            raise ValueError("store: mask cannot be used with a block pointer; use boundary_check")
    else:
        _check_plain_pointer_options(pointer, _boundary_check(boundary_check), "", "store")
    check_choice(eviction_policy or "", _EVICTION_POLICIES, "eviction_policy")
    return _engine().store(
        pointer,
        value,
        mask,
        _boundary_check(boundary_check),
        cache_modifier or "",
        eviction_policy or "",
    )


@builtin
def make_block_ptr(
    base: Any, shape: Any, strides: Any, offsets: Any, block_shape: Any, order: Any
) -> tensor:
    """A pointer to a ``block_shape`` block of the ``shape``/``strides`` tensor at ``base``,
    starting at ``offsets``; ``order`` lists the dims from fastest to slowest varying."""
    shape, strides, offsets = (
        _dims(shape, "shape"),
        _dims(strides, "strides"),
        _dims(offsets, "offsets"),
    )
    block_shape, order = as_shape(block_shape, "block_shape"), as_shape(order, "order")
    n = len(shape)
    if not (len(strides) == len(offsets) == len(block_shape) == len(order) == n):
        raise ValueError(
            "make_block_ptr: shape, strides, offsets, block_shape and order must "
            f"have the same length, got {n}, {len(strides)}, {len(offsets)}, "
            f"{len(block_shape)}, {len(order)}"
        )
    if sorted(order) != list(range(n)):
        raise ValueError(f"make_block_ptr: order must be a permutation of 0..{n - 1}, got {order}")
    return _engine().make_block_ptr(base, shape, strides, offsets, block_shape, order)


@tensor_member
@builtin
def advance(base: Any, offsets: Any) -> tensor:
    """The block pointer ``base`` moved by ``offsets`` elements along each dimension."""
    return _engine().advance(base, _dims(offsets, "offsets"))


class tensor_descriptor_base:  # noqa: N801 - Triton's public name
    """Methods shared by every engine's tensor descriptor (``desc.load(offsets)``).

    Engines return a subclass of :class:`tensor_descriptor` from ``make_tensor_descriptor``.
    """

    def load(self, offsets: Any) -> tensor:
        """Load the block at ``offsets``."""
        return load_tensor_descriptor(self, offsets)

    def store(self, offsets: Any, value: Any) -> None:
        """Store ``value`` to the block at ``offsets``."""
        return store_tensor_descriptor(self, offsets, value)


class tensor_descriptor(tensor_descriptor_base):  # noqa: N801 - Triton's public name
    """A descriptor of a tensor in global memory: ``base``, ``shape``, ``strides`` and the
    ``block_shape`` its loads and stores move (TMA-style on GPUs)."""

    def __init__(
        self, handle: Any, shape: tuple[Any, ...], strides: tuple[Any, ...], block_type: Any
    ) -> None:
        self.handle = handle
        self.shape = shape
        self.strides = strides
        self.type = block_type

    @property
    def block_shape(self) -> tuple[int, ...]:
        """The shape of the blocks this descriptor loads and stores."""
        return tuple(self.type.shape)

    @property
    def dtype(self) -> Any:
        """The element dtype."""
        return self.type.scalar


@builtin
def make_tensor_descriptor(
    base: Any, shape: Any, strides: Any, block_shape: Any, padding_option: Any = "zero"
) -> Any:
    """A descriptor for loading and storing ``block_shape`` blocks of a ``shape``/``strides``
    tensor at ``base``; out-of-bounds lanes read ``padding_option`` ("zero" or "nan")."""
    check_choice(padding_option, ("zero", "nan"), "padding_option")
    shape, strides = _dims(shape, "shape"), _dims(strides, "strides")
    block_shape = as_shape(block_shape, "block_shape")
    if not (len(shape) == len(strides) == len(block_shape)):
        raise ValueError(
            "make_tensor_descriptor: shape, strides and block_shape must have the same length"
        )
    return _engine().make_tensor_descriptor(base, shape, strides, block_shape, padding_option)


@builtin
def load_tensor_descriptor(desc: Any, offsets: Any) -> tensor:
    """Load the block at ``offsets`` through the tensor descriptor ``desc``."""
    return _engine().descriptor_load(desc, _dims(offsets, "offsets"))


@builtin
def store_tensor_descriptor(desc: Any, offsets: Any, value: Any) -> None:
    """Store ``value`` to the block at ``offsets`` through the tensor descriptor ``desc``."""
    return _engine().descriptor_store(desc, _dims(offsets, "offsets"), value)


def _sem_scope(sem: Any, scope: Any) -> tuple[str, str]:
    sem = "acq_rel" if sem is None else sem
    scope = "gpu" if scope is None else scope
    return check_choice(sem, _SEMANTICS, "sem"), check_choice(scope, _SCOPES, "scope")


def _check_atomic_type(name: str, pointer: Any) -> None:
    """Triton's element types for atomics: nothing narrower than 32 bits but fp16/bf16, and
    those only for ``atomic_add``; ``atomic_cas`` takes 16-bit elements too."""
    ty = getattr(pointer, "dtype", None)
    elt = getattr(ty, "element_ty", None)
    if elt is None or elt.is_ptr():
        return
    if name == "atomic_cas":
        if elt.primitive_bitwidth < 16:
            raise ValueError("atomic_cas only supports elements with width {16, 32, 64}")
    elif elt.is_floating() and elt.primitive_bitwidth == 16:
        if name != "atomic_add":
            raise ValueError(f"{name} does not support {'bf16' if elt.is_bf16() else 'fp16'}")
    elif elt.primitive_bitwidth < 32:
        raise ValueError(f"{name} does not support {elt}")


def _atomic_rmw(name: str, doc: str) -> Any:
    def fn(pointer: Any, val: Any, mask: Any = None, sem: Any = None, scope: Any = None) -> tensor:
        _check_atomic_type(name, pointer)
        return getattr(_engine(), name)(pointer, val, mask, *_sem_scope(sem, scope))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc + (
        '\n\n``sem`` is the memory ordering ("acq_rel" default, "acquire", "release",'
        ' "relaxed"), ``scope`` "gpu" (default), "cta" or "sys". Returns the values'
        " memory held before the operation."
    )
    fn.__module__ = __name__
    return tensor_member(builtin(fn))


atomic_add = _atomic_rmw("atomic_add", "Atomically add ``val`` at ``pointer`` where ``mask``.")
atomic_max = _atomic_rmw("atomic_max", "Atomically store ``max(*pointer, val)``.")
atomic_min = _atomic_rmw("atomic_min", "Atomically store ``min(*pointer, val)``.")
atomic_and = _atomic_rmw("atomic_and", "Atomically store ``*pointer & val``.")
atomic_or = _atomic_rmw("atomic_or", "Atomically store ``*pointer | val``.")
atomic_xor = _atomic_rmw("atomic_xor", "Atomically store ``*pointer ^ val``.")
atomic_xchg = _atomic_rmw("atomic_xchg", "Atomically store ``val``, returning the old value.")


@tensor_member
@builtin
def atomic_cas(pointer: Any, cmp: Any, val: Any, sem: Any = None, scope: Any = None) -> tensor:
    """Atomically store ``val`` at ``pointer`` where it holds ``cmp``; returns the old values."""
    _check_atomic_type("atomic_cas", pointer)
    return _engine().atomic_cas(pointer, cmp, val, *_sem_scope(sem, scope))
