"""Read the source-line table out of a compiled kernel's ELF object.

A kernel compiled with ``instrumentation_mode="lines"`` carries a DWARF 4 ``.debug_line``
section (see ``tritium.backends.cpu.line_info``). The object is relocatable: each line-table
sequence starts with a ``DW_LNE_set_address`` whose real value is a relocation against the code
section, so addresses here are (section, offset) pairs; the profiler turns them into run-time
addresses with the entry symbol's address once the JIT has loaded the object.

Only what tritium's own objects contain is read: ELF64 little-endian, DWARF 4 line programs,
RELA relocations. Anything else raises ``ValueError``.
"""

from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LineTable", "Symbol", "read_line_table", "read_symbols"]

_SHT_SYMTAB, _SHT_RELA = 2, 4


@dataclass(frozen=True)
class Symbol:
    """A function symbol of the object: its section, offset and size."""

    name: str
    section: int
    value: int
    size: int


@dataclass
class LineTable:
    """Line rows per code section, and the object's function symbols."""

    files: list[str]
    #: section index -> sorted [(offset, line, file index)]; line 0 marks code of no line
    rows: dict[int, list[tuple[int, int, int]]] = field(default_factory=dict)
    symbols: list[Symbol] = field(default_factory=list)

    def symbol(self, name: str) -> Symbol:
        """The symbol called ``name`` (KeyError if the object has none)."""
        for s in self.symbols:
            if s.name == name:
                return s
        raise KeyError(name)

    def line_at(self, section: int, offset: int) -> tuple[str, int] | None:
        """(file, line) of the instruction at ``offset`` of ``section``; None if no row covers
        it. Line 0 means the compiler's own code (the grid loop, the thread pool)."""
        rows = self.rows.get(section)
        if not rows:
            return None
        i = bisect.bisect_right(rows, (offset, 1 << 62, 0)) - 1
        if i < 0:
            return None
        _, line, f = rows[i]
        if line < 0:
            return None
        return (self.files[f] if 0 <= f < len(self.files) else "?", line)


