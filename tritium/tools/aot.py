"""Ahead-of-time kernels: a shared library and a C header, callable with no Python and no LLVM.

``python -m tritium.tools.aot module.py:kernel -s "*fp32:16, *fp32:16, i32, 1024" -o out/``
(or :func:`build_library`) compiles a ``@jit`` kernel for each given specialization and writes

* ``lib<name>.so``: the kernels, their grid launchers and tritium's native thread pool, linked
  with the system C compiler; it needs only libc, libm and libpthread at run time;
* ``<name>.h``: one plain C entry point per variant, and one dispatcher per group of variants
  that share a C signature (picks the most specialized variant whose hints hold: pointers
  aligned to 16 bytes, integers divisible by 16).

A specialization is written as Triton's AOT compiler writes it: one item per parameter, in
order, ``*fp32`` (a pointer), ``*fp32:16`` (aligned to 16 bytes), ``i32``, ``i32:16``
(divisible by 16), ``fp32``, or a constant for a ``tl.constexpr`` parameter (``1024``,
``True``, ``1.5``).

Every entry point takes the kernel's run-time arguments, then ``gx, gy, gz`` (the grid) and
``num_threads`` (``<= 0``: ``TRITIUM_NUM_THREADS`` or the online cores), and returns 0, or the
number of the failed ``tl.device_assert`` (or ``TRITIUM_AOT_NO_THREADS`` when no thread could
be started, ``TRITIUM_AOT_INTERRUPTED`` after ``<name>_request_stop(1)``), the program id of the
failure in ``err`` when it is not NULL.

``levels`` picks the CPUs: ``host`` (this machine's exact features: fastest, not portable) or
x86-64 feature levels (``x86-64-v2``, ``x86-64-v3``, ``x86-64-v4``); with several levels every
entry point checks the running CPU once and calls the best build it supports.

``target`` cross-compiles: ``--target aarch64-linux-gnu`` builds for 64-bit Arm Linux (level
``aarch64``: any Armv8-A with NEON, or ``neoverse-n1``/``neoverse-v1``). LLVM emits the objects
here; linking needs a C compiler for the target: ``--cc``, else ``aarch64-linux-gnu-gcc`` or
Zig (``pip install ziglang``) when found. Without one, the objects, the C wrapper and a
``link-<name>.sh`` script are written instead, to link on the target machine.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Variant", "Library", "build_library", "parse_specialization", "main"]

#: x86-64 psABI feature levels, as LLVM names the features (each level includes the ones before).
_LEVEL_FEATURES = {
    "x86-64-v2": ["cx16", "sahf", "popcnt", "sse3", "sse4.1", "sse4.2", "ssse3"],
    "x86-64-v3": ["avx", "avx2", "bmi", "bmi2", "f16c", "fma", "lzcnt", "movbe", "xsave"],
    "x86-64-v4": ["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"],
}
_BASELINE = ["64bit", "cmov", "cx8", "fxsr", "mmx", "sse", "sse2"]
#: AArch64 levels: (LLVM CPU, features); NEON is part of every Armv8-A CPU
_AARCH64_LEVELS = {
    "aarch64": ("generic", "+neon,+fp-armv8"),
    "neoverse-n1": ("neoverse-n1", "+neon,+fp-armv8"),
    "neoverse-v1": ("neoverse-v1", "+neon,+fp-armv8"),
}
#: the target names accepted, and the LLVM triple each stands for
_TRIPLES = {
    "aarch64-linux-gnu": "aarch64-unknown-linux-gnu",
    "aarch64-unknown-linux-gnu": "aarch64-unknown-linux-gnu",
    "aarch64": "aarch64-unknown-linux-gnu",
    "x86_64-linux-gnu": "x86_64-unknown-linux-gnu",
    "x86_64-unknown-linux-gnu": "x86_64-unknown-linux-gnu",
}
#: what the C dispatcher asks ``__builtin_cpu_supports`` for each level
_LEVEL_CHECKS = {
    "x86-64-v2": ["popcnt", "sse4.2", "ssse3"],
    "x86-64-v3": ["avx2", "bmi", "bmi2", "f16c", "fma", "movbe"],
    "x86-64-v4": ["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"],
}

# Triton type string -> (C type, the 8-byte slot the launcher reads: "i" integer, "f" double)
_C_TYPES = {
    "i1": ("bool", "i"),
    "i8": ("int8_t", "i"),
    "i16": ("int16_t", "i"),
    "i32": ("int32_t", "i"),
    "i64": ("int64_t", "i"),
    "u8": ("uint8_t", "i"),
    "u16": ("uint16_t", "i"),
    "u32": ("uint32_t", "i"),
    "u64": ("uint64_t", "i"),
    "fp16": ("float", "f"),
    "bf16": ("float", "f"),
    "fp32": ("float", "f"),
    "fp64": ("double", "f"),
}
_C_ELEMENTS = {
    "i1": "bool",
    "i8": "int8_t",
    "i16": "int16_t",
    "i32": "int32_t",
    "i64": "int64_t",
    "u8": "uint8_t",
    "u16": "uint16_t",
    "u32": "uint32_t",
    "u64": "uint64_t",
    "fp16": "uint16_t",
    "bf16": "uint16_t",
    "fp32": "float",
    "fp64": "double",
}


@dataclass
class Variant:
    """One specialization of the kernel: a parameter's type (with its hint) or constant value."""

    items: list[str]
    signature: dict[str, str] = field(default_factory=dict)
    constexprs: dict[str, Any] = field(default_factory=dict)
    attrs: dict[str, dict[str, int]] = field(default_factory=dict)
    #: (name, Triton type, hint 16 or None) of each run-time parameter, in order
    params: list[tuple[str, str, int | None]] = field(default_factory=list)
    symbol: str = ""
    #: (integer parameter, comparison, value): when the dispatchers may pick this variant
    conditions: list[tuple[str, str, int]] = field(default_factory=list)

    @property
    def c_signature(self) -> tuple[str, ...]:
        """The C parameter types of the entry point (hints excluded)."""
        return tuple(_c_param_type(ty) for _, ty, _ in self.params)

    @property
    def specificity(self) -> int:
        return sum(1 for _, _, hint in self.params if hint)


