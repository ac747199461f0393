"""Small value and type classes of the language: tuples, const, constexpr types.

``tl.tuple`` lets kernels pass and return groups of values (``(a, b)`` arguments of a
``@jit`` function); ``tl.const`` marks a pointer parameter read-only; ``tl.constexpr_type``
is the type of a compile-time value.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from typing import Any

__all__ = [
    "BoundJITMethod",
    "aggregate_replace",
    "tuple",
    "tuple_type",
    "const",
    "constexpr_type",
]


class tuple_type:  # noqa: N801 - Triton's public name
    """The type of a :class:`tuple`: the types of its elements (and optional field names)."""

    def __init__(self, types: Iterable[Any], fields: Iterable[str] | None = None) -> None:
        self.types = builtins.tuple(types)
        self.fields = builtins.tuple(fields) if fields is not None else ("",) * len(self.types)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, tuple_type)
            and self.types == other.types
            and self.fields == other.fields
        )

    def __hash__(self) -> int:
        return hash((self.types, self.fields))

    def __len__(self) -> int:
        return len(self.types)

    def __getitem__(self, index: int) -> Any:
        return self.types[index]

    def __repr__(self) -> str:
        return f"tuple_type({list(self.types)!r})"

    def is_block(self) -> bool:
        return False

    def is_ptr(self) -> bool:
        return False


class tuple(builtins.tuple):  # noqa: N801,A001 - Triton's public name
    """A tuple of kernel values (tensors, constexprs, nested tuples) with a :attr:`type`."""

    def __new__(cls, args: Iterable[Any] = (), type: tuple_type | None = None) -> tuple:  # noqa: A002
        self = super().__new__(cls, args)
        self._type = type
        return self

    @property
    def type(self) -> tuple_type:
        """The element types (a tensor's ``type``, else the Python type of the value)."""
        if self._type is None:
            self._type = tuple_type(getattr(v, "type", builtins.type(v)) for v in self)
        return self._type

    @property
    def values(self) -> builtins.tuple[Any, ...]:
        """The elements as a plain Python tuple."""
        return builtins.tuple(self)

    def __getattr__(self, name: str) -> Any:
        # The elements of a tuple built from a NamedTuple are reachable by field name.
        fields = self.__dict__.get("_type") and self.__dict__["_type"].fields
        if fields and name in fields:
            return self[fields.index(name)]
        raise AttributeError(f"'tuple' object has no attribute '{name}'")

    def __repr__(self) -> str:
        return f"tl.tuple({list(self)!r})"


class const:  # noqa: N801 - Triton's public name
    """Annotation marking a pointer parameter as read-only (``x_ptr: tl.const``)."""


class constexpr_type:  # noqa: N801 - Triton's public name
    """The type of a compile-time value ``value``."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, constexpr_type) and self.value == other.value

    def __hash__(self) -> int:
        try:
            return hash(("constexpr_type", self.value))
        except TypeError:  # an unhashable value: fall back to identity
            return id(self)

    def __repr__(self) -> str:
        return f"constexpr_type[{self.value!r}]"

    def is_block(self) -> bool:
        return False

    def is_ptr(self) -> bool:
        return False


_MISSING = object()


def _own_aggregate_flag(cls: builtins.type) -> bool:
    # The flag set on the decorated class itself, not one inherited from an aggregate base.
    return bool(cls.__dict__.get("__triton_aggregate__", False))


def _resolve_fields(cls: builtins.type) -> builtins.tuple[dict[str, Any], dict[str, Any]]:
    """The fields (name -> annotation, parents first) and defaults of an aggregate class."""
    import inspect
    import typing

    from tritium.language.core import constexpr

    annotations: dict[str, Any] = {}
    defaults: dict[str, Any] = {}
    for base in reversed(cls.__mro__[1:]):
        if base is object:
            continue
        if not _own_aggregate_flag(base):
            raise TypeError(
                f"Aggregates can only inherit from other aggregates, but got non-aggregate base: "
                f"{base}"
            )
        annotations.update(base.__dict__.get("__aggregate_annotations__", {}))
        defaults.update(base.__dict__.get("__aggregate_defaults__", {}))
    own = inspect.get_annotations(cls)
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # an annotation that does not evaluate: keep it as written
        hints = {}
    for name in own:
        annotations[name] = hints.get(name, own[name])
        value = cls.__dict__.get(name, _MISSING)
        # Methods and descriptors are not defaults; a constexpr (callable in tritium) is.
        if value is not _MISSING and (not callable(value) or isinstance(value, constexpr)):
            defaults[name] = value
    return annotations, defaults


def _wrap_field(value: Any) -> Any:
    """A field value as Triton stores it: Python tuples become ``tl.tuple`` (field names of a
    NamedTuple kept), plain Python values become ``constexpr``; tensors stay as they are."""
    from tritium.language.core import constexpr
    from tritium.language.dtypes import dtype

    if isinstance(value, builtins.tuple):
        items = [_wrap_field(v) for v in value]
        fields = getattr(value, "_fields", None)
        ty = tuple_type([getattr(v, "type", builtins.type(v)) for v in items], fields)
        return tuple(items, ty)
    if value is None or isinstance(value, (bool, int, float, str, dtype)):
        return constexpr(value)
    return value


class BoundJITMethod:
    """A ``@jit`` method of an aggregate taken from an instance (``pair.unpack``): calling it
    calls the function with the instance first, compiled as a ``@jit`` call."""

    def __init__(self, instance: Any, fn: Any) -> None:
        self.__self__ = instance
        self.__func__ = fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__func__(self.__self__, *args, **kwargs)

    def __repr__(self) -> str:
        return f"<bound jit method {self.__func__!r} of {self.__self__!r}>"


class _JitMethod:
    """Class attribute holding an aggregate's ``@jit`` method: bound on an instance (a
    ``JITFunction`` is no descriptor), the function itself on the class."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        return self.fn if instance is None else BoundJITMethod(instance, self.fn)


