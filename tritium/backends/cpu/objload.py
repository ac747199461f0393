"""Loading x86-64 ELF object code into executable memory without LLVM (issue 13: first launch).

A new process that launches a kernel from the disk cache needs only to place the cached object
code in memory and patch its relocations; LLVM's MCJIT did that before, at the price of loading
llvmlite's 180 MB shared library and setting up LLVM (about 60 ms of a first launch). The
objects the CPU backend emits are simple (``reloc="static"``, the JIT's large code model): a few
allocated sections (``.ltext``, ``.rodata.*``, ``.lbss``...) and absolute 64-bit relocations, so
this module loads them itself:

1. parse the ELF header, section headers and symbol table (``ELFCLASS64``, little endian,
   ``ET_REL``, ``EM_X86_64``; anything else is :class:`UnsupportedObjectError`);
2. map one anonymous region, read-write, with the executable sections first, then the
   read-only ones, then the writable ones, each group on its own pages;
3. apply the relocations (``R_X86_64_64``, ``PC64``, ``PC32``/``PLT32``, ``32``/``32S``),
   resolving undefined symbols through the caller's resolver;
4. ``mprotect`` the code pages read+execute and the constants read-only (never writable and
   executable at once).

``.eh_frame`` is not loaded (nothing unwinds through kernel frames), nor any section that is not
allocated. Anything this loader does not know (another relocation type, a common symbol, a
32-bit displacement out of reach) raises :class:`UnsupportedObjectError`, and the caller loads the
object with LLVM instead. Memory is never unmapped: like MCJIT's, loaded code lives as long as
the process.
"""

from __future__ import annotations

import ctypes
import struct
import sys
from collections.abc import Callable

__all__ = ["LoadedObject", "UnsupportedObjectError", "load", "supported_host"]

_PROT_READ, _PROT_WRITE, _PROT_EXEC = 1, 2, 4
_MAP_PRIVATE, _MAP_ANONYMOUS = 0x02, 0x20
_PAGE = 4096

_SHT_NOBITS, _SHT_RELA, _SHT_SYMTAB = 8, 4, 2
_SHF_WRITE, _SHF_ALLOC, _SHF_EXECINSTR, _SHF_TLS = 0x1, 0x2, 0x4, 0x400
_SHN_UNDEF, _SHN_ABS, _SHN_COMMON, _SHN_LORESERVE = 0, 0xFFF1, 0xFFF2, 0xFF00
_STB_LOCAL, _STB_WEAK = 0, 2
_STT_SECTION = 3

# x86-64 relocation types (System V ABI, AMD64 supplement)
_R_NONE, _R_64, _R_PC32, _R_PLT32, _R_32, _R_32S, _R_PC64 = 0, 1, 2, 4, 10, 11, 24


class UnsupportedObjectError(Exception):
    """The object uses something this loader does not handle; load it with LLVM instead."""


class LoadedObject:
    """An object placed in memory: ``symbols`` maps each global (and weak) symbol it defines to
    its address; ``sections`` each loaded section's name to (address, size)."""

    def __init__(self, symbols: dict[str, int], sections: dict[str, tuple[int, int]]) -> None:
        self.symbols = symbols
        self.sections = sections


def supported_host() -> bool:
    """Whether this process can use the loader: Linux on x86-64, 64-bit CPython's ctypes."""
    import platform

    return (
        sys.platform.startswith("linux")
        and platform.machine() in ("x86_64", "AMD64")
        and ctypes.sizeof(ctypes.c_void_p) == 8
    )


_libc: list[ctypes.CDLL] = []


def _c() -> ctypes.CDLL:
    if not _libc:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_long,
        ]
        libc.mprotect.restype = ctypes.c_int
        libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        libc.munmap.restype = ctypes.c_int
        libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        _libc.append(libc)
    return _libc[0]


def _round_up(n: int, align: int) -> int:
    return (n + align - 1) // align * align


def _cstr(table: bytes, offset: int) -> str:
    return table[offset : table.index(b"\0", offset)].decode()