def _c_param_type(ty: str) -> str:
    if ty.startswith("*"):
        elem = _C_ELEMENTS.get(ty[1:])
        if elem is None:
            raise ValueError(f"unsupported pointer type {ty!r} for an AOT entry point")
        return f"{elem} *"
    if ty not in _C_TYPES:
        raise ValueError(f"unsupported scalar type {ty!r} for an AOT entry point")
    return _C_TYPES[ty][0]


def _constant(text: str) -> Any:
    if text in ("True", "False"):
        return text == "True"
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    raise ValueError(f"not a type or a constant: {text!r}")


def parse_specialization(fn: Any, spec: str | Sequence[str]) -> Variant:
    """A :class:`Variant` of ``fn`` from Triton's AOT notation (``"*fp32:16, i32, 1024"``),
    optionally followed by a size condition for the dispatchers: ``"... if n >= 65536"``."""
    condition = ""
    if isinstance(spec, str) and re.search(r"\sif\s", spec):
        spec, _, condition = spec.partition(" if ")
    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec)]
    names = list(fn.arg_names)
    if len(items) != len(names):
        raise ValueError(
            f"{fn.__name__} has {len(names)} parameters ({', '.join(names)}), the "
            f"specialization {spec!r} gives {len(items)}"
        )
    v = Variant(items)
    constexpr_params = set(getattr(fn, "constexprs", ()))
    for i, (name, item) in enumerate(zip(names, items)):
        ty, _, hint_text = item.partition(":")
        is_type = ty.startswith("*") or ty in _C_TYPES
        if i in constexpr_params or not is_type:
            if is_type:
                raise ValueError(f"parameter {name!r} is a tl.constexpr: give its value")
            v.constexprs[name] = _constant(item)
            continue
        hint = None
        if hint_text:
            if hint_text != "16":
                raise ValueError(
                    f"parameter {name!r}: only the hint ':16' is supported, got {item!r}"
                )
            hint = 16
            v.attrs[name] = {"tt.divisibility": 16}
        _c_param_type(ty)  # refuse unsupported types early, naming them
        v.signature[name] = ty
        v.params.append((name, ty, hint))
    if condition:
        from tritium.tools.aot_dispatch import parse_condition

        ints = {n for n, ty, _ in v.params if not ty.startswith("*") and _C_TYPES[ty][1] == "i"}
        v.conditions = parse_condition(condition, ints)
        v.items.append(f"if {condition.strip()}")
    return v


