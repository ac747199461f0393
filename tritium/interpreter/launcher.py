"""``run_kernel``: bind the arguments, then run the grid, many programs at a time if possible.

Execution model
---------------
The kernel is the user's Python function, called with interpreter tiles while the
interpreter engine is active, so ``print``, ``breakpoint()`` and pdb work inside it.

*Vectorized*: a batch of programs runs as one call; ``tl.program_id`` returns one value per
program (arrays with a leading grid axis) and every tile op computes all of them at once.
Stores are journaled and ``tl.device_print`` lines buffered (printed in program order when
the batch is done).  When Python control flow needs a value the programs disagree on
(``if pid == 0``, ``range(pid)``), the batch is undone and rerun as groups of programs that
agree on that value (a few levels deep).  When an op needs launch order (atomics mixed with
other accesses to their memory, see ``engine_atomic``), or anything raises, the batch is
undone and run again one program at a time (*sequential*), which also gives errors in
program order.  A kernel that needed that once, or whose code calls
``print``/``breakpoint``, runs sequentially from the start.

Programs are numbered x fastest: ``pid = (x, y, z)``, linear id ``x + gx * (y + gy * z)``.
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
import types
import weakref
from collections.abc import Mapping
from typing import Any

import numpy as np

from tritium import knobs
from tritium.errors import SanitizerError
from tritium.language.annotations import annotated_signature_type, annotation_type
from tritium.language.core import constexpr, engine_scope
from tritium.signature import arg_key

from .boolops import HELPERS as BOOLOP_HELPERS
from .boolops import all_names, closure_for, rewritten_code
from .engine import InterpreterEngine
from .engine_base import const_array
from .engine_memory import TensorDescriptor
from .itypes import BOOL, F32, itype, ptr_of, python_int_arg_type, python_scalar_type
from .memory import Memory
from .tile import BlockPtr, GridDivergence, Tile

__all__ = ["run_kernel"]

# Names whose presence in a kernel's code means programs must run one at a time, in order.
_ORDERED_NAMES = frozenset({"print", "breakpoint", "set_trace", "pdb", "input"})
_FIRST_BATCH = 16
_MAX_REGROUP_DEPTH = 4
_MAX_BATCH = 4096
_BATCH_ELEMENTS = 1 << 18  # elements of the largest tile times programs per batch

# Kernels (by code object) that diverged once: later launches start sequential.
_SEQUENTIAL: set[types.CodeType] = set()


def _is_constexpr_param(p: inspect.Parameter) -> bool:
    ann = p.annotation
    if ann is constexpr:
        return True
    return isinstance(ann, str) and ann.replace(" ", "").endswith("constexpr")


def _bind_value(name: str, value: Any, memory: Memory) -> Any:
    """A kernel argument as the kernel sees it: pointer tiles, typed scalars, or as is."""
    if isinstance(value, constexpr):
        return value.value
    if value is None or isinstance(value, (str, type, types.FunctionType)):
        return value
    if isinstance(value, (tuple, list)):  # Triton's tuple arguments (torch.Size, NamedTuple)
        return _bind_sequence(name, value, memory)
    if isinstance(value, bool):
        return Tile(np.array([value]), BOOL)
    if isinstance(value, int):
        t = python_int_arg_type(value)
        return Tile(const_array(value, t), t)
    if isinstance(value, float):
        return Tile(const_array(value, F32), F32)
    if isinstance(value, np.generic):  # ml_dtypes' bfloat16/fp8 scalars are not np.floating
        t = python_scalar_type(value)
        return Tile(const_array(value, t), t)  # bf16/fp8 scalars in their storage bits
    if all(hasattr(value, a) for a in ("base", "shape", "strides", "block_shape")) and not (
        hasattr(value, "__array_interface__") or hasattr(value, "data_ptr")
    ):
        return _host_descriptor(name, value, memory)
    buf = memory.add(name, value)
    if buf is not None:
        return Tile(np.array([buf.base], np.int64), ptr_of(buf.elem), buf)
    return value  # dtypes, tuples and other compile-time objects pass through


def _bind_sequence(name: str, value: tuple[Any, ...] | list[Any], memory: Memory) -> Any:
    """A tuple argument's elements bound one by one; a NamedTuple keeps its class. As compiled
    (and in Triton), an integer element equal to 1 is the constant 1, not a tensor."""
    items = [
        v if type(v) is int and v == 1 else _bind_value(f"{name}[{i}]", v, memory)
        for i, v in enumerate(value)
    ]
    if type(value) is list:
        return items
    if hasattr(type(value), "_fields"):
        return type(value)(*items)
    return tuple(items)


def _host_descriptor(name: str, desc: Any, memory: Memory) -> TensorDescriptor:
    """A host ``TensorDescriptor`` argument as the kernel's device-side descriptor."""
    base = _bind_value(name, desc.base, memory)
    if not (isinstance(base, Tile) and base.ty.is_ptr):
        raise TypeError(f"argument '{name}': a TensorDescriptor needs an array as its base")
    rank = len(desc.block_shape)

    def dims(values: Any) -> list[np.ndarray]:
        return [np.array([int(v)], np.int64) for v in values]

    bp = BlockPtr(
        base,
        dims(desc.shape),
        dims(desc.strides),
        dims([0] * rank),
        tuple(int(b) for b in desc.block_shape),
        tuple(reversed(range(rank))),
    )
    padding = getattr(desc, "padding", "zero")
    return TensorDescriptor(bp, tuple(desc.shape), tuple(desc.strides), padding)