def _sections(obj: bytes) -> list[tuple[str, int, int, int, int, int]]:
    """(name, type, offset, size, link, info) of every section header."""
    if obj[:4] != b"\x7fELF" or obj[4] != 2 or obj[5] != 1:
        raise ValueError("not a little-endian ELF64 object")
    shoff = struct.unpack_from("<Q", obj, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", obj, 0x3A)
    raw = [struct.unpack_from("<IIQQQQIIQQ", obj, shoff + i * shentsize) for i in range(shnum)]
    names_off = raw[shstrndx][4]

    def name(off: int) -> str:
        end = obj.index(b"\0", names_off + off)
        return obj[names_off + off : end].decode()

    return [(name(h[0]), h[1], h[4], h[5], h[6], h[7]) for h in raw]


def _leb(data: bytes, pos: int, signed: bool = False) -> tuple[int, int]:
    """A LEB128 number at ``pos``: (value, position after it)."""
    result = shift = 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            if signed and b & 0x40:
                result -= 1 << shift
            return result, pos


def _cstr(data: bytes, pos: int) -> tuple[str, int]:
    end = data.index(b"\0", pos)
    return data[pos:end].decode(errors="replace"), end + 1


def _symbol_entries(obj: bytes, secs: list[Any]) -> list[tuple[str, int, int, int, int]]:
    """(name, info, section, value, size) of every symbol-table entry, in table order."""
    sym_entries: list[tuple[str, int, int, int, int]] = []
    for _name, typ, off, size, link, _info in secs:
        if typ != _SHT_SYMTAB:
            continue
        str_off = secs[link][2]
        for i in range(size // 24):
            st_name, st_info, _other, shndx, value, sz = struct.unpack_from(
                "<IBBHQQ", obj, off + 24 * i
            )
            name, _ = _cstr(obj, str_off + st_name)
            sym_entries.append((name, st_info, shndx, value, sz))
    return sym_entries


def read_symbols(obj: bytes) -> list[Symbol]:
    """The function symbols of an ELF64 relocatable object."""
    return _functions(_symbol_entries(obj, _sections(obj)))


def _functions(entries: list[tuple[str, int, int, int, int]]) -> list[Symbol]:
    return [Symbol(n, sec, value, size) for n, info, sec, value, size in entries if info & 0xF == 2]


def read_line_table(obj: bytes) -> LineTable:
    """The line rows and function symbols of an ELF64 relocatable object."""
    secs = _sections(obj)
    table = LineTable(files=[])
    sym_entries = _symbol_entries(obj, secs)
    table.symbols = _functions(sym_entries)
    line_idx = next((i for i, s in enumerate(secs) if s[0] == ".debug_line"), None)
    if line_idx is None:
        raise ValueError(
            "the object has no .debug_line (compile with instrumentation_mode='lines')"
        )
    # set_address operands: .debug_line offset -> (section index, offset) through RELA
    relocs: dict[int, tuple[int, int]] = {}
    for _name, typ, off, size, _link, info in secs:
        if typ != _SHT_RELA or info != line_idx:
            continue
        for i in range(size // 24):
            r_off, r_info, addend = struct.unpack_from("<QQq", obj, off + 24 * i)
            _n, _i, shndx, value, _s = sym_entries[r_info >> 32]
            relocs[r_off] = (shndx, value + addend)
    base, size = secs[line_idx][2], secs[line_idx][3]
    data = obj[base : base + size]
    pos = 0
    while pos < len(data):
        pos = _read_unit(data, pos, relocs, table)
    for rows in table.rows.values():
        rows.sort()
    return table


def _read_unit(
    data: bytes, start: int, relocs: dict[int, tuple[int, int]], table: LineTable
) -> int:
    """Run one line-number program (DWARF 4, section 6.2); returns where the next begins."""
    unit_length, version = struct.unpack_from("<IH", data, start)
    if unit_length >= 0xFFFFFFF0 or version not in (2, 3, 4):
        raise ValueError(f"unsupported DWARF line table (version {version})")
    end = start + 4 + unit_length
    header_length = struct.unpack_from("<I", data, start + 6)[0]
    pos = start + 10
    min_inst = data[pos]
    pos += 2 if version >= 4 else 1  # maximum_operations_per_instruction (VLIW only)
    pos += 1  # default_is_stmt
    line_base = struct.unpack_from("<b", data, pos)[0]
    line_range, opcode_base = data[pos + 1], data[pos + 2]
    lengths = list(data[pos + 3 : pos + 2 + opcode_base])
    pos += 2 + opcode_base
    dirs = [""]
    while data[pos]:
        d, pos = _cstr(data, pos)
        dirs.append(d)
    pos += 1
    first_file = len(table.files)
    table.files.append("?")  # file numbers count from 1
    while data[pos]:
        name, pos = _cstr(data, pos)
        d, pos = _leb(data, pos)
        _, pos = _leb(data, pos)
        _, pos = _leb(data, pos)
        table.files.append(f"{dirs[d]}/{name}" if d and dirs[d] else name)
    pos = start + 10 + header_length

    section, address, line, file = -1, 0, 1, 1
    while pos < end:
        op = data[pos]
        pos += 1
        if op >= opcode_base:  # special opcode: advance both, add a row
            adj = op - opcode_base
            address += (adj // line_range) * min_inst
            line += line_base + adj % line_range
            table.rows.setdefault(section, []).append((address, line, first_file + file))
        elif op == 0:  # extended opcode
            n, pos = _leb(data, pos)
            sub, operand = data[pos], pos + 1
            if sub == 1:  # end_sequence: nothing from here on has a line
                table.rows.setdefault(section, []).append((address, -1, 0))
                section, address, line, file = -1, 0, 1, 1
            elif sub == 2:  # set_address: resolved through its relocation
                raw = struct.unpack_from("<Q", data, operand)[0]
                section, address = relocs.get(operand, (-1, raw))
            pos += n
        elif op == 1:  # copy
            table.rows.setdefault(section, []).append((address, line, first_file + file))
        elif op == 2:
            adv, pos = _leb(data, pos)
            address += adv * min_inst
        elif op == 3:
            adv, pos = _leb(data, pos, signed=True)
            line += adv
        elif op == 4:
            file, pos = _leb(data, pos)
        elif op == 8:  # const_add_pc
            address += ((255 - opcode_base) // line_range) * min_inst
        elif op == 9:
            address += struct.unpack_from("<H", data, pos)[0]
            pos += 2
        else:  # set_column, negate_stmt, ... : skip their operands
            for _ in range(lengths[op - 1]):
                _, pos = _leb(data, pos)
    return end