@dataclass
class Library:
    """What :func:`build_library` wrote."""

    library: str  #: '' when nothing could link it (cross builds): see ``link_script``
    header: str
    variants: list[Variant]
    dispatchers: dict[str, list[Variant]]
    levels: list[str]
    triple: str = ""
    #: the objects and C wrapper kept in the output directory (cross builds without a linker)
    objects: list[str] = field(default_factory=list)
    link_script: str = ""
    assembly: str = ""  #: the kernels' assembly (``emit_asm=True``)
    #: ``<name>_any``, the dispatcher by dtype and size (several variants or a grid)
    any_dispatcher: str = ""


def _level_target(level: str) -> tuple[str, str]:
    """(LLVM CPU name, explicit feature string) of an x86-64 feature level (or AArch64's)."""
    import llvmlite.binding as llvm

    if level in _AARCH64_LEVELS:
        return _AARCH64_LEVELS[level]

    from tritium.backends.cpu.target import initialize_llvm

    initialize_llvm()
    enabled: set[str] = set(_BASELINE)
    for name, feats in _LEVEL_FEATURES.items():
        enabled.update(feats)
        if name == level:
            break
    known = {f[1:] for f in llvm.get_host_cpu_features().flatten().split(",") if f}
    feats_str = ",".join(("+" if f in enabled else "-") + f for f in sorted(known | enabled))
    return level, feats_str


def _compile_variant(
    fn: Any, v: Variant, level: str, triple: str | None = None
) -> tuple[str, str, list[str]]:
    """(optimized LLVM IR, entry symbol, parameter types) of one variant for one level
    (``triple``: a cross target, None for this machine's)."""
    from tritium.backends.cpu import dot_amx
    from tritium.backends.cpu.target import compiling_for
    from tritium.backends.driver import driver
    from tritium.compiler.compiler import ASTSource
    from tritium.compiler.stages import run_stages

    src = ASTSource(fn, v.signature, v.constexprs, v.attrs)
    target = driver.active.get_current_target()
    with dot_amx.elsewhere():  # no AMX: the library's process never asked for the tile state
        if level == "host":
            artifact = run_stages(src, target, {})
        else:
            with compiling_for(*_level_target(level), triple):
                artifact = run_stages(src, target, {})
    md = artifact.metadata
    return artifact.asm["llir"], md["entry"], list(md["param_types"])


def _support_ir(level: str, triple: str | None = None) -> tuple[str, Any, str]:
    """The thread pool's LLVM IR, the target to emit it for, and its run function's name
    (the futex pool on Linux, the portable one elsewhere or with TRITIUM_THREAD_POOL)."""
    from tritium.backends.cpu.threadpool import pool_ir, pool_kind, pool_symbol

    t = _target_for(level, triple)
    kind = pool_kind(t.triple)
    return pool_ir(t.triple, kind, named=False), t, pool_symbol(kind)


def _prototype(symbol: str, v: Variant) -> str:
    """``int32_t symbol(<v's run-time parameters>, gx, gy, gz, num_threads, err)``."""
    params = [
        f"{ct}{n}" if ct.endswith("*") else f"{ct} {n}"
        for (n, _, _), ct in zip(v.params, v.c_signature)
    ]
    params += ["int32_t gx", "int32_t gy", "int32_t gz", "int32_t num_threads", "int32_t *err"]
    return f"int32_t {symbol}({', '.join(params)})"