def _bind(fn: Any, args: Mapping[str, Any], memory: Memory) -> dict[str, Any]:
    sig = inspect.signature(fn)
    extra = set(args) - set(sig.parameters)
    if extra:
        raise TypeError(f"{fn.__name__}() got unexpected arguments: {sorted(extra)}")
    bound: dict[str, Any] = {}
    for name, p in sig.parameters.items():
        if name in args:
            v = args[name]
        elif p.default is not inspect.Parameter.empty:
            v = p.default
        else:
            raise TypeError(f"{fn.__name__}() missing argument '{name}'")
        if _is_constexpr_param(p):
            bound[name] = v.value if isinstance(v, constexpr) else v
        elif isinstance(v, (bool, int, float, np.generic)) and (
            ty := annotation_type(p.annotation)
        ):
            # a scalar typed by its annotation (``v: tl.float16``), as compiled
            t = itype(annotated_signature_type(name, arg_key(name, v)[0][0], ty))
            bound[name] = Tile(const_array(v, t), t)
        else:
            bound[name] = _bind_value(name, v, memory)
    return bound


def _code_names(fn: Any, seen: set[int] | None = None, depth: int = 0) -> set[str]:
    """Names a function's code (nested code and called jit/plain functions too) refers to."""
    seen = set() if seen is None else seen
    fn = getattr(fn, "fn", fn)
    code = getattr(fn, "__code__", None)
    if code is None or id(code) in seen or depth > 4:
        return set()
    seen.add(id(code))
    names: set[str] = set()
    stack = [code]
    while stack:
        c = stack.pop()
        names.update(c.co_names)
        stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    glb = getattr(fn, "__globals__", {})
    for n in list(code.co_names):
        callee = glb.get(n)
        if callee is not None and (
            getattr(callee, "is_jit_function", False) or isinstance(callee, types.FunctionType)
        ):
            names |= _code_names(callee, seen, depth + 1)
    return names


def _tile_min(*args: Any, **kwargs: Any) -> Any:
    """Python's ``min`` that computes ``tl.minimum`` when given tiles (as Triton compiles it),
    so that ``min(pid_dependent, CONST)`` needs no control flow."""
    if len(args) >= 2 and not kwargs and any(isinstance(a, Tile) for a in args):
        from tritium.language.core import current_engine

        out = args[0]
        for a in args[1:]:
            out = current_engine().minimum(out, a, "none")
        return out
    return min(*args, **kwargs)


def _tile_max(*args: Any, **kwargs: Any) -> Any:
    """Python's ``max``, computing ``tl.maximum`` on tiles (see :func:`_tile_min`)."""
    if len(args) >= 2 and not kwargs and any(isinstance(a, Tile) for a in args):
        from tritium.language.core import current_engine

        out = args[0]
        for a in args[1:]:
            out = current_engine().maximum(out, a, "none")
        return out
    return max(*args, **kwargs)


class _LoopRange:
    """Python's ``range`` whose values also have ``.to``/``.dtype``, as compiled loop variables
    do (:class:`tritium.language.control.loop_index`); otherwise the same range."""

    __slots__ = ("_range",)

    def __init__(self, *args: Any) -> None:
        self._range = range(*args)

    def __iter__(self) -> Any:
        from tritium.language.control import loop_index

        return map(loop_index, self._range)

    def __reversed__(self) -> Any:
        from tritium.language.control import loop_index

        return map(loop_index, reversed(self._range))

    def __len__(self) -> int:
        return len(self._range)

    def __getitem__(self, i: Any) -> Any:
        return self._range[i]

    def __contains__(self, v: object) -> bool:
        return v in self._range

    def __repr__(self) -> str:
        return repr(self._range)


