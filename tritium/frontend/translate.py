"""The frontend's entry point: a Python kernel (AST, signature, constexprs) to a Tile IR module.

One :class:`ModuleContext` per compilation owns the module, the builder and the engine. The
kernel becomes the public ``tt.func``; every ``@jit`` function it calls becomes one private
``tt.func`` per specialization (the types of its tile arguments and the values of its
compile-time arguments), reached through ``tt.call``.
"""

from __future__ import annotations

import hashlib
import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any

from tritium import ir
from tritium.errors import CompilationError, nospec_constexpr_message
from tritium.frontend.block_pointer import TensorDescriptor
from tritium.frontend.codegen import CodeGenerator
from tritium.frontend.control_flow import RETURN, flatten_value, unflatten_value
from tritium.frontend.engine import IREngine
from tritium.frontend.engine_base import is_number
from tritium.frontend.source import SourceInfo
from tritium.frontend.tile import Tile, is_tile
from tritium.frontend.type_conversion import to_ir_type
from tritium.language import core as lcore
from tritium.language import dtypes as ldt

__all__ = ["ast_to_ttir", "ModuleContext"]


def _python_function(fn: Any) -> Any:
    """The Python function inside a JITFunction (or a wrapper of one, like an autotuner)."""
    while not inspect.isfunction(fn) and hasattr(fn, "fn"):
        fn = fn.fn
    return fn


def _is_const_annotation(ann: Any) -> bool:
    """True for ``tl.const`` (a read-only pointer parameter) and its string forms."""
    from tritium.language.aggregates import const

    if ann is const:
        return True
    return isinstance(ann, str) and ann.replace(" ", "").split(".")[-1] == "const"


def _is_constexpr_annotation(ann: Any) -> bool:
    if ann is lcore.constexpr:
        return True
    return isinstance(ann, str) and ann.replace(" ", "").split(".")[-1] == "constexpr"


def _closure_vars(fn: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or ()):
        try:
            out[name] = cell.cell_contents
        except ValueError:  # an empty cell
            pass
    return out