def _c_source(
    name: str, variants: list[Variant], levels: list[str], entries: dict, pool_run: str
) -> str:
    lines = [
        f'#include "{name}.h"',
        "#include <stdint.h>",
        "#include <stdlib.h>",
        "#include <unistd.h>",
        "",
        "typedef int32_t (*launch_fn)(",
        "    void *, int32_t, int32_t, int32_t, int32_t, int32_t *, void *, void *);",
        "/* the word the workers read between chunks of programs: set, running launches stop */",
        "static volatile int32_t stop_word = 0;",
        f"void {name}_request_stop(int32_t stop) {{ stop_word = stop; }}",
        f"int32_t {pool_run}(void *, void *, int32_t, int32_t);",
        "typedef union { int64_t i; double f; } slot_t;",
        "",
        "static int32_t default_threads(void) {",
        "  static int32_t n = 0;",
        "  if (n <= 0) {",
        '    const char *env = getenv("TRITIUM_NUM_THREADS");',
        "    long v = env ? strtol(env, NULL, 10) : 0;",
        "    if (v <= 0) v = sysconf(_SC_NPROCESSORS_ONLN);",
        "    n = v > 0 ? (int32_t)v : 1;",
        "  }",
        "  return n;",
        "}",
        "",
    ]
    if len(levels) > 1:
        lines += ["static int cpu_level(void) {", "  static int level = -1;", "  if (level < 0) {"]
        lines += ["    __builtin_cpu_init();", "    level = 0;"]
        for i, lv in enumerate(levels):
            checks = " && ".join(f'__builtin_cpu_supports("{c}")' for c in _LEVEL_CHECKS[lv])
            lines.append(f"    if ({checks}) level = {i};")
        lines += ["  }", "  return level;", "}", ""]
    for v in variants:
        for lv in levels:
            lines.append(
                f"int32_t {entries[v.symbol, lv]}(void *, int32_t, int32_t, int32_t, int32_t, "
                "int32_t *, void *, void *);"
            )
        lines.append(_prototype(v.symbol, v) + " {")
        lines.append(f"  slot_t s[{len(v.params) + 1}];")
        for i, (n, ty, _) in enumerate(v.params):
            if ty.startswith("*"):
                lines.append(f"  s[{i}].i = (int64_t)(intptr_t){n};")
            elif _C_TYPES[ty][1] == "f":
                lines.append(f"  s[{i}].f = (double){n};")
            else:
                lines.append(f"  s[{i}].i = (int64_t){n};")
        lines.append(f"  s[{len(v.params)}].i = 0;")
        lines.append("  if (gx <= 0 || gy <= 0 || gz <= 0) return 0;")
        lines.append("  if (num_threads <= 0) num_threads = default_threads();")
        if len(levels) > 1:
            table = ", ".join(entries[v.symbol, lv] for lv in levels)
            lines.append(f"  static const launch_fn builds[] = {{{table}}};")
            lines.append("  launch_fn fn = builds[cpu_level()];")
        else:
            lines.append(f"  launch_fn fn = {entries[v.symbol, levels[0]]};")
        lines.append(
            f"  return fn(s, gx, gy, gz, num_threads, err, (void *){pool_run}, (void *)&stop_word);"
        )
        lines += ["}", ""]
    return "\n".join(lines)


def _hint_check(name: str, ty: str) -> str:
    if ty.startswith("*"):
        return f"((uintptr_t){name} % 16 == 0)"
    return f"({name} % 16 == 0)"


def _dispatchers(fn_name: str, variants: list[Variant]) -> dict[str, list[Variant]]:
    groups: dict[tuple[Any, ...], list[Variant]] = {}
    for v in variants:
        key = (v.c_signature, tuple(sorted((k, repr(x)) for k, x in v.constexprs.items())))
        groups.setdefault(key, []).append(v)
    out = {}
    for i, group in enumerate(groups.values()):
        dname = fn_name if len(groups) == 1 else f"{fn_name}_{i}"
        out[dname] = sorted(group, key=lambda v: (-len(v.conditions), -v.specificity))
    return out


def _dispatcher_source(dname: str, group: list[Variant]) -> str:
    v0 = group[0]
    names = [n for n, _, _ in v0.params]
    call_args = ", ".join(names + ["gx", "gy", "gz", "num_threads", "err"])
    lines = [_prototype(dname, v0) + " {"]
    for v in group:
        conds = [_hint_check(n, ty) for n, ty, hint in v.params if hint]
        conds += [f"({n} {op} {value})" for n, op, value in v.conditions]
        cond = " && ".join(conds) if conds else "1"
        lines.append(f"  if ({cond}) return {v.symbol}({call_args});")
    lines.append("  return TRITIUM_AOT_NO_VARIANT;")
    lines.append("}")
    return "\n".join(lines)


