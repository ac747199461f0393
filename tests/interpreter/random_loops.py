"""Random loop kernels, as Python source, with a NumPy reference of their own.

The interpreter replays loops in batches (``tritium/interpreter/loops.py``, ``loop_iv.py``):
loads through a carried pointer advanced by a fixed step, ``acc = tl.dot(a, b, acc)`` with
such operands.  These kernels aim at it: carried pointers advanced by a constant, a run-time
or a conditionally changing step (``tl.where`` on the loop variable, a Python ``if``, two
updates in a row), several of them with different steps, integer offsets carried beside
them, block pointers with ``tl.advance``, masks depending on the loop variable, stores in
the loop (disjoint, overlapping or at one place across iterations) and loads back of what
earlier iterations stored, accumulators (fp32 sum and max, int32, fp16, bf16, a scalar sum,
``tl.dot`` with an fp32/fp16/bf16/int8 operand), loop counts around the replay threshold
(15, 16, 17, 33), nested loops and data-dependent ``if`` in the body.

A kernel is a list of loop *specs* (plain dicts, drawn from ``random.Random(seed)``):
:meth:`LoopKernelGenerator.source` writes the kernel, :func:`reference` computes what it
must store, from the same specs, with NumPy (element-wise float32 steps as the kernel does
them; dot products in float64).  Every address stays in bounds; every comparison reads
loaded values or integers only, so no rounding difference can flip a branch.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np

#: Sizes of the three buffers the kernels receive: x (fp32), y (int32), out (fp32).
SIZE = 16384
SIG = {"x_ptr": "*fp32", "y_ptr": "*i32", "out_ptr": "*fp32", "n": "i32", "s": "i32"}
#: Loop counts: mostly around loops.MIN_ITERATIONS (16), where the replay starts.
COUNTS = (0, 1, 3, 15, 16, 16, 17, 17, 33, 33)
_FINAL = 4096  # final stores of the accumulators go from here on, 64 slots each
_DOT_OUT = 6144

HEADER = """
import tritium.language as tl
from tests.frontend.helpers import jit