def load(binary: bytes, resolve: Callable[[str], int | None]) -> LoadedObject:
    """Place ``binary`` (a relocatable x86-64 ELF object) in executable memory; ``resolve(name)``
    gives the address of a symbol the object uses but does not define (None: unknown, an error
    unless the reference is weak)."""
    try:
        return _load(bytes(binary), resolve)
    except (struct.error, IndexError, UnicodeDecodeError) as e:  # offsets past the end...
        raise UnsupportedObjectError(f"malformed object ({e})") from e


def _load(data: bytes, resolve: Callable[[str], int | None]) -> LoadedObject:
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise UnsupportedObjectError("not a 64-bit little-endian ELF object")
    e_type, e_machine = struct.unpack_from("<HH", data, 16)
    if e_type != 1 or e_machine != 62:  # ET_REL, EM_X86_64
        raise UnsupportedObjectError(
            f"ELF type {e_type}, machine {e_machine}: not x86-64 relocatable"
        )
    e_shoff = struct.unpack_from("<Q", data, 40)[0]
    e_shentsize, e_shnum, e_shstrndx = struct.unpack_from("<HHH", data, 58)
    if e_shentsize != 64 or e_shnum == 0 or e_shoff + 64 * e_shnum > len(data):
        raise UnsupportedObjectError("malformed section header table")
    # (name, type, flags, offset, size, link, info, align) per section
    sections = []
    for i in range(e_shnum):
        name, stype, flags, _addr, off, size, link, info, align, _ent = struct.unpack_from(
            "<IIQQQQIIQQ", data, e_shoff + 64 * i
        )
        sections.append((name, stype, flags, off, size, link, info, max(align, 1)))
    shstr = sections[e_shstrndx]
    names_blob = data[shstr[3] : shstr[3] + shstr[4]]
    names = [_cstr(names_blob, s[0]) for s in sections]

    # 2. layout: executable, read-only, writable groups, each starting on a page
    groups: list[list[int]] = [[], [], []]
    for i, (_, _stype, flags, _off, _size, _link, _info, _align) in enumerate(sections):
        if not flags & _SHF_ALLOC or names[i].startswith(".eh_frame"):
            continue
        if flags & _SHF_TLS:
            raise UnsupportedObjectError(f"thread-local section {names[i]}")
        if sections[i][7] > _PAGE:
            raise UnsupportedObjectError(f"section {names[i]} aligned beyond a page")
        groups[0 if flags & _SHF_EXECINSTR else 2 if flags & _SHF_WRITE else 1].append(i)
    offsets: dict[int, int] = {}
    bounds = []
    pos = 0
    for group in groups:
        start = pos
        for i in group:
            pos = _round_up(pos, sections[i][7])
            offsets[i] = pos
            pos += sections[i][4]
        pos = _round_up(pos, _PAGE)
        bounds.append((start, pos))
    total = max(pos, _PAGE)
    libc = _c()
    base = libc.mmap(None, total, _PROT_READ | _PROT_WRITE, _MAP_PRIVATE | _MAP_ANONYMOUS, -1, 0)
    if base in (None, ctypes.c_void_p(-1).value):
        raise MemoryError(f"mmap of {total} bytes for kernel code failed")
    try:
        return _place(data, sections, names, groups, offsets, bounds, base, total, resolve)
    except BaseException:
        libc.munmap(base, total)  # nothing refers to it yet
        raise