class ModuleContext:
    """The state of one compilation: module, builder, engine and the callee cache."""

    def __init__(self) -> None:
        self.module = ir.Module()
        self.builder = ir.Builder()
        self.engine = IREngine(self.builder)
        self.engine.inline_jit = self.inline_jit
        self._callees: dict[tuple[Any, ...], tuple[str, list[ldt.dtype], Any]] = {}
        self._in_progress: set[tuple[Any, ...]] = set()
        self._sources: dict[int, SourceInfo] = {}

    def source(self, pyfn: Any) -> SourceInfo:
        """The parsed source of ``pyfn`` (cached per compilation)."""
        key = id(pyfn)
        if key not in self._sources:
            self._sources[key] = SourceInfo.of(pyfn)
        return self._sources[key]

    def generator(self, pyfn: Any, scope: dict[str, Any]) -> CodeGenerator:
        """A code generator for the body of ``pyfn`` with its parameters bound in ``scope``."""
        return CodeGenerator(self, self.source(pyfn), pyfn.__globals__, _closure_vars(pyfn), scope)

    def checkpoint(self) -> tuple[int, frozenset[tuple[Any, ...]]]:
        """A mark to :meth:`rollback` to: the functions and specializations made so far."""
        return len(self.module.body.ops), frozenset(self._callees)

    def rollback(self, mark: tuple[int, frozenset[tuple[Any, ...]]]) -> None:
        """Remove the functions and specializations made since ``mark``."""
        count, keys = mark
        for op in self.module.body.ops[count:]:
            op.erase()
        for key in [k for k in self._callees if k not in keys]:
            del self._callees[key]

    # ---- functions ----------------------------------------------------------------------

    def new_function(
        self,
        name: str,
        params: list[ldt.dtype],
        arg_attrs: list[dict[str, Any]],
        visibility: str,
        noinline: bool,
        loc: ir.Location,
    ) -> tuple[ir.Operation, ir.Block]:
        """Append a ``tt.func`` (its type is completed by :meth:`finish_function`)."""
        block = ir.Block([to_ir_type(t) for t in params])
        op = ir.Operation(
            "tt.func",
            regions=1,
            loc=loc,
            attrs={
                "sym_name": name,
                "function_type": ir.FunctionType(tuple(a.type for a in block.args), ()),
                "arg_attrs": arg_attrs,
                "visibility": visibility,
                "noinline": noinline,
            },
        )
        op.regions[0].add_block(block)
        self.module.body.append(op)
        return op, block

    def finish_function(
        self, op: ir.Operation, block: ir.Block, ret: Any, loc: ir.Location
    ) -> tuple[list[ldt.dtype], Any]:
        """End ``block`` with ``tt.return`` of ``ret``; returns the result types and tree."""
        leaves, treedef = flatten_value(ret) if ret is not None else ([], None)
        tiles: list[Tile] = []
        with self.builder.at_end_of(block), self.builder.location(loc):
            for leaf in leaves:
                if not (is_tile(leaf) or is_number(leaf)):
                    raise TypeError(
                        f"a @jit function can only return tensors or numbers, "
                        f"got {type(leaf).__name__}"
                    )
                tiles.append(self.engine.to_tile(leaf))
            self.builder.create("tt.return", [t.handle for t in tiles])
        op.attrs["function_type"] = ir.FunctionType(
            tuple(a.type for a in block.args), tuple(t.handle.type for t in tiles)
        )
        return [t.type for t in tiles], treedef

    def call_jit(self, fn: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Emit ``tt.call`` of the specialization of the ``@jit`` function ``fn``."""
        pyfn = _python_function(fn)
        sig = inspect.signature(pyfn)
        try:
            bound = sig.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{pyfn.__name__}(): {e}") from None
        bound.apply_defaults()
        runtime: list[tuple[str, list[Tile], Any]] = []  # (name, leaves, structure)
        consts: dict[str, Any] = {}
        for name, value in bound.arguments.items():
            value = lcore.unwrap_constexpr(value)
            param = sig.parameters[name]
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise TypeError(
                    f"{pyfn.__name__}(): *args/**kwargs parameters are not "
                    f"supported in @jit functions"
                )
            leaves, treedef = flatten_value(value)
            # A tensor passed to a `tl.constexpr` parameter of a callee is a run-time value
            # all the same: Triton ignores the annotation there (its tutorial 06 does this).
            if any(is_tile(x) for x in leaves):
                if not all(is_tile(x) or is_number(x) for x in leaves):
                    # a tuple of tensors and compile-time values (None, constexpr, a
                    # function): the tensors are passed, the rest is part of the callee's key
                    fixed = tuple(
                        _PASSED if is_tile(x) or is_number(x) else lcore.unwrap_constexpr(x)
                        for x in leaves
                    )
                    passed = [self.engine.to_tile(x) for x in leaves if is_tile(x) or is_number(x)]
                    runtime.append((name, passed, _Mixed(treedef, fixed)))
                    continue
                runtime.append((name, [self.engine.to_tile(x) for x in leaves], treedef))
            else:
                consts[name] = value
        key = (
            id(pyfn),
            tuple(
                (n, _structure_key(d), tuple(t.type.cache_key_part() for t in ts))
                for n, ts, d in runtime
            ),
            tuple((n, _const_key(v)) for n, v in consts.items()),
        )
        if key in self._in_progress:
            raise NotImplementedError(
                f"recursive call of @jit function {pyfn.__name__} is not supported"
            )
        if key not in self._callees:
            self._in_progress.add(key)
            try:
                self._callees[key] = self._specialize(fn, pyfn, key, runtime, consts)
            except CompilationError as e:
                # the error points into the callee; the call's node wraps it (codegen.visit)
                e._tt_callee = pyfn.__name__  # type: ignore[attr-defined]
                raise
            finally:
                self._in_progress.discard(key)
        sym, ret_types, treedef = self._callees[key]
        op = self.builder.create(
            "tt.call",
            [t.handle for _, ts, _ in runtime for t in ts],
            [to_ir_type(t) for t in ret_types],
            {"callee": sym},
        )
        if not ret_types and treedef is None:
            return None  # the function returns nothing (an empty tuple still is a tuple)
        return unflatten_value([Tile(r, t) for r, t in zip(op.results, ret_types)], treedef)

    def _specialize(
        self,
        fn: Any,
        pyfn: Any,
        key: tuple[Any, ...],
        runtime: list[tuple[str, list[Tile], Any]],
        consts: dict[str, Any],
    ) -> tuple[str, list[ldt.dtype], Any]:
        # The name hashes the argument types and constants (objects by name, so that it is the
        # same in every run); distinct specializations that hash alike get a numeric suffix.
        stable = (key[1], tuple((n, _const_key(v, True)) for n, v in consts.items()))
        digest = hashlib.sha1(repr(stable).encode()).hexdigest()[:8]
        sym = base = f"{pyfn.__name__}__{digest}"
        taken = {f.attrs["sym_name"] for f in self.module.functions}
        suffix = 0
        while sym in taken:
            suffix += 1
            sym = f"{base}_{suffix}"
        saved = (self.builder.block, self.builder.index, self.builder.loc)
        try:
            flat = [t for _, ts, _ in runtime for t in ts]
            src = self.source(pyfn)
            op, block = self.new_function(
                sym,
                [t.type for t in flat],
                [{} for _ in flat],
                "private",
                bool(getattr(fn, "noinline", False)),
                src.loc(src.tree),
            )
            scope = dict(consts)
            args = iter(block.args)
            for name, ts, treedef in runtime:
                tiles = [Tile(next(args), t.type) for t in ts]
                if isinstance(treedef, _Mixed):
                    it = iter(tiles)
                    leaves = [next(it) if f is _PASSED else f for f in treedef.fixed]
                    scope[name] = unflatten_value(leaves, treedef.tree)
                else:
                    scope[name] = unflatten_value(tiles, treedef)
            gen = self.generator(pyfn, scope)
            self.builder.set_insertion_point_to_end(block)
            ret = gen.generate()
            types, treedef = self.finish_function(op, block, ret, gen.src.loc(gen.src.tree))
        finally:
            self.builder.block, self.builder.index, self.builder.loc = saved
        return sym, types, treedef

    def inline_jit(self, fn: Any, args: list[Tile], elementwise: bool = False) -> Any:
        """Trace the ``@jit`` function ``fn`` at the insertion point (combine functions).

        ``elementwise``: ``fn`` is pure and applied per element (``tl.map_elementwise``, a
        combine function), so an ``if`` computes both branches and selects.
        """
        pyfn = _python_function(fn)
        sig = inspect.signature(pyfn)
        bound = sig.bind(*args)
        bound.apply_defaults()
        scope = {k: lcore.unwrap_constexpr(v) for k, v in bound.arguments.items()}
        saved_loc = self.builder.loc
        try:
            gen = self.generator(pyfn, scope)
            gen.elementwise = elementwise
            gen.visit_statements(gen.src.tree.body)
            return gen.scope.get(RETURN)
        finally:
            self.builder.loc = saved_loc


_TENSORDESC = re.compile(r"^tensordesc<\s*(\w+)\s*\[([\d,\s]+)\]\s*(?:,\s*(zero|nan)\s*)?>$")


class _KernelParam:
    """One parameter of the kernel: its IR parameters and how they make the kernel's value.

    A scalar or pointer is one parameter. A tensor descriptor (signature
    ``tensordesc<fp32[8, 16]>``, or ``tensordesc<fp32[8, 16], nan>`` for NaN padding) is
    1 + 2 * rank parameters: the base pointer, the int32 sizes, the int64 strides. A tuple
    (signature: a tuple of signatures, Triton 3's tuple arguments) is its elements' parameters
    in order; its ``"constexpr"`` elements take their values from the same positions of the
    parameter's entry in ``constexprs``.
    """

    def __init__(
        self,
        name: str,
        types: list[ldt.dtype],
        arg_attrs: list[dict[str, Any]],
        build: Callable[[list[Tile]], Any],
    ) -> None:
        self.name, self.types, self.arg_attrs, self.build = name, types, arg_attrs, build

    @classmethod
    def parse(cls, name: str, sig: Any, attrs: dict[str, Any], const: Any = None) -> _KernelParam:
        """The parameter ``name`` of signature ``sig`` (a type string, a dtype or a tuple)."""
        if isinstance(sig, (tuple, list)):
            return cls._parse_tuple(name, sig, const)
        if isinstance(sig, str) and sig.startswith("tensordesc"):
            m = _TENSORDESC.match(sig.replace(" ", ""))
            if m is None:
                raise ValueError(
                    f"ast_to_ttir: bad tensor descriptor signature {sig!r} for "
                    f"{name!r}; expected e.g. 'tensordesc<fp32[8,16]>'"
                )
            block = tuple(int(d) for d in m.group(2).split(",") if d)
            padding = m.group(3) or "zero"
            elt = ldt.str_to_ty(m.group(1))
            types = [ldt.pointer_type(elt)] + [ldt.int32] * len(block) + [ldt.int64] * len(block)

            def descriptor(t: list[Tile]) -> Any:
                n = len(block)
                return TensorDescriptor(t[0], t[1 : 1 + n], t[1 + n :], block, padding)

            return cls(name, types, [attrs] + [{} for _ in types[1:]], descriptor)
        try:
            ty = ldt.str_to_ty(sig) if isinstance(sig, str) else sig
            to_ir_type(ty)
        except (TypeError, ValueError) as e:
            raise type(e)(f"ast_to_ttir: parameter {name!r}: {e}") from None
        return cls(name, [ty], [attrs], lambda t: t[0])

    @classmethod
    def _parse_tuple(cls, name: str, sig: Any, const: Any) -> _KernelParam:
        parts: list[tuple[bool, Any]] = []  # (is a parameter, sub-parameter or value)
        for i, item in enumerate(sig):
            value = const[i] if isinstance(const, (tuple, list)) and i < len(const) else None
            if item == "constexpr":
                parts.append((False, _plain(lcore.unwrap_constexpr(value))))
            else:
                parts.append((True, cls.parse(f"{name}[{i}]", item, {}, value)))
        subs = [p for is_param, p in parts if is_param]

        def build(tiles: list[Tile]) -> Any:
            out, pos = [], 0
            for is_param, part in parts:
                if is_param:
                    out.append(part.build(tiles[pos : pos + len(part.types)]))
                    pos += len(part.types)
                else:
                    out.append(part)
            if hasattr(type(sig), "_fields"):  # a NamedTuple argument: the same class
                return type(sig)(*out)
            return tuple(out)

        return cls(
            name, [t for p in subs for t in p.types], [a for p in subs for a in p.arg_attrs], build
        )

    def bind(self, args: list[ir.Value]) -> Any:
        """The kernel's value of this parameter, made of its IR parameters ``args``."""
        return self.build([Tile(a, t) for a, t in zip(args, self.types)])


def _plain(v: Any) -> Any:
    """A NumPy scalar as the Python number it holds (``tl.arange`` wants real ints)."""
    if type(v).__module__ == "numpy" and getattr(v, "ndim", None) == 0:
        return v.item()
    return v


#: In a :class:`_Mixed` argument: the leaf at this position is passed as a tensor.
_PASSED = object()


class _Mixed:
    """The structure of a jit-call argument mixing tensors with compile-time values: the
    value's tree and, per leaf, the constant or ``_PASSED``."""

    def __init__(self, tree: Any, fixed: tuple[Any, ...]) -> None:
        self.tree, self.fixed = tree, fixed


def _structure_key(d: Any) -> Any:
    """A hashable, printable form of a flattened value's structure."""
    if isinstance(d, _Mixed):
        consts = tuple("T" if f is _PASSED else _const_key(f) for f in d.fixed)
        return ("mixed", _structure_key(d.tree), consts)
    if d is None:
        return "."
    if isinstance(d, tuple) and len(d) == 2 and isinstance(d[0], type):
        # an aggregate's methods are the callee's too: its class by qualified name
        kind = d[0]
        name = (
            f"{kind.__module__}.{kind.__qualname__}"
            if hasattr(kind, "__triton_aggregate__")
            else kind.__name__
        )
        return (name, tuple(_structure_key(s) for s in d[1]))
    return ("record", getattr(d, "key", repr(d)))


def _const_key(v: Any, stable: bool = False) -> str:
    """A key for a compile-time argument value: by value for data, by identity for objects
    (``stable``: by qualified name instead, for symbol names that do not change per run)."""
    if isinstance(v, (int, float, bool, str, type(None), ldt.dtype)):
        return f"{type(v).__name__}:{v!r}"
    if isinstance(v, lcore.constexpr):  # an aggregate's constexpr field: by its value
        return f"constexpr({_const_key(v.value, stable)})"
    if isinstance(v, (tuple, list)):
        return f"{type(v).__name__}({','.join(_const_key(x, stable) for x in v)})"
    if stable:
        target = _python_function(v)
        name = getattr(target, "__qualname__", type(v).__qualname__)
        return f"{type(v).__name__}:{getattr(target, '__module__', '')}.{name}"
    return f"{type(v).__name__}@{id(v)}"


def ast_to_ttir(
    fn: Any,
    signature: Mapping[str, str],
    constexprs: Mapping[str, Any] | None = None,
    attrs: Mapping[str, Mapping[str, Any]] | None = None,
) -> ir.Module:
    """Compile the kernel ``fn`` (a JITFunction or a plain function) to a Tile IR module.

    ``signature`` maps parameter names to Triton type strings (``"*fp32"``, ``"i32"``,
    ``"constexpr"``, ``"tensordesc<fp32[8,16]>"``); ``constexprs`` gives the values of
    compile-time parameters; ``attrs`` per-parameter hints (``{"tt.divisibility": 16}``)
    copied into the ``tt.func``'s ``arg_attrs``. A parameter is compile-time if its signature
    is ``"constexpr"`` or it is in ``constexprs``; the others become the kernel's parameters,
    in order (a tensor descriptor as its base pointer, int32 sizes and int64 strides).

    Raises CompilationError (pointing at the user's source) for errors in the kernel, and
    TypeError/ValueError for a bad signature.
    """
    constexprs = dict(constexprs or {})
    attrs = dict(attrs or {})
    pyfn = _python_function(fn)
    if not callable(pyfn) or not hasattr(pyfn, "__code__"):
        raise TypeError(f"ast_to_ttir: fn must be a JITFunction or a Python function, got {fn!r}")
    ctx = ModuleContext()
    try:
        src = ctx.source(pyfn)
        params = inspect.signature(pyfn).parameters
        for kp in getattr(fn, "params", ()):
            if kp.is_constexpr and (kp.do_not_specialize or kp.do_not_specialize_on_alignment):
                node = next((a for a in src.tree.args.args if a.arg == kp.name), src.tree)
                raise src.error(node, nospec_constexpr_message(kp.name))
        scope: dict[str, Any] = {}
        kernel_params: list[_KernelParam] = []
        for name, p in params.items():
            sig = signature.get(name)
            if isinstance(sig, (tuple, list)):  # a tuple argument, constexpr parts inside
                kernel_params.append(_KernelParam.parse(name, sig, {}, constexprs.get(name)))
                continue
            if (
                name in constexprs
                or sig == "constexpr"
                or (sig is None and _is_constexpr_annotation(p.annotation))
            ):
                if name in constexprs:
                    scope[name] = _plain(lcore.unwrap_constexpr(constexprs[name]))
                elif p.default is not inspect.Parameter.empty:
                    scope[name] = lcore.unwrap_constexpr(p.default)
                else:
                    raise ValueError(f"ast_to_ttir: no value for constexpr parameter {name!r}")
                continue
            if sig is None:
                raise ValueError(f"ast_to_ttir: signature has no type for parameter {name!r}")
            if _is_const_annotation(p.annotation) and isinstance(sig, str):
                # `x_ptr: tl.const`: a read-only pointer, as if the signature said `*k...`
                if sig.startswith("*") and not sig.startswith("*k"):
                    sig = "*k" + sig[1:]
            kernel_params.append(_KernelParam.parse(name, sig, dict(attrs.get(name, {}))))
        extra = set(signature) - set(params)
        if extra:
            raise ValueError(f"ast_to_ttir: signature names unknown parameters {sorted(extra)}")
        op, block = ctx.new_function(
            pyfn.__name__,
            [t for kp in kernel_params for t in kp.types],
            [a for kp in kernel_params for a in kp.arg_attrs],
            "public",
            bool(getattr(fn, "noinline", False)),
            src.loc(src.tree),
        )
        args = iter(block.args)
        for kp in kernel_params:
            scope[kp.name] = kp.bind([next(args) for _ in kp.types])
        gen = ctx.generator(pyfn, scope)
        ctx.builder.set_insertion_point_to_end(block)
        with lcore.engine_scope(ctx.engine):
            ret = gen.generate()
            if ret is not None:
                raise src.error(src.tree, "a kernel cannot return a value")
            ctx.finish_function(op, block, None, src.loc(src.tree))
    except CompilationError as e:
        # Hide the compiler's frames: the message already points at the user's line. A
        # builtin's own error stays the cause, as in Triton.
        raise e.with_traceback(None) from e.__cause__
    return ctx.module