def _header(
    name: str, fn_name: str, variants: list[Variant], dispatchers: dict, levels, extra: str = ""
) -> str:
    guard = re.sub(r"\W", "_", name).upper() + "_H"
    lines = [
        f"/* {name}.h: ahead-of-time build of the tritium kernel {fn_name}",
        f" * (tritium.tools.aot; CPU builds: {', '.join(levels)}).",
        " * Each function runs the kernel over the grid (gx, gy, gz) with num_threads threads",
        " * (<= 0: TRITIUM_NUM_THREADS or the online cores) and returns 0, the number of the",
        " * failed tl.device_assert, TRITIUM_AOT_NO_THREADS, TRITIUM_AOT_INTERRUPTED (after",
        f" * {name}_request_stop(1), from any thread) or TRITIUM_AOT_NO_VARIANT; err (may be NULL)",
        " * receives {code, pid x, pid y, pid z}. Pointers are host memory. */",
        f"#ifndef {guard}",
        f"#define {guard}",
        "#include <stdbool.h>",
        "#include <stdint.h>",
        "#ifdef __cplusplus",
        'extern "C" {',
        "#endif",
        "#define TRITIUM_AOT_NO_THREADS 0x7FFFFFFF",
        "#define TRITIUM_AOT_INTERRUPTED 0x7FFFFFFE",
        "#define TRITIUM_AOT_NO_VARIANT 0x7FFFFFFD",
        "",
        "/* nonzero: running and later launches stop between chunks of programs; 0: run again */",
        f"void {name}_request_stop(int32_t stop);",
        "",
    ]
    for v in variants:
        lines.append(f"/* specialization: {', '.join(v.items)} */")
        lines.append(_prototype(v.symbol, v) + ";")
    lines.append("")
    for dname, group in dispatchers.items():
        lines.append(f"/* dispatcher over: {', '.join(v.symbol for v in group)} */")
        lines.append(_prototype(dname, group[0]) + ";")
    if extra:
        lines += ["", extra]
    lines += ["", "#ifdef __cplusplus", "}", "#endif", f"#endif /* {guard} */", ""]
    return "\n".join(lines)


