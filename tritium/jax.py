"""Calling tritium kernels from JAX, in the style of jax-triton's ``triton_call``.

JAX arrays are immutable, so a kernel cannot write into them (they reach a kernel through
DLPack as read-only memory, and a store through one is refused when the kernel compiles).
``triton_call`` instead allocates the outputs that ``out_shape`` describes, launches the
kernel with the inputs followed by the outputs, and returns the outputs as new JAX arrays::

    out = tritium.jax.triton_call(
        x, y, kernel=add_kernel, out_shape=jax.ShapeDtypeStruct(x.shape, x.dtype),
        grid=(triton.cdiv(x.size, 1024),), n=x.size, BLOCK=1024,
    )

Eagerly, the kernel reads the JAX inputs in place. Under ``jax.jit`` (or any tracing
transformation) the call becomes a ``jax.pure_callback`` that runs the same launch on the
host when the compiled computation reaches it. ``jax`` is imported when this module is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

__all__ = ["triton_call"]


def _is_array(x: Any) -> bool:
    return isinstance(x, (jax.Array, np.ndarray)) or hasattr(x, "__dlpack__")


def _resolve(value: Any, metaparams: dict[str, Any]) -> Any:
    """jax-triton lets ``grid``/``zeroed_outputs`` be functions of the metaparameters."""
    return value(metaparams) if callable(value) else value


def triton_call(
    *args: Any,
    kernel: Any,
    out_shape: Any,
    grid: Any,
    input_output_aliases: dict[int, int] | None = None,
    zeroed_outputs: Sequence[int] | Callable[[dict[str, Any]], Sequence[int]] = (),
    debug: bool = False,
    **metaparams: Any,
) -> Any:
    """Launch ``kernel`` on ``args`` plus fresh outputs; return the outputs as JAX arrays.

    ``out_shape`` is one ``jax.ShapeDtypeStruct`` (anything with ``shape`` and ``dtype``) or a
    sequence of them: the result is one array or a list, in the same order. The kernel's
    parameters are ``args`` (JAX arrays and scalars), then one pointer per output, then
    ``metaparams`` by name (constexprs and other scalars). ``grid`` is a tuple or a function
    of the metaparameters. ``input_output_aliases`` maps an input index to an output index:
    that output starts as a copy of the input, and the kernel gets the output's buffer in both
    places (JAX's copy-on-write, as jax-triton's aliasing is under jit). ``zeroed_outputs``
    lists outputs filled with zeros before the launch (others start uninitialized).
    ``debug=True`` prints the kernel's TTIR after the launch.
    """
    single = hasattr(out_shape, "shape") and hasattr(out_shape, "dtype")
    shapes = [out_shape] if single else list(out_shape)
    for i, s in enumerate(shapes):
        if not (hasattr(s, "shape") and hasattr(s, "dtype")):
            raise TypeError(
                f"out_shape[{i}] must have .shape and .dtype (a jax.ShapeDtypeStruct), "
                f"got {type(s).__name__}"
            )
    aliases = dict(input_output_aliases or {})
    for i, o in aliases.items():
        if not (0 <= i < len(args) and 0 <= o < len(shapes)):
            raise ValueError(f"input_output_aliases: {i} -> {o} is out of range")
        if tuple(np.shape(args[i])) != tuple(shapes[o].shape):
            raise ValueError(
                f"input_output_aliases: input {i} has shape {np.shape(args[i])}, "
                f"output {o} has shape {tuple(shapes[o].shape)}"
            )
    zeroed = set(_resolve(zeroed_outputs, metaparams))
    launch_grid = _resolve(grid, metaparams)

    def run(*arrays: Any) -> list[np.ndarray]:
        outs = []
        for o, s in enumerate(shapes):
            dt = np.dtype(s.dtype)
            outs.append(np.zeros(s.shape, dt) if o in zeroed else np.empty(s.shape, dt))
        kernel_args = list(arrays)
        for i, o in aliases.items():
            outs[o][...] = np.asarray(arrays[i])
            kernel_args[i] = outs[o]
        compiled = kernel[launch_grid](*kernel_args, *outs, **metaparams)
        if debug and compiled is not None and hasattr(compiled, "asm"):
            print(compiled.asm.get("ttir", ""))
        return outs

    array_idx = [i for i, a in enumerate(args) if _is_array(a)]
    tracing = any(isinstance(args[i], jax.core.Tracer) for i in array_idx)
    if not tracing:
        outs = [jax.numpy.asarray(o) for o in run(*args)]
    else:
        result = [jax.ShapeDtypeStruct(tuple(s.shape), s.dtype) for s in shapes]

        def host(*arrays: Any) -> list[np.ndarray]:
            full = list(args)
            for i, a in zip(array_idx, arrays):
                full[i] = a
            return run(*full)

        outs = list(jax.pure_callback(host, result, *(args[i] for i in array_idx)))
    return outs[0] if single else outs
