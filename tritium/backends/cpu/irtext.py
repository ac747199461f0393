"""LLVM IR text of an llvmlite module, written faster than llvmlite's own printer.

llvmlite prints each instruction through ``__str__`` -> ``_to_string`` -> ``descr`` ->
``str.format`` with one ``__str__`` call per operand type: for the tutorial matmul's ~1300
instructions that was 13-22 ms of a ~210 ms cold compile (issue 13). :func:`module_text`
writes the instructions that kernels are made of (arithmetic, casts, compares, loads, stores,
GEPs, phis, selects, vector element ops, branches) with one f-string each and the operand and
type texts cached per call; everything else (calls, instructions with metadata, anything it
does not know by exact class) goes through llvmlite's ``str``. The text is the same, byte for
byte, as ``str(module)`` (tests/backends/cpu/test_irtext.py compares them over the kernels of
the test suite's tutorials).
"""

from __future__ import annotations

from collections.abc import Callable

import llvmlite.ir as ll
from llvmlite.ir import instructions as li
from llvmlite.ir import types as lt


class _Writer:
    """Instruction texts for one module print (type and reference texts cached by id: the
    objects stay alive for the whole print)."""

    def __init__(self) -> None:
        self.types: dict[int, str] = {}
        self.refs: dict[int, str] = {}
        self.write: dict[type, Callable[[_Writer, li.Instruction], str]] = _WRITERS

    def ty(self, t: lt.Type) -> str:
        s = self.types.get(id(t))
        if s is None:
            # vector types are made afresh all the time: only their element's text is cached
            s = f"<{t.count} x {self.ty(t.element)}>" if type(t) is lt.VectorType else str(t)
            self.types[id(t)] = s
        return s

    def ref(self, v: ll.Value) -> str:
        s = self.refs.get(id(v))
        if s is None:
            s = self.refs[id(v)] = self._reference(v)
        return s

    def _reference(self, v: ll.Value) -> str:
        """``v.get_reference()``, without its per-object formatting for the common values."""
        if isinstance(v, _LOCALS):
            name = v.name
            if "\\" not in name and '"' not in name:
                return f'%"{name}"'
        elif type(v) is ll.Constant:
            c = v.constant
            if type(c) is int and type(v.type) is lt.IntType:
                return str(c)
            if type(v.type) is lt.VectorType and isinstance(c, (list, tuple)):
                return f"<{', '.join([self.typed(x) for x in c])}>"
        return str(v.get_reference())

    def typed(self, v: ll.Value) -> str:
        return f"{self.ty(v.type)} {self.ref(v)}"

    def instruction(self, ins: li.Instruction) -> str:
        fn = self.write.get(type(ins))
        if fn is None or ins.metadata:
            return str(ins)
        body = fn(self, ins).rstrip()  # as llvmlite's: an empty operand list ends in a space
        if isinstance(ins.type, lt.VoidType):
            return body
        return f"{self.ref(ins)} = {body}"


#: values whose reference is ``%"name"`` (llvmlite's NamedValue reference, local prefix)
_LOCALS = (li.Instruction, ll.Argument, ll.Block)


def _generic(w: _Writer, ins: li.Instruction) -> str:
    op = ins.opname if not ins.flags else " ".join([ins.opname, *ins.flags])
    operands = ", ".join([w.ref(o) for o in ins.operands])
    return f"{op} {w.ty(ins.type)} {operands}"


def _cast(w: _Writer, ins: li.Instruction) -> str:
    (val,) = ins.operands
    return f"{ins.opname} {w.typed(val)} to {w.ty(ins.type)}"


def _compare(w: _Writer, ins: li.CompareInstr) -> str:
    lhs, rhs = ins.operands
    flags = "".join(" " + f for f in ins.flags)
    return f"{ins.opname}{flags} {ins.op} {w.ty(lhs.type)} {w.ref(lhs)}, {w.ref(rhs)}"


def _select(w: _Writer, ins: li.SelectInstr) -> str:
    cond, lhs, rhs = ins.operands
    flags = " ".join(ins.flags)
    return f"select {flags} {w.typed(cond)}, {w.typed(lhs)}, {w.typed(rhs)}"


def _load(w: _Writer, ins: li.LoadInstr) -> str:
    (ptr,) = ins.operands
    align = f", align {ins.align:d}" if ins.align is not None else ""
    return f"load {w.ty(ins.type)}, {w.typed(ptr)}{align}"