def build_library(
    fn: Any,
    specializations: Sequence[str | Sequence[str]],
    out_dir: str,
    name: str | None = None,
    levels: Sequence[str] | None = None,
    cc: str | Sequence[str] | None = None,
    target: str | None = None,
    link: bool | None = None,
    emit_asm: bool = False,
    grid: str | None = None,
) -> Library:
    """Compile ``fn`` for each specialization and link ``lib<name>.so`` and ``<name>.h`` in
    ``out_dir`` (see the module docstring). ``cc`` is the C compiler, a command or its words
    (default ``$CC`` or ``cc``; for a cross ``target``, a cross compiler found here). ``link``:
    True requires linking, False writes the objects, the C wrapper and a link script only,
    None (default) links when a compiler for the target is found. ``emit_asm`` also writes
    the kernels' assembly to ``<name>.s``. With several specializations (or a ``grid``, such
    as ``"cdiv(n, BLOCK)"``) the header also has ``<name>_any``, the dispatcher by dtype and
    size (:mod:`tritium.tools.aot_dispatch`)."""
    from tritium.backends.cpu.helpers import NAMES as HELPERS
    from tritium.backends.cpu.helpers import helpers_ir
    from tritium.backends.cpu.launcher import GRID_LAUNCH, grid_launch_ir
    from tritium.backends.cpu.target import _SUPPORT_IR, host_target, pic_object

    if not getattr(fn, "is_jit_function", False):
        raise TypeError(f"build_library expects a @jit function, got {type(fn).__name__}")
    if not specializations:
        raise ValueError("build_library needs at least one specialization")
    triple = _resolve_target(target)
    cross_arch = triple.split("-")[0] if triple else None
    if levels is None:
        levels = ["aarch64"] if cross_arch == "aarch64" else ["host"]
    levels = list(levels)
    _check_levels(levels, cross_arch or host_target().triple.split("-")[0], triple is not None)
    compiler = _choose_compiler(cc, triple, link)
    name = name or fn.__name__
    if not re.fullmatch(r"[A-Za-z_]\w*", name):
        raise ValueError(f"library name must be a C identifier, got {name!r}")
    variants = [parse_specialization(fn, s) for s in specializations]
    for v in variants:
        digest = hashlib.sha1(", ".join(v.items).encode()).hexdigest()[:8]
        v.symbol = f"{name}_{digest}"
    any_decls = any_src = ""
    if len(variants) > 1 or grid:  # before compiling: a bad grid is reported at once
        from tritium.tools.aot_dispatch import any_dispatcher

        any_decls, any_src = any_dispatcher(name, list(fn.arg_names), variants, grid)
    os.makedirs(out_dir, exist_ok=True)
    keep = compiler is None  # nothing links here: the objects go to out_dir
    with tempfile.TemporaryDirectory(prefix="tritium-aot-") as tmp:
        work = out_dir if keep else tmp
        objects: list[str] = []
        entries: dict[tuple[str, str], str] = {}
        asm: list[str] = []
        for lv in levels:
            for v in variants:
                ir, entry, param_types = _compile_variant(fn, v, lv, triple)
                if len(param_types) != len(v.params):
                    raise RuntimeError(
                        f"{fn.__name__} compiled to {len(param_types)} parameters, expected "
                        f"{len(v.params)} ({v.items})"
                    )
                entries[v.symbol, lv] = entry
                path = os.path.join(work, f"{name}_{entry}_{lv}.o")
                if path in objects:
                    continue  # the hints did not change the code: one build serves both
                tgt = _target_for(lv, triple)
                with open(path, "wb") as f:
                    f.write(pic_object(ir, tgt, hidden=[entry]))
                objects.append(path)
                if emit_asm:
                    asm.append(f"// {entry} ({lv}): {', '.join(v.items)}\n" + _assembly(ir, tgt))
        pool_ir, pool_target, pool_run = _support_ir(levels[0], triple)
        path = os.path.join(work, f"{name}_pool.o")
        with open(path, "wb") as f:
            f.write(pic_object(pool_ir, pool_target, hidden=[pool_run]))
        objects.append(path)
        path = os.path.join(work, f"{name}_launch.o")  # the grid launcher the entries call
        with open(path, "wb") as f:
            launch_ir = grid_launch_ir(pool_target.triple, traced=False)  # no reader of a trace
            f.write(pic_object(launch_ir, pool_target, [GRID_LAUNCH]))
        objects.append(path)
        path = os.path.join(work, f"{name}_helpers.o")  # the run-time helpers kernels call
        with open(path, "wb") as f:
            f.write(pic_object(helpers_ir(pool_target.triple), pool_target, list(HELPERS)))
        objects.append(path)
        path = os.path.join(work, f"{name}_support.o")
        with open(path, "wb") as f:
            f.write(pic_object(_SUPPORT_IR, pool_target, hidden=["__truncsfbf2", "__truncdfbf2"]))
        objects.append(path)
        dispatchers = _dispatchers(name, variants)
        header = os.path.join(out_dir, f"{name}.h")
        with open(header, "w") as f:
            f.write(_header(name, fn.__name__, variants, dispatchers, levels, any_decls))
        csrc = _c_source(name, variants, levels, entries, pool_run)
        csrc += "\n" + "\n\n".join(_dispatcher_source(d, g) for d, g in dispatchers.items()) + "\n"
        csrc += "\n" + any_src + "\n" if any_src else ""
        cpath = os.path.join(work, f"{name}_aot.c")
        with open(cpath, "w") as f:
            f.write(csrc)
        library = os.path.join(out_dir, f"lib{name}.so")
        tail = ["-O2", "-shared", "-fPIC", "-I", out_dir, "-o", library, cpath, *objects]
        tail += ["-lm", "-lpthread"]
        lib = Library("", header, variants, dispatchers, levels, triple or host_target().triple)
        lib.any_dispatcher = f"{name}_any" if any_src else ""
        if emit_asm:
            lib.assembly = os.path.join(out_dir, f"{name}.s")
            with open(lib.assembly, "w") as f:
                f.write("\n".join(asm))
        if compiler is None:
            lib.objects = [cpath, *objects]
            lib.link_script = _write_link_script(out_dir, name, tail, triple)
            return lib
        cmd = [*compiler, *tail]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"linking {library} failed:\n{' '.join(cmd)}\n{proc.stderr}")
        lib.library = library
    return lib