def _place(
    data: bytes,
    sections: list[tuple[int, int, int, int, int, int, int, int]],
    names: list[str],
    groups: list[list[int]],
    offsets: dict[int, int],
    bounds: list[tuple[int, int]],
    base: int,
    total: int,
    resolve: Callable[[str], int | None],
) -> LoadedObject:
    """Steps 3 and 4 of :func:`load`, into the region mapped at ``base``."""
    libc = _c()
    image = bytearray(total)
    for i, off in offsets.items():
        _, stype, _flags, foff, size, *_ = sections[i]
        if stype != _SHT_NOBITS:
            image[off : off + size] = data[foff : foff + size]

    # symbols: (name, address or None for undefined, binding)
    symtabs = [i for i, s in enumerate(sections) if s[1] == _SHT_SYMTAB]
    if len(symtabs) != 1:
        raise UnsupportedObjectError("expected one symbol table")
    st = sections[symtabs[0]]
    strtab = sections[st[5]]
    strings = data[strtab[3] : strtab[3] + strtab[4]]
    symbols: list[int | None] = []
    exported: dict[str, int] = {}
    for k in range(st[4] // 24):
        st_name, st_info, _other, shndx, value, _size = struct.unpack_from(
            "<IBBHQQ", data, st[3] + 24 * k
        )
        bind, kind = st_info >> 4, st_info & 0xF
        name = _cstr(strings, st_name) if st_name else ""
        address: int | None
        if shndx == _SHN_UNDEF:
            address = None
            if k:  # entry 0 is the null symbol
                address = resolve(name)
                if address is None and bind != _STB_WEAK:
                    raise UnsupportedObjectError(f"undefined symbol {name!r}")
                address = address or 0
        elif shndx == _SHN_ABS:
            address = value
        elif shndx == _SHN_COMMON or shndx >= _SHN_LORESERVE:
            raise UnsupportedObjectError(f"symbol {name!r} in special section {shndx:#x}")
        elif shndx in offsets:
            address = base + offsets[shndx] + value
        else:
            address = None  # in a section not loaded (.eh_frame): nothing may refer to it
        symbols.append(address)
        if bind != _STB_LOCAL and shndx != _SHN_UNDEF and address is not None and name:
            if kind != _STT_SECTION:
                exported[name] = address

    # 3. relocations of the loaded sections
    for rel in sections:
        if rel[1] != _SHT_RELA or rel[6] not in offsets:
            continue
        target = offsets[rel[6]]
        for k in range(rel[4] // 24):
            r_offset, r_info, addend = struct.unpack_from("<QQq", data, rel[3] + 24 * k)
            rtype, sym = r_info & 0xFFFFFFFF, r_info >> 32
            if rtype == _R_NONE:
                continue
            s = symbols[sym] if sym < len(symbols) else None
            if s is None:
                raise UnsupportedObjectError(
                    f"relocation against a symbol that is not loaded ({sym})"
                )
            at = target + r_offset
            place = base + at
            if rtype == _R_64:
                struct.pack_into("<Q", image, at, (s + addend) & 0xFFFFFFFFFFFFFFFF)
            elif rtype == _R_PC64:
                struct.pack_into("<Q", image, at, (s + addend - place) & 0xFFFFFFFFFFFFFFFF)
            elif rtype in (_R_PC32, _R_PLT32):
                v = s + addend - place
                if not -(2**31) <= v < 2**31:
                    raise UnsupportedObjectError("32-bit PC-relative relocation out of reach")
                struct.pack_into("<i", image, at, v)
            elif rtype == _R_32:
                v = s + addend
                if not 0 <= v < 2**32:
                    raise UnsupportedObjectError("32-bit absolute relocation out of reach")
                struct.pack_into("<I", image, at, v)
            elif rtype == _R_32S:
                v = s + addend
                if not -(2**31) <= v < 2**31:
                    raise UnsupportedObjectError("32-bit absolute relocation out of reach")
                struct.pack_into("<i", image, at, v)
            else:
                raise UnsupportedObjectError(f"relocation type {rtype}")

    # 4. copy, then protect: code read+execute, constants read-only
    ctypes.memmove(base, bytes(image), total)
    for (start, end), prot in zip(
        bounds, (_PROT_READ | _PROT_EXEC, _PROT_READ, _PROT_READ | _PROT_WRITE)
    ):
        if end > start and libc.mprotect(base + start, end - start, prot) != 0:
            raise OSError(ctypes.get_errno(), "mprotect of loaded kernel code failed")
    loaded = {names[i]: (base + off, sections[i][4]) for i, off in offsets.items()}
    return LoadedObject(exported, loaded)
