"""Ahead-of-time builds for 64-bit Arm Linux (``target="aarch64-linux-gnu"``), made on this
x86-64 machine: LLVM emits AArch64 objects, a cross compiler (when one is found: a GNU cross
gcc or Zig) links the library. Nothing runs here (no AArch64 CPU or emulator): the tests read
the ELF files themselves (header, symbol tables) and the kernels' assembly (NEON)."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess

import pytest

import tritium
import tritium.language as tl
from tritium.tools import aot

TRIPLE = "aarch64-unknown-linux-gnu"
EM_AARCH64, ET_REL, ET_DYN = 183, 1, 3
SPECS = ["*fp32:16, *fp32:16, *fp32:16, i32, fp32, 256", "*fp32, *fp32, *fp32, i32, fp32, 256"]


@tritium.jit
def _axpy(x_ptr, y_ptr, out_ptr, n, a, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m)
    tl.store(out_ptr + offs, a * x + tl.load(y_ptr + offs, mask=m), mask=m)


def _elf(path: str) -> tuple[int, int, dict[str, tuple[int, int]]]:
    """(e_type, e_machine, {symbol: (binding, visibility)}) of a little-endian ELF64 file,
    from its .symtab and .dynsym (defined symbols only)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:4] == b"\x7fELF", f"{path} is not ELF"
    assert data[4] == 2 and data[5] == 1, "expected ELF64, little-endian"
    e_type, e_machine = struct.unpack_from("<HH", data, 16)
    e_shoff = struct.unpack_from("<Q", data, 0x28)[0]
    e_shentsize, e_shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [
        struct.unpack_from("<IIQQQQIIQQ", data, e_shoff + i * e_shentsize) for i in range(e_shnum)
    ]
    symbols: dict[str, tuple[int, int]] = {}
    for _, sh_type, _, _, off, size, link, _, _, entsize in sections:
        if sh_type not in (2, 11):  # SHT_SYMTAB, SHT_DYNSYM
            continue
        str_off = sections[link][4]
        for k in range(size // entsize):
            st_name, st_info, st_other, st_shndx = struct.unpack_from("<IBBH", data, off + k * 24)
            if st_shndx == 0 or st_name == 0:
                continue  # undefined, or unnamed
            end = data.index(b"\0", str_off + st_name)
            symbols[data[str_off + st_name : end].decode()] = (st_info >> 4, st_other & 3)
    return e_type, e_machine, symbols


@pytest.fixture(scope="module")
def objects_only(tmp_path_factory: pytest.TempPathFactory) -> aot.Library:
    out = str(tmp_path_factory.mktemp("aarch64-objects"))
    return aot.build_library(
        _axpy, SPECS, out, name="axpy", target="aarch64-linux-gnu", link=False, emit_asm=True
    )


def test_objects_are_aarch64_elf_with_the_entry_points(objects_only: aot.Library) -> None:
    lib = objects_only
    assert lib.library == "" and lib.triple == TRIPLE and lib.levels == ["aarch64"]
    objs = [o for o in lib.objects if o.endswith(".o")]
    defined: dict[str, tuple[int, int]] = {}
    for o in objs:
        e_type, machine, syms = _elf(o)
        assert (e_type, machine) == (ET_REL, EM_AARCH64), o
        defined.update(syms)
    launches = [s for s in defined if s.startswith("_axpy_launch_")]
    assert launches, sorted(defined)
    assert all(defined[s][1] == 2 for s in launches)  # STV_HIDDEN: not exported by the library
    assert "tritium_pool_run_v2" in defined  # Linux: the futex pool
    assert "__truncsfbf2" in defined


def test_kernel_body_is_neon(objects_only: aot.Library) -> None:
    with open(objects_only.assembly) as f:
        asm = f.read()
    assert re.search(r"\bfmul\s+v\d+\.4s", asm) or re.search(r"\bfmla\s+v\d+\.4s", asm)
    assert re.search(r"\bfadd\s+v\d+\.4s", asm) or re.search(r"\bfmla\s+v\d+\.4s", asm)
    assert re.search(r"\bldr\s+q\d+", asm) or re.search(r"\bld1\b", asm)  # 128-bit loads
    assert not re.search(r"%[xy]mm\d+|%r[a-z]x", asm)  # nothing of x86


def test_link_script_and_c_wrapper(objects_only: aot.Library, tmp_path) -> None:
    with open(objects_only.link_script) as f:
        script = f.read()
    for o in objects_only.objects:
        assert o.rsplit("/", 1)[-1] in script
    assert "-shared" in script and "libaxpy.so" in script
    cc = shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler to check the wrapper's syntax")
    wrapper = next(o for o in objects_only.objects if o.endswith(".c"))
    include = wrapper.rsplit("/", 1)[0]
    proc = subprocess.run(
        [cc, "-fsyntax-only", "-Wall", "-Werror", "-I", include, wrapper],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr


def test_cross_linked_library(tmp_path) -> None:
    found = aot._cross_compilers(TRIPLE)
    if not found:
        pytest.skip("no AArch64 C compiler here (aarch64-linux-gnu-gcc or pip install ziglang)")
    lib = aot.build_library(_axpy, SPECS, str(tmp_path), name="axpy", target="aarch64-linux-gnu")
    e_type, machine, syms = _elf(lib.library)
    assert (e_type, machine) == (ET_DYN, EM_AARCH64)
    exported = {s for s, (bind, vis) in syms.items() if bind in (1, 2) and vis == 0}
    assert {"axpy", "axpy_request_stop", *(v.symbol for v in lib.variants)} <= exported
    assert not any(s.startswith(("_axpy_launch_", "tritium_pool_run")) for s in exported)


def test_bad_targets_and_levels_are_named() -> None:
    with pytest.raises(ValueError, match="unknown target 'riscv64'"):
        aot.build_library(_axpy, SPECS, ".", target="riscv64")
    with pytest.raises(ValueError, match="unknown CPU level 'x86-64-v3' for aarch64"):
        aot.build_library(_axpy, SPECS, ".", target="aarch64-linux-gnu", levels=["x86-64-v3"])
    with pytest.raises(ValueError, match="x86-64 only"):
        aot.build_library(
            _axpy, SPECS, ".", target="aarch64-linux-gnu", levels=["aarch64", "neoverse-n1"]
        )