class _Globals(dict):  # type: ignore[type-arg]
    """A kernel's globals seen through an overlay: tile-aware ``min``/``max``, ``range`` giving
    :class:`~tritium.language.control.loop_index` values, and called
    ``@jit`` functions replaced by their (overlaid) Python functions; the rest reads through
    to the module, so later changes to module globals are seen."""

    def __init__(self, base: dict[str, Any], overlay: dict[str, Any]) -> None:
        super().__init__(overlay)
        self.base = base

    def __missing__(self, key: str) -> Any:
        return self.base[key]


_GENERATOR_FLAGS = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR


def _refuse_generator(fn: Any) -> None:
    """A kernel (or @jit callee) with ``yield``/``await`` would return a generator and do
    nothing when called: report it at its line, as the compiler does."""
    if not fn.__code__.co_flags & _GENERATOR_FLAGS:
        return
    from tritium.errors import UnsupportedLanguageConstruct

    what, file = "yield", fn.__code__.co_filename
    line, col, text = fn.__code__.co_firstlineno, 0, None
    kinds: tuple[type, ...] = (ast.Yield, ast.YieldFrom)
    if fn.__code__.co_flags & (inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR):
        what, kinds = "async def", (ast.AsyncFunctionDef,)
    try:
        lines, first = inspect.getsourcelines(fn)
        indent = len(lines[0]) - len(lines[0].lstrip())
        tree = ast.parse(textwrap.dedent("".join(lines)))
        node = next(n for n in ast.walk(tree) if isinstance(n, kinds))
        if isinstance(node, ast.YieldFrom):
            what = "yield from"
        line, col = first + node.lineno - 1, node.col_offset + indent
        text = lines[node.lineno - 1].rstrip("\n")
    except (OSError, TypeError, SyntaxError, StopIteration):
        pass  # no source: the function's first line
    raise UnsupportedLanguageConstruct(
        f"unsupported construct in a kernel: {what}", file, line, col, text
    )


def _with_overlay(fn: Any, done: dict[int, Any] | None = None, loops: bool = True) -> Any:
    """``fn`` re-created over :class:`_Globals` (and so, recursively, the functions it calls);
    ``loops``: with its loops rewritten for record-and-replay (see ``loops.py``)."""
    done = {} if done is None else done
    hit = done.get(id(fn))
    if hit is not None:
        return hit
    code = getattr(fn, "__code__", None)
    glb = getattr(fn, "__globals__", None)
    if code is None or glb is None:
        return fn
    _refuse_generator(fn)
    # the module's own min/max (if it defines them) win over the tile-aware builtins
    overlay: dict[str, Any] = {
        k: v
        for k, v in (("min", _tile_min), ("max", _tile_max), ("range", _LoopRange))
        if k not in glb
    }
    if "__builtins__" in glb:
        overlay["__builtins__"] = glb["__builtins__"]
    closure = fn.__closure__
    rewritten = rewritten_code(fn, loops) if isinstance(fn, types.FunctionType) else None
    if rewritten is not None:  # `and`/`or`/`not` on tiles, as compiled (boolops.py)
        code, closure = rewritten, closure_for(rewritten, fn)
        overlay.update(BOOLOP_HELPERS)
    new = types.FunctionType(code, _Globals(glb, overlay), fn.__name__, fn.__defaults__, closure)
    new.__kwdefaults__ = fn.__kwdefaults__
    done[id(fn)] = new
    for name in all_names(code):
        if name in overlay:
            continue
        target = glb.get(name)
        if getattr(target, "is_jit_function", False):
            overlay[name] = _with_overlay(target.fn, done, loops)
            dict.__setitem__(new.__globals__, name, overlay[name])
    return new


_OVERLAID: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def overlaid(fn: Any) -> Any:
    """:func:`_with_overlay` of ``fn``, made once per function: how a ``@jit`` helper runs when
    an interpreted kernel reaches it through an attribute (``triton_helpers.maximum(...)``, as
    Inductor's kernels call theirs) rather than a global name the overlay already covers."""
    loops = sys.gettrace() is None  # under a debugger, loops stay loops (stepping works)
    hits = _OVERLAID.get(fn)
    if hits is None:
        hits = _OVERLAID[fn] = {}
    hit = hits.get(loops)
    if hit is None:
        hit = hits[loops] = _with_overlay(fn, None, loops)
    return hit


