"""The AOT header's dispatcher by dtype and size: ``<name>_any`` (see :mod:`tritium.tools.aot`).

The per-signature dispatchers pick a variant by alignment hints only; ``<name>_any`` takes
every pointer as ``void *`` followed by its dtype code (``TRITIUM_AOT_DTYPE_FP32``...), every
integer as ``int64_t`` and every float as ``double``, and runs the first variant that accepts
the call, trying them in this order:

1. variants with a size condition (``"..., 1024 if n >= 65536"``) before those without;
2. then the most alignment/divisibility hints (``:16``);
3. then the narrowest integer types (an ``i32`` variant while ``n`` fits in 32 bits, then the
   ``i64`` one);
4. then the order given.

A variant accepts the call when each pointer's dtype code is its element type, each integer
fits its type, its hints hold, its conditions hold, and any parameter it fixed to a constant
has that value. With ``grid`` (``"cdiv(n, BLOCK)"``, up to three comma-separated expressions
of integer parameters and the variant's constexprs), ``<name>_any`` computes the grid of the
chosen variant itself, so variants may differ in block size. ``<name>_select`` returns the
index of the variant that would run (-1: none), ``<name>_variant_name`` its entry point.
"""

from __future__ import annotations

import ast
import re
from typing import Any

__all__ = ["DTYPE_CODES", "parse_condition", "any_dispatcher"]

#: dtype codes in the header (stable: programs compile them in)
DTYPE_CODES = {
    "i1": 1,
    "i8": 2,
    "i16": 3,
    "i32": 4,
    "i64": 5,
    "u8": 6,
    "u16": 7,
    "u32": 8,
    "u64": 9,
    "fp16": 10,
    "bf16": 11,
    "fp32": 12,
    "fp64": 13,
}
#: the range check of an int64_t value passed for an integer parameter of each type
_INT_RANGE = {
    "i1": "({v} == 0 || {v} == 1)",
    "i8": "({v} >= INT8_MIN && {v} <= INT8_MAX)",
    "i16": "({v} >= INT16_MIN && {v} <= INT16_MAX)",
    "i32": "({v} >= INT32_MIN && {v} <= INT32_MAX)",
    "i64": "1",
    "u8": "({v} >= 0 && {v} <= UINT8_MAX)",
    "u16": "({v} >= 0 && {v} <= UINT16_MAX)",
    "u32": "({v} >= 0 && {v} <= (int64_t)UINT32_MAX)",
    "u64": "({v} >= 0)",
}
_INT_BITS = {"i1": 1, "i8": 8, "i16": 16, "i32": 32, "i64": 64}
_INT_BITS.update({"u8": 8, "u16": 16, "u32": 32, "u64": 64})
_OPS = ("<=", ">=", "==", "!=", "<", ">")


def parse_condition(text: str, int_params: set[str]) -> list[tuple[str, str, int]]:
    """``"n >= 65536 and n < 1048576"`` -> ``[("n", ">=", 65536), ("n", "<", 1048576)]``;
    only integer run-time parameters compared with integer constants."""
    out = []
    for part in re.split(r"\s+and\s+", text.strip()):
        m = re.fullmatch(r"(\w+)\s*(<=|>=|==|!=|<|>)\s*(-?\d+)", part.strip())
        if m is None:
            raise ValueError(
                f"condition {part.strip()!r}: expected 'param OP integer' (OP one of "
                f"{', '.join(_OPS)}), joined by 'and'"
            )
        name, op, value = m.group(1), m.group(2), int(m.group(3))
        if name not in int_params:
            raise ValueError(
                f"condition {part.strip()!r}: {name!r} is not an integer run-time parameter "
                f"of this specialization ({', '.join(sorted(int_params)) or 'none'})"
            )
        out.append((name, op, value))
    return out


def _kind(ty: str) -> str:
    if ty.startswith("*"):
        return "ptr"
    return "int" if ty in _INT_RANGE else "float"