@jit
def {name}(x_ptr, y_ptr, out_ptr, n, s, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
"""


class LoopKernelGenerator:
    """One random loop kernel per seed: :meth:`source` and the specs :func:`reference` reads."""

    def __init__(self, seed: int, block: int = 16) -> None:
        r = self.rng = random.Random(seed)
        self.block = block
        self.n = r.choice(COUNTS)  # the run-time count a loop may use
        self.s = r.randint(0, 24)  # the run-time step
        self.loops: list[dict[str, Any]] = []
        for j in range(r.choice((1, 1, 2))):
            if r.random() < 0.3:
                self.loops.append(self._dot(j))
            else:
                self.loops.append(self._stream(j))

    # ---- drawing specs --------------------------------------------------------------------

    def _count(self) -> Any:
        r = self.rng
        return "n" if r.random() < 0.25 else r.choice(COUNTS)

    def _step(self) -> tuple[Any, ...]:
        r = self.rng
        kind = r.choice(["const", "const", "run", "where", "if", "chain", "neg", "data", "lane"])
        if kind == "const":
            return ("const", r.choice([0, 1, 3, self.block, 2 * self.block, 7]))
        if kind == "run":
            return ("run", r.choice([1, 2]))
        if kind in ("where", "if"):
            return (kind, r.randint(0, 20), r.randint(0, 20), r.choice([2, 3]))
        if kind == "chain":
            return ("chain", r.randint(10, 40), r.randint(0, 9))
        if kind == "data":  # by an amount loaded in this iteration
            return ("data",)
        if kind == "lane":  # a different step in every lane
            return ("lane", r.choice((1, 2)))
        return ("neg", r.randint(1, 40))

    def _stream(self, j: int) -> dict[str, Any]:
        r = self.rng
        ptrs = []
        for _ in range(r.choice((1, 1, 2, 3))):
            step = self._step()
            ptrs.append(
                {
                    "buf": r.choice("xxy"),
                    "base": 2000 if step[0] == "neg" else r.randint(0, 64),
                    "lstride": r.choice((1, 1, 2, 0)),
                    "step": step,
                    "int": r.random() < 0.25,  # a carried integer offset, not a pointer
                }
            )
            # or a 1-D block pointer (tl.advance; boundary-checked, zero-padded loads)
            if step[0] not in ("neg", "lane") and r.random() < 0.25:
                ptrs[-1].update(bp=r.randint(100, 900), lstride=1, int=False)
        kinds = ["sum", "max", "isum", "f16", "bf16", "ssum", "i8"]
        accs = r.sample(kinds, r.choice((1, 2, 3)))
        mask = r.choice([None, None, ("lt", r.randint(5, 40)), ("mod", r.choice((2, 3)))])
        store = None
        if r.random() < 0.5:
            store = {
                "base": r.randint(64, 128),
                "k": r.choice((0, 1, self.block // 2, self.block)),
                # load back, this far behind (ahead, when negative)
                "raw": r.choice((None, None, 1, self.block // 2, -1, -self.block)),
                "via": r.choice(("iv", "ptr")),  # the address from i, or a carried pointer
                "rmw": r.random() < 0.3,  # add what the address held
                # an accumulator (carried: stored iteration by iteration), or a value of this
                # iteration's loads only (the replay batches such stores: iterations whose
                # accesses overlap must not run at once)
                "val": r.choice(("acc", "v", "v")),
            }
        return {
            "kind": "stream",
            "id": j,
            "count": self._count(),
            "start": r.choice((0, 0, 3)),
            "form": r.choice(("range", "range", "tl.range")),
            "istep": r.choice((1, 1, 1, 2, -1)),
            "ptrs": ptrs,
            "accs": accs,
            "mask": mask,
            "store": store,
            "cond": r.random() < 0.3,  # a data-dependent if in the body
            "outer": r.choice((0, 0, 0, 2, 3)),  # nested in an outer loop of this many
        }

    def _dot(self, j: int) -> dict[str, Any]:
        r = self.rng
        steps = r.choice((1, 2, 15, 16, 17, 17, 33))
        return {
            "kind": "dot",
            "id": j,
            "steps": steps,
            "dtype": r.choice(("fp32", "fp16", "bf16", "int8")),
            "form": r.choice(("ptr", "ptr", "block")),
            "acc": r.choice(("arg", "plus", "scaled")),
            "tail": r.choice((0, 0, r.randint(1, 15))),  # K = steps * 16 - tail, masked
            "runstride": r.random() < 0.3,  # A's row stride passed at run time (n unused)
        }

    def tags(self) -> set[str]:
        """The features this kernel draws (rows of the campaign's per-feature table)."""
        out: set[str] = set()
        for sp in self.loops:
            count = self.n if sp.get("count") == "n" else sp.get("count", sp.get("steps"))
            out.add(f"count {count}" if count in (15, 16, 17, 33) else "count other")
            if sp["kind"] == "dot":
                out.add(f"dot {sp['dtype']} {sp['form']} acc={sp['acc']}")
                out.add("dot masked tail" if sp["tail"] else "dot full tiles")
                continue
            for p in sp["ptrs"]:
                what = "block ptr" if p.get("bp") else "int offset" if p["int"] else "pointer"
                out.add(f"{what}, step {p['step'][0]}")
            if len(sp["ptrs"]) > 1:
                out.add("several carried pointers")
            out.update(f"acc {a}" for a in sp["accs"])
            if sp["mask"]:
                out.add(f"mask on i ({sp['mask'][0]})")
            st = sp["store"]
            if st:
                k = st["k"]
                kind = "same place" if k == 0 else "disjoint" if k >= self.block else "overlapping"
                out.add(f"store in loop, {kind}, via {st['via']}")
                out.add(f"store in loop of {st['val']}")
                if st["raw"] is not None:
                    out.add("load back " + ("behind" if st["raw"] > 0 else "ahead"))
                if st["rmw"]:
                    out.add("read-modify-write store")
            if sp["cond"]:
                out.add("data-dependent if")
            if sp["outer"]:
                out.add("nested loop")
            out.add(f"iv step {sp['istep']}")
        return out

    # ---- writing the kernel ---------------------------------------------------------------

    def source(self, name: str) -> str:
        """The kernel's Python source (its function is called ``name``)."""
        lines = [HEADER.format(name=name).rstrip("\n")]
        for spec in self.loops:
            body = self._src_stream(spec) if spec["kind"] == "stream" else self._src_dot(spec)
            lines += ["    " + ln for ln in body]
        return "\n".join(lines) + "\n"

    def _src_stream(self, sp: dict[str, Any]) -> list[str]:
        j = sp["id"]
        out: list[str] = []
        for a in sp["accs"]:
            if a == "ssum":
                out.append(f"a{j}_{a} = 0.0")
            else:
                dt = {"sum": "float32", "max": "float32", "isum": "int32", "i8": "int8"}.get(a, a)
                dt = {"f16": "float16", "bf16": "bfloat16"}.get(dt, dt)
                init = "-1.0e30" if a == "max" else "0"
                out.append(f"a{j}_{a} = tl.full((BLOCK,), {init}, tl.{dt})")
        ind = ""
        if sp["outer"]:
            out.append(f"for o{j} in range({sp['outer']}):")
            ind = "    "
        for q, p in enumerate(sp["ptrs"]):
            reset = f" + o{j} * 5" if sp["outer"] else ""
            if p.get("bp"):
                out.append(
                    f"{ind}p{j}_{q} = tl.make_block_ptr({p['buf']}_ptr, shape=({p['bp']},), "
                    f"strides=(1,), offsets=({p['base']}{reset},), block_shape=(BLOCK,), "
                    "order=(0,))"
                )
            elif p["int"]:
                lanes = " + offs * 0" if p["step"][0] == "lane" else ""  # a tile from the start
                out.append(f"{ind}k{j}_{q} = {p['base']}{reset}{lanes}")
            else:
                lane = f"offs * {p['lstride']}"
                out.append(f"{ind}p{j}_{q} = {p['buf']}_ptr + {p['base']}{reset} + {lane}")
        st = sp["store"]
        if st is not None and st["via"] == "ptr":
            out.append(f"{ind}o{j} = out_ptr + {st['base']} + offs")
        count = sp["count"]
        start = sp["start"]
        c = "n" if count == "n" else str(count)
        bounds = {
            1: f"{start}, {start} + {c}",
            2: f"{start}, {start} + 2 * {c}, 2",
            -1: f"{start} + {c} - 1, {start} - 1, -1",
        }[sp["istep"]]
        rng = "range" if sp["form"] == "range" else "tl.range"
        out.append(f"{ind}for i{j} in {rng}({bounds}):")
        b = ind + "    "
        i = f"i{j}"
        m = "None"
        if sp["mask"] is not None:
            if sp["mask"][0] == "lt":
                out.append(f"{b}m = (offs + {i}) < {sp['mask'][1]}")
            else:
                out.append(f"{b}m = ((offs + {i}) % {sp['mask'][1]}) != 0")
            m = "m"
        terms = []
        for q, p in enumerate(sp["ptrs"]):
            addr = f"p{j}_{q}"
            if p["int"]:
                addr = f"{p['buf']}_ptr + k{j}_{q} + offs * {p['lstride']}"
            other = "0.5" if p["buf"] == "x" else "2"
            extra = "" if m == "None" else f", mask=m, other={other}"
            if p.get("bp"):
                extra = ', boundary_check=(0,), padding_option="zero"'
            out.append(f"{b}v{q} = tl.load({addr}{extra})")
            terms.append(f"v{q}" if p["buf"] == "x" else f"v{q}.to(tl.float32)")
        if st is not None:
            at = f"out_ptr + {st['base']} + {i} * {st['k']} + offs"
            at = f"o{j}" if st["via"] == "ptr" else at
        if st is not None and st["raw"] is not None:
            back = f"{at} - {st['raw']}"
            extra = "" if m == "None" else ", mask=m, other=0.25"
            out.append(f"{b}w = tl.load({back}{extra})")
            terms.append("tl.minimum(tl.maximum(w, -8.0), 8.0)")  # bounded feedback
        expr = terms[0]
        for t in terms[1:]:
            expr = f"({expr} + {t} * 0.5)"
        out.append(f"{b}v = {expr}")
        ints = [f"v{q}" for q, p in enumerate(sp["ptrs"]) if p["buf"] == "y"]
        iv = ints[0] if ints else "(v * 4.0).to(tl.int32)"
        upd = []
        for a in sp["accs"]:
            acc = f"a{j}_{a}"
            upd.append(
                {
                    "sum": f"{acc} = {acc} + v",
                    "max": f"{acc} = tl.maximum({acc}, v)",
                    "isum": f"{acc} = {acc} + {iv}",
                    "i8": f"{acc} = {acc} + ({iv} * 7).to(tl.int8)",  # wraps around
                    "f16": f"{acc} = {acc} + v.to(tl.float16)",
                    "bf16": f"{acc} = {acc} + v.to(tl.bfloat16)",
                    "ssum": f"{acc} = {acc} + tl.max(v, axis=0)",
                }[a]
            )
        if sp["cond"]:
            # the condition reads loaded values only (a max is exact in any order)
            out.append(f"{b}if tl.max(v, axis=0) > 0.5:")
            out += [f"{b}    {u}" for u in upd]
            out.append(f"{b}else:")
            out += [f"{b}    {u.replace(' + ', ' - ', 1)}" for u in upd if "maximum" not in u]
            if all("maximum" in u for u in upd):
                out.append(f"{b}    pass")
        else:
            out += [b + u for u in upd]
        if st is not None:
            first = f"a{j}_{sp['accs'][0]}"
            val = f"{first}.to(tl.float32)" if sp["accs"][0] != "ssum" else f"v + {first}"
            if st.get("val") == "v":
                val = "(v * 0.5 + 1.0)"
            if st["rmw"]:
                extra = "" if m == "None" else ", mask=m, other=0.0"
                out.append(f"{b}u = tl.load({at}{extra})")
                val = f"({val} + u * 0.5)"
            out.append(f"{b}tl.store({at}, {val}, mask={m})")
            if st["via"] == "ptr":
                out.append(f"{b}o{j} += {st['k']}")
        for q, p in enumerate(sp["ptrs"]):
            name = f"k{j}_{q}" if p["int"] else f"p{j}_{q}"
            step = p["step"]
            if p.get("bp"):
                if step[0] == "const":
                    by = str(step[1])
                elif step[0] == "run":
                    by = f"s * {step[1]}"
                elif step[0] == "chain":
                    by = f"{step[1]} - {step[2]}"
                elif step[0] == "data":
                    by = f"tl.max(v{q}, axis=0).to(tl.int32) & 3"
                elif step[0] == "where":
                    by = f"tl.where({i} % {step[3]} == 0, {step[1]}, {step[2]})"
                else:
                    by = f"{step[1]} if {i} % {step[3]} == 0 else {step[2]}"
                out.append(f"{b}{name} = tl.advance({name}, ({by},))")
            elif step[0] == "const":
                out.append(f"{b}{name} += {step[1]}")
            elif step[0] == "run":
                out.append(f"{b}{name} += s * {step[1]}")
            elif step[0] == "neg":
                out.append(f"{b}{name} -= {step[1]}")
            elif step[0] == "chain":
                out.append(f"{b}{name} += {step[1]}")
                out.append(f"{b}{name} = {name} - {step[2]}")
            elif step[0] == "lane":
                out.append(f"{b}{name} += offs * {step[1]}")
            elif step[0] == "data":
                out.append(f"{b}{name} += tl.max(v{q}, axis=0).to(tl.int32) & 3")
            elif step[0] == "where":
                out.append(f"{b}{name} += tl.where({i} % {step[3]} == 0, {step[1]}, {step[2]})")
            else:
                out.append(f"{b}if {i} % {step[3]} == 0:")
                out.append(f"{b}    {name} += {step[1]}")
                out.append(f"{b}else:")
                out.append(f"{b}    {name} += {step[2]}")
        # where the first pointer ended (the replay advances carried pointers past a batch)
        p = sp["ptrs"][0]
        at = _FINAL + 64 * (4 * j + 3)
        if p.get("bp"):
            last = f'tl.load(p{j}_0, boundary_check=(0,), padding_option="zero")'
        elif p["int"]:
            last = f"tl.load({p['buf']}_ptr + k{j}_0 + offs * {p['lstride']})"
        else:
            last = f"tl.load(p{j}_0)"
        out.append(f"{ind}tl.store(out_ptr + {at} + offs, {last}.to(tl.float32))")
        for q, a in enumerate(sp["accs"]):
            at = _FINAL + 64 * (4 * j + q)
            if a == "ssum":
                out.append(f"tl.store(out_ptr + {at}, a{j}_{a})")
            else:
                out.append(f"tl.store(out_ptr + {at} + offs, a{j}_{a}.to(tl.float32))")
        return out

    def _src_dot(self, sp: dict[str, Any]) -> list[str]:
        j, steps, tail = sp["id"], sp["steps"], sp["tail"]
        kk = steps * 16
        klen = kk - tail
        buf = "y" if sp["dtype"] == "int8" else "x"
        cast = {"fp32": "", "fp16": ".to(tl.float16)", "bf16": ".to(tl.bfloat16)"}
        cast["int8"] = ".to(tl.int8)"
        c = cast[sp["dtype"]]
        acc_t = "tl.int32" if sp["dtype"] == "int8" else "tl.float32"
        prec = "" if sp["dtype"] == "int8" else ', input_precision="ieee"'
        sa = "s * 0 + " + str(kk) if sp["runstride"] else str(kk)
        out = [
            "rm = tl.arange(0, 16)",
            f"acc{j} = tl.zeros((16, 16), {acc_t})",
        ]
        if sp["form"] == "block":
            out += [
                f"ab{j} = tl.make_block_ptr({buf}_ptr, shape=(16, {klen}), strides=({sa}, 1), "
                "offsets=(0, 0), block_shape=(16, 16), order=(1, 0))",
                f"bb{j} = tl.make_block_ptr({buf}_ptr + 4400, shape=({klen}, 16), "
                "strides=(16, 1), offsets=(0, 0), block_shape=(16, 16), order=(1, 0))",
            ]
        else:
            out += [
                f"ap{j} = {buf}_ptr + rm[:, None] * ({sa}) + rm[None, :]",
                f"bp{j} = {buf}_ptr + 4400 + rm[:, None] * 16 + rm[None, :]",
            ]
        out.append(f"for k{j} in range(0, {steps}):")
        if sp["form"] == "block":
            pad = ', boundary_check=(1,), padding_option="zero"'
            padb = ', boundary_check=(0,), padding_option="zero"'
            out += [
                f"    a = tl.load(ab{j}{pad}){c}",
                f"    b = tl.load(bb{j}{padb}){c}",
            ]
        else:
            km = f"{klen} - k{j} * 16"
            out += [
                f"    a = tl.load(ap{j}, mask=rm[None, :] < {km}, other=0){c}",
                f"    b = tl.load(bp{j}, mask=rm[:, None] < {km}, other=0){c}",
            ]
        if sp["acc"] == "arg":
            out.append(f"    acc{j} = tl.dot(a, b, acc{j}{prec})")
        elif sp["acc"] == "scaled":
            half = ">> 1" if sp["dtype"] == "int8" else "* 0.5"
            out.append(f"    acc{j} = tl.dot(a, b, acc{j}{prec}) {half}")
        else:
            out.append(f"    acc{j} += tl.dot(a, b{prec})")
        if sp["form"] == "block":
            out += [
                f"    ab{j} = tl.advance(ab{j}, (0, 16))",
                f"    bb{j} = tl.advance(bb{j}, (16, 0))",
            ]
        else:
            out += [f"    ap{j} += 16", f"    bp{j} += 16 * 16"]
        at = _DOT_OUT + 256 * j
        out.append(
            f"tl.store(out_ptr + {at} + rm[:, None] * 16 + rm[None, :], acc{j}.to(tl.float32))"
        )
        return out


# ---- the reference ------------------------------------------------------------------------


def _ld(buf: np.ndarray, idx: np.ndarray, mask: np.ndarray, other: Any) -> np.ndarray:
    safe = np.where(mask, idx, 0)
    return np.where(mask, buf[safe], np.asarray(other, buf.dtype))


def _round(dt: str, a: np.ndarray) -> np.ndarray:
    import ml_dtypes

    t = {"fp16": np.float16, "bf16": ml_dtypes.bfloat16, "int8": np.int8, "fp32": np.float32}
    return a.astype(t[dt])


def reference(gen: LoopKernelGenerator, x: np.ndarray, y: np.ndarray, out: np.ndarray) -> None:
    """Do what the kernel of ``gen`` does to ``out`` (in place), with n and s of ``gen``."""
    for sp in gen.loops:
        if sp["kind"] == "stream":
            _ref_stream(gen, sp, x, y, out)
        else:
            _ref_dot(sp, x, y, out)


def _ref_stream(
    gen: LoopKernelGenerator, sp: dict[str, Any], x: np.ndarray, y: np.ndarray, out: np.ndarray
) -> None:
    import ml_dtypes

    block, n, s = gen.block, gen.n, gen.s
    offs = np.arange(block, dtype=np.int64)
    f32 = np.float32
    accs: dict[str, Any] = {}
    for a in sp["accs"]:
        dt = {"sum": f32, "max": f32, "isum": np.int32, "f16": np.float16, "i8": np.int8}.get(a)
        dt = ml_dtypes.bfloat16 if a == "bf16" else dt
        if a == "ssum":
            accs[a] = f32(0.0)
        else:
            accs[a] = np.full(block, -1.0e30 if a == "max" else 0, dt)
    count = n if sp["count"] == "n" else sp["count"]
    bufs = {"x": x, "y": y}
    for o in range(max(sp["outer"], 1)):
        pos = [p["base"] + 5 * o + offs * p["lstride"] for p in sp["ptrs"]]
        st0, ist = sp["start"], sp["istep"]
        iters = {
            1: range(st0, st0 + count),
            2: range(st0, st0 + 2 * count, 2),
            -1: range(st0 + count - 1, st0 - 1, -1),
        }[ist]
        for t, i in enumerate(iters):
            m = np.ones(block, bool)
            if sp["mask"] is not None:
                kind, c = sp["mask"]
                m = (offs + i) < c if kind == "lt" else ((offs + i) % c) != 0
            terms = []
            vals = []
            for q, p in enumerate(sp["ptrs"]):
                other = 0.5 if p["buf"] == "x" else 2
                if p.get("bp"):
                    inb = (pos[q] >= 0) & (pos[q] < p["bp"])
                    v = _ld(bufs[p["buf"]], pos[q], inb, 0)
                else:
                    v = _ld(bufs[p["buf"]], pos[q], m, other)
                vals.append(v)
                terms.append(v if p["buf"] == "x" else v.astype(f32))
            st = sp["store"]
            if st is not None:
                at = st["base"] + (t if st["via"] == "ptr" else i) * st["k"] + offs
            if st is not None and st["raw"] is not None:
                idx = at - st["raw"]
                terms.append(np.minimum(np.maximum(_ld(out, idx, m, 0.25), f32(-8)), f32(8)))
            v = terms[0]
            for t in terms[1:]:
                v = (v + t * f32(0.5)).astype(f32)
            ints = [vals[q] for q, p in enumerate(sp["ptrs"]) if p["buf"] == "y"]
            iv = ints[0] if ints else (v * f32(4.0)).astype(np.int32)
            sign = 1
            if sp["cond"] and not float(v.max()) > 0.5:
                sign = -1
            for a in sp["accs"]:
                if a == "max":
                    if sign == 1:
                        accs[a] = np.maximum(accs[a], v)
                elif a == "sum":
                    accs[a] = (accs[a] + sign * v).astype(f32)
                elif a == "isum":
                    accs[a] = (accs[a] + sign * iv).astype(np.int32)
                elif a == "i8":
                    step8 = (iv.astype(np.int64) * 7).astype(np.int8)
                    accs[a] = (accs[a].astype(np.int64) + sign * step8).astype(np.int8)
                elif a == "ssum":
                    accs[a] = f32(accs[a] + sign * v.max())
                else:
                    dt = accs[a].dtype
                    accs[a] = (accs[a] + sign * v.astype(dt)).astype(dt)
            if st is not None:
                a0 = sp["accs"][0]
                val = (v + accs[a0]) if a0 == "ssum" else accs[a0].astype(f32)
                val = np.asarray(val, f32)
                if st.get("val") == "v":
                    val = (v * f32(0.5) + f32(1.0)).astype(f32)
                if st["rmw"]:
                    val = (val + _ld(out, at, m, 0.0) * f32(0.5)).astype(f32)
                out[at[m]] = val[m]
            for q, p in enumerate(sp["ptrs"]):
                step = p["step"]
                if step[0] == "const":
                    pos[q] = pos[q] + step[1]
                elif step[0] == "run":
                    pos[q] = pos[q] + s * step[1]
                elif step[0] == "neg":
                    pos[q] = pos[q] - step[1]
                elif step[0] == "chain":
                    pos[q] = pos[q] + step[1] - step[2]
                elif step[0] == "data":
                    pos[q] = pos[q] + (int(np.trunc(vals[q].max())) & 3)
                elif step[0] == "lane":
                    pos[q] = pos[q] + offs * step[1]
                else:
                    pos[q] = pos[q] + (step[1] if i % step[3] == 0 else step[2])
        p = sp["ptrs"][0]
        inb = (pos[0] >= 0) & (pos[0] < p["bp"]) if p.get("bp") else np.ones(block, bool)
        at = _FINAL + 64 * (4 * sp["id"] + 3)
        out[at : at + block] = _ld(bufs[p["buf"]], pos[0], inb, 0).astype(f32)
    for q, a in enumerate(sp["accs"]):
        at = _FINAL + 64 * (4 * sp["id"] + q)
        if a == "ssum":
            out[at] = accs[a]
        else:
            out[at : at + block] = accs[a].astype(f32)


def _ref_dot(sp: dict[str, Any], x: np.ndarray, y: np.ndarray, out: np.ndarray) -> None:
    kk = sp["steps"] * 16
    klen = kk - sp["tail"]
    buf = y if sp["dtype"] == "int8" else x
    a = buf[: 16 * kk].reshape(16, kk)[:, :klen]
    b = buf[4400 : 4400 + 16 * klen].reshape(klen, 16)
    a = _round(sp["dtype"], a).astype(np.float64)
    b = _round(sp["dtype"], b).astype(np.float64)
    acc = np.zeros((16, 16))
    for k in range(0, klen, 16):
        acc = acc + a[:, k : k + 16] @ b[k : k + 16]
        if sp["acc"] == "scaled":
            acc = acc // 2 if sp["dtype"] == "int8" else acc * 0.5
    at = _DOT_OUT + 256 * sp["id"]
    out[at : at + 256] = acc.astype(np.float32).reshape(-1)
