"""Inlining of calls between ``@jit`` functions.

Expects: verified IR in which every ``tt.func`` body ends in its only ``tt.return``.
Guarantees: every ``tt.call`` of a private ``tt.func`` not marked ``noinline`` (or marked, if
``respect_noinline`` is off) is replaced by a copy of the callee's body, with the call's
arguments for the parameters and the returned values for the call's results; the copied ops
keep the callee's locations. Private functions that nobody calls any more are then erased.
Calls to public functions stay. Recursion is an error (Triton does not allow it either).

Touches ``tt.call``, ``tt.func`` and ``tt.return``.
"""

from __future__ import annotations

from dataclasses import dataclass

from tritium.errors import InternalCompilerError
from tritium.ir.core import Module, Operation, Value
from tritium.ir.rewrite import clone_op, replace_op
from tritium.passes.registry import Pass, register_pass

__all__ = ["Inline"]


@register_pass("inline")
@dataclass
class Inline(Pass):
    """Inline calls to private functions, then erase the functions nobody calls.

    ``remove_dead_functions``: erase private functions left without callers.
    ``respect_noinline``: keep calls to ``noinline`` functions (False inlines them too, for a
    backend that cannot lower calls).
    """

    remove_dead_functions: bool = True
    respect_noinline: bool = True

    def run(self, module: Module) -> Module:
        functions = {str(f.attrs.get("sym_name")): f for f in module.functions}
        done: set[str] = set()  # functions whose own calls are already inlined
        for f in functions.values():
            _inline_calls_in(f, functions, done, [], self.respect_noinline)
        if self.remove_dead_functions:
            _remove_uncalled_private_functions(module)
        return module


def _remove_uncalled_private_functions(module: Module) -> None:
    # to a fixed point: erasing a function can leave the functions it called uncalled
    while True:
        called = {str(op.attrs.get("callee")) for op in module.walk() if op.name == "tt.call"}
        dead = [
            f
            for f in module.functions
            if f.attrs.get("visibility") == "private" and str(f.attrs.get("sym_name")) not in called
        ]
        if not dead:
            return
        for f in dead:
            f.erase()


def _inlinable(callee: Operation, respect_noinline: bool) -> bool:
    if respect_noinline and callee.attrs.get("noinline"):
        return False
    return callee.attrs.get("visibility") == "private"


def _inline_calls_in(
    func: Operation,
    functions: dict[str, Operation],
    done: set[str],
    stack: list[str],
    respect_noinline: bool,
) -> None:
    """Inline the calls in ``func``, after inlining the calls in each callee (bottom-up)."""
    name = str(func.attrs.get("sym_name"))
    if name in done:
        return
    if name in stack:
        raise InternalCompilerError(
            f"recursive call chain {' -> '.join(stack + [name])}", pass_name="inline", op=func
        )
    stack.append(name)
    for call in [op for op in func.walk() if op.name == "tt.call"]:
        callee = functions.get(str(call.attrs.get("callee")))
        if callee is None or not _inlinable(callee, respect_noinline):
            continue
        _inline_calls_in(callee, functions, done, stack, respect_noinline)
        _inline_call(call, callee)
    stack.pop()
    done.add(name)


def _inline_call(call: Operation, callee: Operation) -> None:
    """Replace ``call`` by a copy of the callee's body."""
    body = callee.regions[0].blocks[0]
    mapping: dict[Value, Value] = dict(zip(body.args, call.operands, strict=True))
    block = call.parent
    assert block is not None
    for op in body.ops[:-1]:
        if any(inner.name == "tt.return" for inner in op.walk()):
            raise InternalCompilerError(
                "tt.return inside a region cannot be inlined", pass_name="inline", op=op
            )
        block.insert_before(call, clone_op(op, mapping))
    ret = body.ops[-1]
    if ret.name != "tt.return":
        raise InternalCompilerError(
            "function body does not end in tt.return", pass_name="inline", op=callee
        )
    replace_op(call, [mapping.get(v, v) for v in ret.operands])