def _params(fn_params: list[str], variants: list[Any]) -> list[tuple[str, str]]:
    """(name, kind) of ``<name>_any``'s parameters: every parameter that is a run-time one in
    some variant, in the kernel's order."""
    kinds: dict[str, str] = {}
    for v in variants:
        for n, ty, _ in v.params:
            k = _kind(ty)
            if kinds.setdefault(n, k) != k:
                raise ValueError(
                    f"parameter {n!r} is a {kinds[n]} in one specialization and a {k} in "
                    "another: no single dispatcher can take both"
                )
    return [(n, kinds[n]) for n in fn_params if n in kinds]


def _grid_c(expr: ast.expr, ints: set[str], constexprs: dict[str, Any], text: str) -> str:
    """One grid expression as C int64 arithmetic (constexprs substituted)."""

    def c(e: ast.expr) -> str:
        if isinstance(e, ast.Constant) and type(e.value) is int:
            return f"INT64_C({e.value})"
        if isinstance(e, ast.Name):
            if e.id in ints:
                return e.id
            if e.id in constexprs and type(constexprs[e.id]) is int:
                return f"INT64_C({constexprs[e.id]})"
            raise ValueError(f"grid {text!r}: {e.id!r} is no integer parameter or constexpr")
        if isinstance(e, ast.BinOp):
            ops = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.FloorDiv: "/", ast.Mod: "%"}
            if type(e.op) in ops:
                return f"({c(e.left)} {ops[type(e.op)]} {c(e.right)})"
        if isinstance(e, ast.Call) and isinstance(e.func, ast.Name) and len(e.args) == 2:
            a, b = c(e.args[0]), c(e.args[1])
            if e.func.id == "cdiv":
                return f"tritium_aot_cdiv({a}, {b})"
            if e.func.id in ("max", "min"):
                return f"tritium_aot_{e.func.id}({a}, {b})"
        raise ValueError(
            f"grid {text!r}: only integers, parameters, constexprs, + - * // % and "
            "cdiv/max/min are allowed"
        )

    return c(expr)


def _parse_grid(grid: str) -> list[ast.expr]:
    try:
        tree = ast.parse(grid.strip(), mode="eval").body
    except SyntaxError as e:
        raise ValueError(f"grid {grid!r} is not an expression: {e.msg}") from None
    exprs = list(tree.elts) if isinstance(tree, ast.Tuple) else [tree]
    if not 1 <= len(exprs) <= 3:
        raise ValueError(f"grid {grid!r}: give 1 to 3 expressions")
    return exprs


def _accepts(v: Any, params: list[tuple[str, str]]) -> str:
    """The C condition under which variant ``v`` takes the call."""
    conds = []
    runtime = {n: (ty, hint) for n, ty, hint in v.params}
    for n, kind in params:
        if n not in runtime:  # fixed to a constant by this specialization
            value = v.constexprs[n]
            conds.append(f"({n} == {int(value) if kind == 'int' else repr(float(value))})")
            continue
        ty, hint = runtime[n]
        if kind == "ptr":
            conds.append(f"({n}_dtype == {DTYPE_CODES[ty[1:]]})")
            if hint:
                conds.append(f"((uintptr_t){n} % 16 == 0)")
        elif kind == "int":
            if _INT_RANGE[ty] != "1":
                conds.append(_INT_RANGE[ty].format(v=n))
            if hint:
                conds.append(f"({n} % 16 == 0)")
    conds += [f"({n} {op} INT64_C({value}))" for n, op, value in v.conditions]
    return " && ".join(conds) or "1"


def _order(variants: list[Any]) -> list[int]:
    def key(i: int) -> tuple[int, int, int, int]:
        v = variants[i]
        width = sum(_INT_BITS.get(ty, 0) for _, ty, _ in v.params)
        return (-len(v.conditions), -v.specificity, width, i)

    return sorted(range(len(variants)), key=key)