def _grid3(grid: Any) -> tuple[int, int, int]:
    g = tuple(int(x) for x in (grid if isinstance(grid, (tuple, list)) else (grid,)))
    if not 1 <= len(g) <= 3 or min(g) < 0:
        raise ValueError(f"grid must have 1 to 3 non-negative dimensions, got {grid!r}")
    return (g + (1, 1))[:3]  # type: ignore[return-value]


def _attempt(
    engine: InterpreterEngine, fn: Any, kargs: dict[str, Any], lin: np.ndarray, depth: int
) -> bool:
    """Run the programs ``lin`` together; when their control flow diverges on a value, undo
    and run each group of programs that agree on it together.  Returns whether it regrouped;
    raises GridDivergence when it cannot go on vectorized."""
    engine.set_programs(lin)
    engine.regrouped = depth > 0
    marks = engine.marks()
    try:
        fn(**kargs)
        return False
    except GridDivergence as d:
        if d.key is None or depth >= _MAX_REGROUP_DEPTH:
            raise
        key = d.key
    engine.rollback(marks)
    _, inverse = np.unique(key, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    for gid in range(int(inverse.max()) + 1):
        _attempt(engine, fn, kargs, lin[inverse == gid], depth + 1)
    return True


#: How the last launch ran: "vectorized", "regrouped" (vectorized in groups of programs after
#: a divergence), "sequential" or "mixed" (fell back to sequential midway).
last_mode = ""


def run_kernel(
    fn: Any, grid: Any, args: Mapping[str, Any], *, sanitize: bool = False, vectorize: bool = True
) -> None:
    """Run the kernel ``fn`` (a Python function or a JITFunction) over ``grid`` with ``args``.

    ``args`` maps every parameter name to its value: arrays (NumPy, torch CPU tensors,
    ``__array_interface__``/DLPack objects) become pointers to their memory, Python ints
    become int32 (int64 when they need it), floats fp32, bools int1; values of
    ``tl.constexpr`` parameters are passed as they are.  Writes land in the caller's arrays.
    ``sanitize`` (or ``TRITIUM_SANITIZE=1``) adds race and int32-overflow checks;
    out-of-bounds accesses are always reported as ``SanitizerError``.  ``vectorize=False``
    runs one program at a time.
    """
    global last_mode
    fn = getattr(fn, "fn", fn) if getattr(fn, "is_jit_function", False) else fn
    sanitize = bool(sanitize) or knobs.sanitize()
    gx, gy, gz = _grid3(grid)
    total = gx * gy * gz
    if total == 0:
        return
    memory = Memory()
    kargs = _bind(fn, args, memory)
    engine = InterpreterEngine(memory, (gx, gy, gz), sanitize)
    code = fn.__code__
    ordered = bool(_code_names(fn) & _ORDERED_NAMES)
    # Loops replay recorded iterations (loops.py), except where print/pdb or a debugger must
    # see every one: then they stay Python loops, which a debugger steps through as written.
    loops = not ordered and sys.gettrace() is None
    engine.replay_loops = loops
    vector = vectorize and total > 1 and code not in _SEQUENTIAL and not ordered
    fn = _with_overlay(fn, None, loops)
    last_mode = "vectorized" if vector else "sequential"
    start, batch = 0, _FIRST_BATCH
    # NumPy's overflow/invalid warnings would fire on legitimate wrap-around and NaN math
    with engine_scope(engine), np.errstate(all="ignore"):
        while start < total:
            if not vector:
                for lin in range(start, total):
                    engine.set_programs(np.array([lin], np.int64))
                    try:
                        fn(**kargs)
                    except Exception as e:  # say which program failed (the traceback has the line)
                        if not isinstance(e, (SanitizerError, AssertionError)):
                            e.add_note(
                                f"in program {engine.describe_pid(lin)} of {fn.__name__} "
                                "(tritium interpreter)"
                            )
                        raise
                break
            n = min(batch, total - start)
            engine.undo = []
            marks = engine.marks()
            try:
                if _attempt(engine, fn, kargs, np.arange(start, start + n, dtype=np.int64), 0):
                    last_mode = "regrouped"
            except GridDivergence:
                engine.rollback(marks)
                last_mode = "mixed"
                _SEQUENTIAL.add(code)
                vector = False
                continue
            except Exception:  # rerun in program order: the error then names the program
                engine.rollback(marks)
                last_mode = "mixed"
                vector = False
                continue
            finally:
                engine.regrouped = False
            engine.undo = None
            engine.flush_prints()
            start += n
            batch = max(1, min(_MAX_BATCH, _BATCH_ELEMENTS // max(1, engine.max_numel)))
        engine.set_programs(np.zeros(1, np.int64))
    if engine.access_log is not None:
        engine.access_log.check(engine.describe_pid)