def _aggregate(cls: builtins.type) -> builtins.type:
    """Triton's ``@triton.aggregate`` class decorator: a frozen record of kernel values.

    The fields are the class's annotations (those of aggregate base classes first). Without
    an ``__init__`` of its own, the class gets one taking the fields positionally or by name
    (with the class's defaults); plain Python values are stored as ``tl.constexpr``. Fields
    cannot be assigned after construction: :func:`aggregate_replace` makes a modified copy.
    """
    annotations, defaults = _resolve_fields(cls)
    names = builtins.tuple(annotations)
    user_init = cls.__dict__.get("__init__")

    def auto_init(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(names):
            raise TypeError(
                f"{cls.__name__}.__init__() takes {len(names) + 1} positional arguments "
                f"but {len(args) + 1} were given"
            )
        for i, name in enumerate(names):
            if i < len(args):
                if name in kwargs:
                    raise TypeError(
                        f"{cls.__name__}.__init__() got multiple values for argument '{name}'"
                    )
                value = args[i]
            elif name in kwargs:
                value = kwargs.pop(name)
            elif name in defaults:
                value = defaults[name]
            else:
                raise TypeError(f"{cls.__name__}.__init__() missing required argument: '{name}'")
            setattr(self, name, _wrap_field(value))
        if kwargs:
            raise TypeError(
                f"{cls.__name__}.__init__() got an unexpected keyword argument "
                f"'{next(iter(kwargs))}'"
            )

    for attr_name, attr in builtins.tuple(cls.__dict__.items()):
        if getattr(attr, "is_jit_function", False) and attr_name != "__init__":
            setattr(cls, attr_name, _JitMethod(attr))
    init = user_init if user_init is not None else auto_init
    if getattr(init, "__tritium_constexpr_function__", False):
        # Triton runs an aggregate's `@constexpr_function` __init__ as plain Python (its
        # fields may be tensors), not as a compile-time call
        init = init.__wrapped__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:  # noqa: N807
        object.__setattr__(self, "_aggregate_init_complete", False)
        init(self, *args, **kwargs)
        for name in names:
            if not hasattr(self, name):
                raise AttributeError(
                    f"constructor for {cls.__name__} did not initialize attribute '{name}'"
                )
        object.__setattr__(self, "_aggregate_init_complete", True)

    def __setattr__(self: Any, name: str, value: Any) -> None:  # noqa: N807
        if name not in annotations:
            raise AttributeError(f"{cls.__name__} has no attribute '{name}'")
        if getattr(self, "_aggregate_init_complete", False):
            raise AttributeError(
                f"cannot assign to field '{name}' on immutable aggregate {cls.__name__}; "
                "use aggregate_replace() to construct a modified copy"
            )
        object.__setattr__(self, name, value)

    __init__.__doc__ = getattr(user_init, "__doc__", None)
    cls.__init__ = __init__  # type: ignore[misc]
    cls.__setattr__ = __setattr__  # type: ignore[method-assign,assignment]
    cls.__triton_aggregate__ = True  # type: ignore[attr-defined]
    cls.__aggregate_fields__ = names  # type: ignore[attr-defined]
    cls.__aggregate_annotations__ = annotations  # type: ignore[attr-defined]
    cls.__aggregate_defaults__ = dict(defaults)  # type: ignore[attr-defined]
    return cls


def aggregate_replace(instance: Any, **changes: Any) -> Any:
    """A copy of the aggregate ``instance`` with the fields in ``changes`` replaced (as
    ``dataclasses.replace``); the instance itself is unchanged."""
    cls = builtins.type(instance)
    if not getattr(cls, "__triton_aggregate__", False):
        raise TypeError(f"aggregate_replace() expects an aggregate instance, got {cls}")
    names = cls.__aggregate_fields__
    for name in changes:
        if name not in names:
            raise TypeError(f"{cls.__name__} has no field '{name}'")
    values = {name: getattr(instance, name) for name in names}
    values.update(changes)
    return cls(**values)


# Runs as ordinary Python at compile time (inside kernels too), like the other helpers.
aggregate_replace.__tritium_builtin__ = True  # type: ignore[attr-defined]