def any_dispatcher(
    name: str, fn_params: list[str], variants: list[Any], grid: str | None
) -> tuple[str, str]:
    """(header declarations, C source) of ``<name>_any``, ``<name>_select`` and
    ``<name>_variant_name``."""
    params = _params(fn_params, variants)
    ints = {n for n, k in params if k == "int"}
    grids = _parse_grid(grid) if grid else None
    ctype = {"ptr": "void *{n}, int32_t {n}_dtype", "int": "int64_t {n}", "float": "double {n}"}
    plist = [ctype[k].format(n=n) for n, k in params]
    sel_proto = f"int32_t {name}_select({', '.join(plist) or 'void'})"
    tail = ["int32_t num_threads", "int32_t *err"]
    if grids is None:
        tail = ["int32_t gx", "int32_t gy", "int32_t gz", *tail]
    any_proto = f"int32_t {name}_any({', '.join(plist + tail)})"
    name_proto = f"const char *{name}_variant_name(int32_t index)"
    decls = [
        "#ifndef TRITIUM_AOT_DTYPES",
        "#define TRITIUM_AOT_DTYPES",
        *(f"#define TRITIUM_AOT_DTYPE_{t.upper()} {c}" for t, c in DTYPE_CODES.items()),
        "#endif",
        f"/* dtype and size dispatcher over all {len(variants)} specializations: pointers as",
        " * void * followed by their TRITIUM_AOT_DTYPE_* code,",
        " * integers as int64_t, floats as double"
        + (f"; the grid is computed: {grid}" if grid else "")
        + ". _select: the variant that would run (-1: none). */",
        any_proto + ";",
        sel_proto + ";",
        name_proto + ";",
    ]
    order = _order(variants)
    src = [
        "#include <stdint.h>",
        "static int64_t tritium_aot_cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }",
        "static int64_t tritium_aot_max(int64_t a, int64_t b) { return a > b ? a : b; }",
        "static int64_t tritium_aot_min(int64_t a, int64_t b) { return a < b ? a : b; }",
        sel_proto + " {",
    ]
    src += [f"  (void){n};" for n, _ in params]  # a variant may not look at every parameter
    for i in order:
        src.append(f"  if ({_accepts(variants[i], params)}) return {i};")
    src += ["  return -1;", "}", "", name_proto + " {"]
    names = ", ".join(f'"{v.symbol}"' for v in variants)
    src += [f"  static const char *const names[] = {{{names}}};"]
    src += [f"  return index >= 0 && index < {len(variants)} ? names[index] : (const char *)0;"]
    src += ["}", "", any_proto + " {"]
    sel_args = [f"{n}, {n}_dtype" if k == "ptr" else n for n, k in params]
    src.append(f"  switch ({name}_select({', '.join(sel_args)})) {{")
    for i, v in enumerate(variants):
        runtime = {n: ty for n, ty, _ in v.params}
        args = []
        for n, _, _ in v.params:
            ty = runtime[n]
            args.append(f"({_elem_ptr(ty)}){n}" if ty.startswith("*") else f"({_scalar(ty)}){n}")
        src.append(f"  case {i}: {{")
        if grids is not None:
            dims = [_grid_c(g, ints, v.constexprs, grid or "") for g in grids]
            dims += ["INT64_C(1)"] * (3 - len(dims))
            for axis, d in zip("xyz", dims):
                src.append(f"    int64_t g{axis} = {d};")
            src.append("    if (gx <= 0 || gy <= 0 || gz <= 0) return 0;")
            src.append("    if (gx > INT32_MAX || gy > INT32_MAX || gz > INT32_MAX)")
            src.append("      return TRITIUM_AOT_NO_VARIANT;")
            call_tail = "(int32_t)gx, (int32_t)gy, (int32_t)gz, num_threads, err"
        else:
            call_tail = "gx, gy, gz, num_threads, err"
        src.append(f"    return {v.symbol}({', '.join(args + [call_tail])});")
        src.append("  }")
    src += ["  default:", "    return TRITIUM_AOT_NO_VARIANT;", "  }", "}"]
    return "\n".join(decls), "\n".join(src)


def _elem_ptr(ty: str) -> str:
    from tritium.tools.aot import _c_param_type

    return _c_param_type(ty).rstrip()


def _scalar(ty: str) -> str:
    from tritium.tools.aot import _c_param_type

    return _c_param_type(ty)