def _check_levels(levels: list[str], arch: str, cross: bool) -> None:
    """Refuse levels that do not exist, mix with 'host' or belong to another architecture."""
    if not levels:
        raise ValueError("levels must name at least one CPU level")
    known = _AARCH64_LEVELS if arch == "aarch64" else _LEVEL_FEATURES
    for lv in levels:
        if lv == "host" and not cross:
            continue
        if lv not in known:
            choices = list(known) if cross else ["host", *known]
            raise ValueError(f"unknown CPU level {lv!r} for {arch}: use one of {choices}")
    if "host" in levels and len(levels) > 1:
        raise ValueError("'host' cannot be combined with other levels (it is not a level)")
    if arch != "x86_64" and len(levels) > 1:
        raise ValueError(f"runtime dispatch between levels is x86-64 only; give one {arch} level")


def _choose_compiler(
    cc: str | Sequence[str] | None, triple: str | None, link: bool | None
) -> list[str] | None:
    """The C compiler command that links the library, or None to write objects only."""
    if link is False:
        return None
    if cc is not None:
        words = shlex.split(cc) if isinstance(cc, str) else list(cc)
        if not words or shutil.which(words[0]) is None:
            raise RuntimeError(f"C compiler {cc!r} not found")
        return words
    if triple is None:
        host_cc = os.environ.get("CC") or "cc"
        if shutil.which(host_cc) is None:
            if link:
                raise RuntimeError(f"no C compiler {host_cc!r} found (set CC) to link the library")
            return None
        return shlex.split(host_cc)
    found = _cross_compilers(triple)
    if not found and link:
        raise RuntimeError(
            f"no C compiler for {triple} found (aarch64-linux-gnu-gcc, or Zig: pip install "
            "ziglang); pass cc=..., or link=False to write the objects and a link script"
        )
    return found[0] if found else None


def _write_link_script(out_dir: str, name: str, tail: list[str], triple: str | None) -> str:
    """A shell script that links the kept objects on (or for) the target machine."""
    rel = [os.path.relpath(t, out_dir) if os.path.isabs(t) else t for t in tail]
    rel = ["." if r == "." and i > 0 and rel[i - 1] == "-I" else r for i, r in enumerate(rel)]
    script = os.path.join(out_dir, f"link-{name}.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\n")
        f.write(f"# links lib{name}.so for {triple or 'this machine'} (run it where a C compiler\n")
        f.write("# for that machine exists; CC may name a cross compiler)\n")
        f.write('cd "$(dirname "$0")" && exec ${CC:-cc} ' + " ".join(map(shlex.quote, rel)) + "\n")
    os.chmod(script, 0o755)
    return script


def _target_for(level: str, triple: str | None = None) -> Any:
    from tritium.backends.cpu import target as tgt

    if level == "host":
        return tgt.host_target()
    with tgt.compiling_for(*_level_target(level), triple) as t:
        return t


def _assembly(llvm_ir: str, target: Any) -> str:
    """The assembly of (already optimized) IR for ``target``, as the object would hold it."""
    import llvmlite.binding as llvm

    from tritium.backends.cpu.target import initialize_llvm

    initialize_llvm()

    tm = llvm.Target.from_triple(target.triple).create_target_machine(
        cpu=target.cpu, features=target.features, opt=3, reloc="pic", codemodel="default"
    )
    mod = llvm.parse_assembly(llvm_ir)
    mod.triple, mod.data_layout = tm.triple, str(tm.target_data)
    return str(tm.emit_assembly(mod))


