"""Triton's ``tl.core.extern`` / ``extern_elementwise``: kernels that declare libdevice calls.

Older Triton code (and some libraries) wraps device-library functions itself::

    @tl.core.extern
    def tanh(arg0, _builder=None):
        return tl.core.extern_elementwise(
            "libdevice", LIBDEVICE_PATH, [arg0],
            {(tl.float32,): ("__nv_tanhf", tl.float32), (tl.float64,): ("__nv_tanh", tl.float64)},
            is_pure=True, _builder=_builder)

tritium has no device library to link, so ``extern_elementwise`` maps the symbol back to the
function it names (``__nv_tanhf`` → ``libdevice.tanh``; AMD's ``__ocml_tanh_f32`` too) and
calls that, casting the result to the declared return dtype. A symbol with no tritium
equivalent is a clear ``NotImplementedError`` naming it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from tritium.language.core import tensor, unwrap_constexpr
from tritium.language.dtypes import dtype
from tritium.language.type_rules import is_scalar, scalar_dtype

__all__ = ["extern", "extern_elementwise", "resolve_symbol"]

F = TypeVar("F", bound=Callable[..., Any])

_PREFIXES = ("__nv_", "__ocml_", "__imf_")
_SUFFIXES = ("_f32", "_f64", "_f16")


def extern(fn: F) -> F:
    """Mark a function that calls :func:`extern_elementwise` as a builtin-like helper, so a
    frontend runs it as Python (its ``_builder``/``_semantic`` argument stays None)."""
    fn.__tritium_builtin__ = True  # type: ignore[attr-defined]
    return fn


def resolve_symbol(symbol: str) -> Callable[..., Any]:
    """The tritium function a device-library symbol names (``"__nv_powf"`` → ``pow``)."""
    from tritium.language.extra import libdevice

    name = symbol
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    # float variants end in "f" (expf, powf); try the name as given first (erff -> erf only
    # after "erff" itself is not found)
    for candidate in (name, name[:-1] if name.endswith("f") else None):
        if candidate and candidate in libdevice.__all__:
            return getattr(libdevice, candidate)
    raise NotImplementedError(
        f"extern_elementwise: tritium has no implementation of the device-library symbol "
        f"{symbol!r}; use a tl.math / tl.extra.libdevice function instead"
    )


def _arg_dtype(arg: Any) -> dtype:
    if isinstance(arg, tensor):
        return arg.dtype
    if is_scalar(arg):
        return scalar_dtype(arg)
    raise TypeError(f"extern_elementwise: cannot pass {arg!r} to a device function")


def extern_elementwise(
    lib_name: str,
    lib_path: str,
    args: Sequence[Any],
    arg_type_symbol_dict: dict[tuple[dtype, ...], tuple[str, dtype]],
    is_pure: bool,
    _builder: Any = None,
    _semantic: Any = None,
) -> Any:
    """Call the device function that ``arg_type_symbol_dict`` names for the argument dtypes.

    ``lib_name``/``lib_path`` are accepted and ignored (there is nothing to link).
    """
    args = [unwrap_constexpr(a) for a in args]
    key = tuple(_arg_dtype(a) for a in args)
    entry = arg_type_symbol_dict.get(key)
    if entry is None and len(arg_type_symbol_dict) == 1:
        entry = next(iter(arg_type_symbol_dict.values()))
    if entry is None:
        known = ", ".join(str(tuple(map(str, k))) for k in arg_type_symbol_dict)
        raise TypeError(
            f"extern_elementwise: no symbol for argument dtypes {tuple(map(str, key))}; "
            f"the library declares {known}"
        )
    symbol, ret_dtype = entry
    result = resolve_symbol(symbol)(*args)
    ret_dtype = unwrap_constexpr(ret_dtype)
    if isinstance(result, tensor) and result.dtype != ret_dtype:
        from tritium.language.ops import cast

        result = cast(result, ret_dtype)
    return result