def _store(w: _Writer, ins: li.StoreInstr) -> str:
    val, ptr = ins.operands
    align = f", align {ins.align:d}" if ins.align is not None else ""
    return f"store {w.typed(val)}, {w.typed(ptr)}{align}"


def _gep(w: _Writer, ins: li.GEPInstr) -> str:
    op = "getelementptr inbounds" if ins.inbounds else "getelementptr"
    indices = ", ".join([w.typed(i) for i in ins.indices])
    return f"{op} {w.ty(ins.source_etype)}, {w.typed(ins.pointer)}, {indices}"


def _phi(w: _Writer, ins: li.PhiInstr) -> str:
    incoming = ", ".join([f"[{w.ref(v)}, {w.ref(b)}]" for v, b in ins.incomings])
    return f"phi {' '.join(ins.flags)} {w.ty(ins.type)} {incoming}"


def _element(w: _Writer, ins: li.Instruction) -> str:
    """extractelement, insertelement, shufflevector: every operand typed."""
    return f"{ins.opname} {', '.join([w.typed(o) for o in ins.operands])}"


def _alloca(w: _Writer, ins: li.AllocaInstr) -> str:
    text = f"alloca {w.ty(ins.allocated_type)}"
    if ins.operands:
        (count,) = ins.operands
        text += f", {w.typed(count)}"
    if ins.align is not None:
        text += f", align {ins.align}"
    return text


def _call(w: _Writer, ins: li.CallInstr) -> str:
    """A plain call (llvmlite's text otherwise: attributes, fast-math flags, a calling
    convention, a tail marker, a variadic or non-function callee)."""
    callee = ins.callee
    if (
        ins.arg_attributes
        or ins.attributes
        or ins.fastmath
        or ins.cconv
        or ins.tail
        or type(callee) is not ll.Function
        or callee.function_type.var_arg
    ):
        return _plain(ins)
    args = ", ".join([w.typed(a) for a in ins.args])
    return f"call {w.ty(callee.function_type.return_type)} {w.ref(callee)}({args})"


def _plain(ins: li.Instruction) -> str:
    """llvmlite's own text of ``ins`` without the ``%name = `` part."""
    buf: list[str] = []
    ins.descr(buf)
    return "".join(buf)


def _terminator(w: _Writer, ins: li.Terminator) -> str:
    return f"{ins.opname} {', '.join([w.typed(o) for o in ins.operands])}"


def _ret(w: _Writer, ins: li.Ret) -> str:
    value = ins.return_value
    return ins.opname if value is None else f"{ins.opname} {w.typed(value)}"


_WRITERS: dict[type, Callable[..., str]] = {
    li.Instruction: _generic,
    li.CastInstr: _cast,
    li.ICMPInstr: _compare,
    li.FCMPInstr: _compare,
    li.SelectInstr: _select,
    li.LoadInstr: _load,
    li.StoreInstr: _store,
    li.GEPInstr: _gep,
    li.PhiInstr: _phi,
    li.ExtractElement: _element,
    li.InsertElement: _element,
    li.ShuffleVector: _element,
    li.AllocaInstr: _alloca,
    li.Branch: _terminator,
    li.ConditionalBranch: _terminator,
    li.Ret: _ret,
    li.CallInstr: _call,
}


def function_text(fn: ll.Function, writer: _Writer | None = None) -> str:
    """``str(fn)`` for an llvmlite function (a declaration as llvmlite prints it)."""
    if not fn.blocks:
        return str(fn)
    w = writer or _Writer()
    buf: list[str] = []
    fn.descr_prototype(buf)
    buf.append("{\n")
    line = w.instruction
    for block in fn.blocks:
        buf.append(f"{block._format_name()}:\n")
        buf.extend([f"  {line(ins)}\n" for ins in block.instructions])
    buf.append("}\n")
    return "".join(buf)


def global_text(value: ll.GlobalValue, writer: _Writer | None = None) -> str:
    """``str(value)`` for a module global: functions through :func:`function_text`."""
    if type(value) is ll.Function:
        return function_text(value, writer)
    return str(value)


def module_text(module: ll.Module) -> str:
    """``str(module)``, written faster (see the module docstring)."""
    w = _Writer()
    lines = [
        f'; ModuleID = "{module.name}"',
        f'target triple = "{module.triple}"',
        f'target datalayout = "{module.data_layout}"',
        "",
    ]
    lines += [t.get_declaration() for t in module.get_identified_types().values()]
    lines += [global_text(v, w) for v in module.globals.values()]
    lines += module._get_metadata_lines()
    return "\n".join(lines)