def _cross_compilers(triple: str) -> list[list[str]]:
    """C compilers found here that build and link for ``triple`` (a GNU cross gcc, or Zig)."""
    arch = triple.split("-")[0]
    gnu = f"{arch}-linux-gnu"
    found = [[exe] for exe in (f"{gnu}-gcc", f"{arch}-unknown-linux-gnu-gcc") if shutil.which(exe)]
    if importlib.util.find_spec("ziglang") is not None:
        found.append([sys.executable, "-m", "ziglang", "cc", "-target", gnu])
    elif shutil.which("zig"):
        found.append(["zig", "cc", "-target", gnu])
    return found


def _resolve_target(target: str | None) -> str | None:
    """The LLVM triple of a cross ``target`` (None: this machine)."""
    from tritium.backends.cpu.target import host_target

    if target is None or target == "host":
        return None
    triple = _TRIPLES.get(target)
    if triple is None:
        raise ValueError(f"unknown target {target!r}: use 'host' or one of {sorted(_TRIPLES)}")
    if triple.split("-")[0] == host_target().triple.split("-")[0]:
        return None  # the host's architecture: feature levels cover it
    return triple


def _load_kernel(ref: str) -> Any:
    path, _, attr = ref.rpartition(":")
    if not path or not attr:
        raise SystemExit(f"kernel must be given as path/to/module.py:kernel_name, got {ref!r}")
    spec = importlib.util.spec_from_file_location("_tritium_aot_kernels", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {path!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    fn = getattr(module, attr, None)
    if fn is None:
        raise SystemExit(f"{path} has no {attr!r}")
    return getattr(fn, "fn", fn) if not getattr(fn, "is_jit_function", False) else fn


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: see the module docstring."""
    p = argparse.ArgumentParser(
        prog="python -m tritium.tools.aot", description=__doc__.split("\n")[0]
    )
    p.add_argument("kernel", help="path/to/module.py:kernel_name")
    p.add_argument(
        "-s",
        "--signature",
        action="append",
        required=True,
        help='one specialization, e.g. "*fp32:16, *fp32:16, i32, 1024" (repeatable)',
    )
    p.add_argument("-o", "--out-dir", default=".", help="where lib<name>.so and <name>.h go")
    p.add_argument("-n", "--name", default=None, help="library name (default: the kernel's)")
    p.add_argument(
        "--levels",
        default=None,
        help="host (default), or comma-separated x86-64 levels: x86-64-v2,x86-64-v3,x86-64-v4;"
        " for --target aarch64-linux-gnu: aarch64 (default), neoverse-n1 or neoverse-v1",
    )
    p.add_argument("--target", default=None, help="cross-compile: aarch64-linux-gnu")
    p.add_argument(
        "--cc", default=None, help="the C compiler that links (a cross one for --target)"
    )
    p.add_argument(
        "--no-link",
        action="store_true",
        help="write the objects, the C wrapper and link-<name>.sh instead of linking",
    )
    p.add_argument("--emit-asm", action="store_true", help="also write the kernels' assembly")
    p.add_argument(
        "--grid",
        default=None,
        help='the grid <name>_any computes per variant, e.g. "cdiv(n, BLOCK)" (then variants '
        "may differ in block size; add ' if n >= 65536' to a specialization to pick it by size)",
    )
    args = p.parse_args(argv)
    fn = _load_kernel(args.kernel)
    levels = args.levels.split(",") if args.levels else None
    lib = build_library(
        fn,
        args.signature,
        args.out_dir,
        args.name,
        levels,
        cc=args.cc,
        target=args.target,
        link=False if args.no_link else None,
        emit_asm=args.emit_asm,
        grid=args.grid,
    )
    if lib.library:
        print(f"wrote {lib.library} and {lib.header} ({lib.triple})")
    else:
        print(f"not linked (no C compiler for {lib.triple}, or --no-link): wrote {lib.header},")
        print("  the objects, the C wrapper and")
        print(f"  {lib.link_script} (run it where one exists)")
    if lib.assembly:
        print(f"  assembly: {lib.assembly}")
    for v in lib.variants:
        print(f"  {v.symbol}: {', '.join(v.items)}")
    for d, group in lib.dispatchers.items():
        print(f"  {d}: dispatches over {', '.join(v.symbol for v in group)}")
    if lib.any_dispatcher:
        print(f"  {lib.any_dispatcher}: dispatches by dtype and size over all of them")
    return 0


if __name__ == "__main__":
    sys.exit(main())
