"""Record-and-replay of loop bodies: the interpreter's fast path for ``for`` loops.

A kernel's loop runs its body as Python every iteration: the bytecode, ``tl``'s wrappers and
the engine's dispatch cost far more than the few small NumPy operations of an iteration.
Once two iterations have run the same sequence of engine operations, the remaining ones
replay that sequence as one generated Python function calling the engine's methods directly,
with the loop variable and the values carried from the previous iteration as its inputs.

How a loop becomes replayable (all of it exact, nothing guessed):

* The kernel's source is rewritten (:mod:`.loop_rewrite`, with the ``and``/``or`` rewrite of
  :mod:`.boolops`): ``for i in range(...): BODY`` becomes a call of :func:`run_loop` with BODY
  as a nested function taking and returning the names BODY assigns, on BODY's own lines.
* In a rewritten ``range``/``tl.range`` loop the loop variable is a scalar int32 tile (int64
  when a value needs it), as in a compiled kernel, so everything computed from it goes
  through the engine.
* In a loop of at least :data:`MIN_ITERATIONS` iterations, iterations 0 and 1 run the body
  with a recording engine (:class:`_Recorder`) in front of
  the real one.  A recording is dropped when user code read a tile's values (``if``,
  ``int()``, ``range(t)``, ``np.asarray``...), called an operation that cannot be redone
  (atomics, ``tl.device_print``, volatile loads), or started an inner loop.  The two
  recordings must match (the same operations on the same constants): a tile made outside
  the engine, or a Python value changing between iterations, makes them differ.
* The replay (:class:`_Replay`) leaves out operations whose operands never change (the
  recording's results stand for them) or that nothing uses, and computes repeated ones once.
* Each replayed iteration first checks that the carried values have the recording's kinds
  (class, element type, shape, which of them are one object; Python values equal).  Any
  failed check, and any exception in a replayed operation (an out-of-bounds access, a failed
  ``tl.device_assert``, a divergence between programs), undoes that iteration's stores and
  runs it again as Python, which raises at the user's line; the loop then stays on the plain
  path.
* With one program running (sequential mode, or a one-program launch), the operations that
  use no value carried from the previous iteration run for many iterations at once, one row
  per iteration, and the others iteration by iteration on rows of their results (see
  :meth:`_Replay.run_batch` for when).  A carried pointer (or integer, or block pointer)
  advanced by the same step every iteration counts as not carried: its value in each row
  is ``p + r * step`` (:mod:`.loop_iv`).  ``acc = tl.dot(a, b, acc)`` with ``a`` and ``b``
  not carried computes the products for all rows at once and adds ``acc`` row by row.
* Errors name the loop iteration (``sanitizer.loop_text``), whichever path ran it.
* Nothing is replayed with the sanitizer on (its race log and overflow taints record the line
  of every access), when the kernel calls ``print``/``breakpoint``, under a debugger or
  tracer (``sys.gettrace()``), or with ``TRITIUM_INTERPRET_REPLAY=0``.
"""

from __future__ import annotations

import builtins
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from tritium.language.core import _ACTIVE_ENGINE, active_engine

from . import loop_iv
from . import tile as _tile
from .engine_base import align
from .engine_memory import TensorDescriptor
from .itypes import BOOL, python_scalar_type
from .tile import BlockPtr, Tile

__all__ = ["HELPERS", "MIN_ITERATIONS", "STATS", "UNBOUND", "run_loop"]

_BATCH_ELEMENTS = 1 << 18  # tile elements times iterations run at once
_TRACKED = (Tile, TensorDescriptor)
#: Shorter loops run as Python: recording two iterations and building the replay costs
#: about what replaying a dozen saves.  Measured again with carried pointers batched
#: (thresholds 3-16 interleaved, CPU time): a one-program matmul K loop gains from 8-12
#: iterations on, a carried-sum loop loses below 16, multi-program loops (no batches) and
#: attention's 8-iteration loop gain nothing at any threshold.
MIN_ITERATIONS = 16
_I32 = python_scalar_type(0)
_I64 = python_scalar_type(2**40)


class _Unbound:
    """The value of a name that is not bound (before the loop, or after it)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<unbound>"


UNBOUND = _Unbound()

#: Counters since the process started: ``replayed`` iterations, and ``recorded`` loops whose
#: recordings were usable (tests and ``benchmarks/bench_interpreter.py`` read them).
STATS = {"replayed": 0, "recorded": 0, "batched": 0}


def _pack(loc: dict[str, Any], names: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(loc.get(n, UNBOUND) for n in names)


# ----------------------------------------------------------------------------------------
# running a rewritten loop


def _as_range(it: Any) -> builtins.range | None:
    """The Python range of a ``range``/``tl.range`` iterable, or None for other iterables."""
    from tritium.language import control

    from .launcher import _LoopRange

    if type(it) is _LoopRange:
        return it._range
    if type(it) is builtins.range:
        return it
    if type(it) is control.range:
        return builtins.range(
            control._loop_bound(it.start, "range start"),
            control._loop_bound(it.end, "range end"),
            control._loop_bound(it.step, "range step"),
        )
    return None


def _replay_allowed(engine: Any) -> bool:
    from tritium import knobs

    return (
        getattr(engine, "replay_loops", False)
        and not engine.sanitize
        and sys.gettrace() is None
        and knobs.interpreter_replay()
    )


def run_loop(body: Any, iterable: Any, state: tuple[Any, ...]) -> tuple[Any, ...]:
    """Run a rewritten loop: ``state`` holds the loop variable's and the carried names' values
    before the loop (``UNBOUND`` for unbound names); returns them after it."""
    rng = _as_range(iterable)
    engine = active_engine()
    if rng is None:
        for v in iterable:
            state = body(v, *state[1:])
        return state
    if isinstance(engine, _Recorder):
        engine._ok = False  # an inner loop: the outer iteration is not recorded
        engine = engine._e
    if not len(rng):
        return state
    # the iteration running, for error messages (sanitizer.loop_text)
    frame: list[Any] = [body.__code__.co_varnames[0], rng[0]]
    stack = engine.loop_stack
    stack.append(frame)
    try:
        return _run_range(body, rng, state, engine, frame)
    finally:
        stack.pop()


def _run_range(
    body: Any, rng: builtins.range, state: tuple[Any, ...], engine: Any, frame: list[Any]
) -> tuple[Any, ...]:
    last = rng[-1]
    ity = _I32 if -(2**31) <= min(rng[0], last) and max(rng[0], last) < 2**31 else _I64
    npt = ity.np
    if len(rng) < MIN_ITERATIONS or not _replay_allowed(engine):
        for v in rng:
            frame[1] = v
            state = body(Tile(np.array([v], npt), ity), *state[1:])
        return state
    first: _Trace | None = None
    replay: _Replay | None = None
    k = 0
    idx, total = 0, len(rng)
    while idx < total:
        v = frame[1] = rng[idx]
        idx += 1
        iv = Tile(np.array([v], npt), ity)
        if replay is not None:
            if replay.batchable and engine.G == 1 and total - idx >= 2:
                # the iterations at once; without a split, all but the last (which gives
                # the state after the loop)
                stop = min(total - (0 if replay.split else 1), idx - 1 + replay.chunk)
                part = rng[idx - 1 : stop]
                done = replay.run_batch(engine, Tile(np.asarray(part, npt), ity), state)
                if done is not None:
                    state = done
                    STATS["replayed"] += len(part)
                    STATS["batched"] += len(part)
                    idx = stop
                    continue
                replay.batchable = False
            out = replay.run(engine, iv, state)
            if out is not None:
                state = out
                STATS["replayed"] += 1
                continue
            replay = None
            k = -1  # no more recordings in this loop
        if k in (0, 1):
            rec = _Recorder(engine, (iv, *state[1:]))
            token = _ACTIVE_ENGINE.set(rec)
            _tile.WATCH.append(rec)
            try:
                new = body(iv, *state[1:])
            finally:
                _tile.WATCH.pop()
                _ACTIVE_ENGINE.reset(token)
            trace = rec.finish(state, new)
            if trace is None:
                k = -1
            elif k == 0:
                first = trace
            elif first is not None and first.same_as(trace):
                replay = _Replay(engine, trace)
                STATS["recorded"] += 1
            state = new
        else:
            state = body(iv, *state[1:])
        if k >= 0:
            k += 1
    return state


# ----------------------------------------------------------------------------------------
# recording


#: Engine methods user code may call during a recording without being recorded: helpers
#: whose results depend only on types and on the program, and ``call_jit`` (the callee's
#: operations are recorded one by one).
_PASS = frozenset(
    {"call_jit", "type_of", "dtype_arg", "location", "describe_pid", "pid_of", "lane_programs"}
)
#: Operations a replay must not redo (effects that cannot be undone, or ordering between
#: programs): a recording that reaches one of them is dropped.
_REFUSE = frozenset(
    {
        "atomic_add", "atomic_max", "atomic_min", "atomic_and", "atomic_or", "atomic_xor",
        "atomic_xchg", "atomic_cas", "device_print", "inline_asm_elementwise", "set_programs",
        "watch_spin", "marks", "rollback", "flush_prints", "promote", "bool_array", "bits",
        "merge_ovf", "track",
    }
)  # fmt: skip


def _trackable(x: Any) -> bool:
    """Values a recording follows by identity: tiles and tensor descriptors."""
    return isinstance(x, _TRACKED)


def _same(a: Any, b: Any) -> bool:
    """Whether two constants of a recording are the same value (tiles: the same object)."""
    if a is b:
        return True
    if type(a) is not type(b) or isinstance(a, (Tile, np.ndarray)):
        return False
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    try:
        eq = a == b
    except Exception:
        return False
    return eq is True


class _Recorder:
    """Stands in for the engine while an iteration is recorded: forwards every call, and
    logs the top-level ones (operations called by user code, not by other operations)."""

    def __init__(self, engine: Any, inputs: tuple[Any, ...]) -> None:
        self._e = engine
        self._ids: dict[int, tuple[int, tuple[int, ...]]] = {}
        self._keep: list[Any] = []
        self._ops: list[tuple[str, Any, Any]] = []
        self._results: list[Any] = []
        self._ok = True
        self._depth = 0
        self._n = 0
        for x in inputs:
            self._register(x, self._n, ())
            self._n += 1

    def _register(self, x: Any, idx: int, path: tuple[int, ...]) -> None:
        if _trackable(x):
            if id(x) not in self._ids:
                self._ids[id(x)] = (idx, path)
                self._keep.append(x)
        elif type(x) is tuple or type(x) is list:
            for j, y in enumerate(x):
                self._register(y, idx, path + (j,))

    def _enc(self, x: Any) -> Any:
        ref = self._ids.get(id(x))
        if ref is not None:
            return ("r", *ref)
        if type(x) is tuple or type(x) is list:
            return ("t", type(x), tuple(self._enc(y) for y in x))
        return ("c", x)  # a constant (tiles and arrays made before the loop: compared by identity)

    def touched(self) -> None:
        """User code read a tile's values (Python control flow on it)."""
        if self._depth == 0:
            self._ok = False

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._e, name)
        if name in _PASS or not callable(attr):
            return attr
        if name in _REFUSE:
            self._ok = False
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            if self._depth:
                return attr(*args, **kwargs)
            self._depth += 1
            try:
                res = attr(*args, **kwargs)
            finally:
                self._depth -= 1
            if self._ok:
                self._record(name, args, kwargs, res)
            return res

        return call

    def _record(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], res: Any) -> None:
        if name == "load" and (len(args) < 8 or args[7]):
            self._ok = False  # volatile (or an unexpected signature)
            return
        ok = (
            res is None
            or _trackable(res)
            or (type(res) is tuple and all(_trackable(r) for r in res))
        )
        if not ok:
            self._ok = False
            return
        enc_args = tuple(self._enc(a) for a in args)
        enc_kw = tuple((k, self._enc(v)) for k, v in sorted(kwargs.items()))
        self._ops.append((name, enc_args, enc_kw))
        self._results.append(res)
        self._register(res, self._n, ())
        self._n += 1

    def finish(self, before: tuple[Any, ...], after: tuple[Any, ...]) -> _Trace | None:
        """The recording (None if it was dropped)."""
        if not self._ok:
            return None
        guards: list[tuple[int, Any]] = []
        first: dict[int, int] = {}  # id -> the first slot holding that object
        self._alias: dict[int, int] = {}
        for j, x in enumerate(before[1:], 1):
            f = first.setdefault(id(x), j) if _trackable(x) else j
            if f != j:
                # one object in two names (``m = new_m``): operations were recorded on the
                # first name, so the two must stay one object
                self._alias[j] = f
                guards.append((j, ("alias", f)))
            elif isinstance(x, Tile):
                guards.append((j, ("tile", type(x), x.ty, x.a.shape, _block_sig(x))))
            elif _trackable(x):
                guards.append((j, ("is", x)))
            else:
                guards.append((j, ("eq", x)))
        outs = tuple(self._enc(x) for x in after)
        trace = _Trace(len(before), self._ops, outs, guards, self._results)
        trace.alias = self._alias
        return trace


def _block_sig(x: Tile) -> Any:
    from .tile import BlockPtr

    if isinstance(x, BlockPtr):
        return (x.block_shape, x.order, tuple(d.shape for d in x.offsets))
    return None


class _Trace:
    """One recorded iteration: the operations, the outputs, the guards on the inputs."""

    def __init__(
        self,
        n_in: int,
        ops: list[tuple[str, Any, Any]],
        outs: Any,
        guards: list[Any],
        results: list[Any],
    ) -> None:
        self.n_in = n_in
        self.ops = ops
        self.outs = outs
        self.guards = guards
        self.results = results

    alias: dict[int, int] = {}

    def same_as(self, other: _Trace) -> bool:
        """The same operations on the same constants (inputs that were one object in either
        recording count as one)."""
        if self.n_in != other.n_in or len(self.ops) != len(other.ops):
            return False
        rep = list(range(self.n_in))
        for j, f in (*self.alias.items(), *other.alias.items()):
            a, b = rep[j], rep[f]
            rep = [min(a, b) if r in (a, b) else r for r in rep]
        return all(
            a[0] == b[0] and _same_enc(a[1], b[1], rep) and _same_enc(a[2], b[2], rep)
            for a, b in zip(self.ops, other.ops)
        ) and _same_enc(self.outs, other.outs, rep)


def _same_enc(a: Any, b: Any, rep: list[int]) -> bool:
    if type(a) is not type(b):
        return False
    if type(a) is tuple:
        if len(a) != len(b):
            return False
        if a and a[0] == "c" and len(a) == 2:
            return b[0] == "c" and _same(a[1], b[1])
        if a and a[0] == "r" and len(a) == 3 and b[0] == "r":
            x, y = a[1], b[1]
            if x < len(rep) and y < len(rep):
                x, y = rep[x], rep[y]
            return x == y and a[2] == b[2]
        return all(_same_enc(x, y, rep) for x, y in zip(a, b))
    return _same(a, b)


#: Operations that touch memory (or check values): replayed every iteration even when their
#: operands do not change.  Every other operation of a recording is a function of its
#: operands, so one whose operands are the same every iteration is not redone.
_EFFECTS = frozenset(
    {"load", "store", "descriptor_load", "descriptor_store", "device_assert", "debug_barrier"}
)


#: Generated replay sources, compiled (a loop runs again for every batch of programs, and
#: in every launch, with the same source and new operands).
_COMPILED: dict[str, Any] = {}


def _refs(e: Any) -> list[int]:
    """Value numbers an encoded operand refers to."""
    if e[0] == "r":
        return [e[1]]
    if e[0] == "t":
        return [r for x in e[2] for r in _refs(x)]
    return []


class _Replay:
    """A recording compiled into one Python function calling the engine's methods.

    Operations whose operands are the same in every iteration (built only from values made
    before the loop) are left out: the recording's own results stand for them.  So are
    operations nothing uses."""

    def __init__(self, engine: Any, trace: _Trace) -> None:
        ns: dict[str, Any] = {}
        consts: list[Any] = []
        n = trace.n_in
        fixed: dict[int, Any] = {}  # value number -> the recorded result standing for it
        for k, (name, args, kw) in enumerate(trace.ops):
            if name not in _EFFECTS and all(
                r in fixed for e in (*args, *(v for _, v in kw)) for r in _refs(e)
            ):
                fixed[n + k] = trace.results[k]
        used: set[int] = {r for o in trace.outs for r in _refs(o)}
        live: list[int] = []
        for k in range(len(trace.ops) - 1, -1, -1):
            name, args, kw = trace.ops[k]
            if n + k in fixed or (name not in _EFFECTS and n + k not in used):
                continue
            live.append(k)
            used.update(r for e in (*args, *(v for _, v in kw)) for r in _refs(e))
        live.reverse()
        # the same operation on the same operands twice (``i + offs < n`` as the load's and
        # the store's mask): computed once
        canon: dict[int, int] = {}

        def key(e: Any) -> Any:
            if e[0] == "r":
                return ("r", canon.get(e[1], e[1]), e[2])
            if e[0] == "t":
                return ("t", e[1], tuple(key(x) for x in e[2]))
            return ("c", id(e[1]))

        seen: dict[Any, int] = {}
        for k in list(live):
            name, args, kw = trace.ops[k]
            if name in _EFFECTS:
                continue
            sig = (name, tuple(key(a) for a in args), tuple((kk, key(v)) for kk, v in kw))
            if sig in seen:
                canon[n + k] = seen[sig]
                live.remove(k)
            else:
                seen[sig] = n + k

        def src(e: Any) -> str:
            kind = e[0]
            if kind == "r":
                path = "".join(f"[{j}]" for j in e[2])
                if e[1] in fixed:
                    consts.append(fixed[e[1]])
                    return f"c{len(consts) - 1}{path}"
                return f"v{canon.get(e[1], e[1])}{path}"
            if kind == "t":
                items = ", ".join(src(x) for x in e[2])
                return f"[{items}]" if e[1] is list else f"({items}{',' if len(e[2]) == 1 else ''})"
            consts.append(e[1])
            return f"c{len(consts) - 1}"

        params = ", ".join(f"v{j}" for j in range(n))
        lines = [f"def replay({params}):"]
        # Carried pointers advanced by the same step every iteration (loop_iv): a batch gets
        # their values for all its iterations at once, so they count as not carried.
        self.ivs = loop_iv.find(trace, n, canon, lambda e: all(r in fixed for r in _refs(e)))
        nxt = [f"def iv_next({params}):"]
        for chain in self.ivs.values():
            for k in chain:
                name, args, _ = trace.ops[k]
                ns[f"m{k}"] = getattr(engine, name)
                nxt.append(f"    v{n + k} = m{k}({', '.join(src(a) for a in args)})")
        nxt.append(f"    return ({''.join(f'v{n + c[-1]}, ' for c in self.ivs.values())})")
        # Batches: the operations that use no value carried from the previous iteration run
        # for all iterations at once (``batch``, memory accesses listed); the others (``step``)
        # then run once per iteration on that iteration's row of the batch's values.
        carried = set(range(1, n)) - set(self.ivs)
        batch = [f"def batch({params}):", "    acc = []"]
        steps: list[str] = []
        prods: list[str] = []  # dot products made in the batch part for the step part
        step_args: dict[int, Any] = {}  # operands the step part reads, where not all
        self.batchable = True
        for k in live:
            name, args, kw = trace.ops[k]
            ns[f"m{k}"] = getattr(engine, name)
            parts = [src(a) for a in args] + [f"{key}={src(v)}" for key, v in kw]
            call = f"    v{n + k} = m{k}({', '.join(parts)})"
            lines.append(call)
            refs = [canon.get(r, r) for e in (*args, *(v for _, v in kw)) for r in _refs(e)]
            if any(r in carried for r in refs):
                carried.add(n + k)
                if (
                    name == "dot"
                    and len(args) == 6
                    and not kw
                    and not any(canon.get(r, r) in carried for e in args[:2] for r in _refs(e))
                ):
                    # ``acc = tl.dot(a, b, acc)`` with a and b not carried: the products for
                    # every iteration at once (the same float64 or int64 values), then each
                    # iteration adds its accumulator and rounds as dot does
                    ns[f"dp{k}"], ns[f"df{k}"] = engine.dot_product, engine.dot_finish
                    batch.append(f"    p{k} = dp{k}({parts[0]}, {parts[1]})")
                    prods.append(f"p{k}")
                    steps.append(f"    v{n + k} = df{k}(p{k}, {parts[2]})")
                    step_args[k] = (args[2],)
                    continue
                steps.append(call)
                if name in _EFFECTS:
                    self.batchable = False  # memory order between the two parts
                continue
            batch.append(call)
            if name in ("load", "store") and len(args) >= 4 and not kw:
                mask = parts[1] if name == "load" else parts[2]
                access = f"{name == 'store'}, {parts[0]}, {mask}, {parts[3]}"
                batch.append(f"    acc.append(({access}))")
            elif name in _EFFECTS and name not in ("device_assert", "debug_barrier"):
                self.batchable = False
        outs = ", ".join(src(o) for o in trace.outs)
        lines.append(f"    return ({outs},)")
        # values of the batch part that the step part or the outputs use
        step_refs = {
            canon.get(r, r)
            for k in live
            if n + k in carried
            for e in step_args.get(k, (*trace.ops[k][1], *(v for _, v in trace.ops[k][2])))
            for r in _refs(e)
        }
        # induction variables the step part does not read keep their value before the batch
        # through it (run_batch then advances them): no row of them is made per iteration
        # (nor another name's output: ``last = p`` must see this iteration's p)
        out_refs = {r for m, o in enumerate(trace.outs) for r in _refs(o) if r != m}
        self.kept = [j for j in self.ivs if j not in step_refs and j not in out_refs]
        step_outs = ", ".join(
            f"v{j}" if j in self.kept else src(o) for j, o in enumerate(trace.outs)
        )
        used_later = sorted(
            step_refs
            | {
                canon.get(r, r)
                for j, o in enumerate(trace.outs)
                if j not in self.kept
                for r in _refs(o)
            }
        )
        rows = [r for r in used_later if r >= n and r not in carried and r not in fixed]
        self.split = bool(steps)
        row_names = [f"v{r}" for r in rows] + prods
        batch.append(f"    return acc, ({''.join(f'{x}, ' for x in row_names)})")
        step = [f"def step({params}{''.join(f', {x}' for x in row_names)}):", *steps]
        step.append(f"    return ({step_outs},)")
        ns.update({f"c{j}": c for j, c in enumerate(consts)})
        code = "\n".join(lines + (batch + step + nxt if self.batchable else []))
        compiled = _COMPILED.get(code)
        if compiled is None:
            if len(_COMPILED) >= 256:
                _COMPILED.clear()
            compiled = _COMPILED[code] = compile(code, "<tritium loop replay>", "exec")
        exec(compiled, ns)  # noqa: S102
        self.source = code  # (for debugging: the generated functions)
        self.fn = ns["replay"]
        self.batch_fn = ns.get("batch")
        self.step_fn = ns.get("step")
        self.iv_next = ns.get("iv_next")
        self.guards = trace.guards
        # (the kept induction variables do not change in the step part: not checked there)
        self.step_guards = [g for g in trace.guards if g[0] not in self.kept]
        per = max([r.a.size for r in trace.results if isinstance(r, Tile)] + [1])
        self.chunk = max(2, _BATCH_ELEMENTS // per)  # iterations per batch
        self.n_in = n

    def guards_hold(self, state: tuple[Any, ...], guards: list[Any] | None = None) -> bool:
        """Whether the carried values have the kinds the recording had (``guards``: those of
        the recording, or some of them)."""
        for j, g in self.guards if guards is None else guards:
            x = state[j]
            kind = g[0]
            if kind == "tile":
                if type(x) is not g[1] or x.ty is not g[2] or x.a.shape != g[3]:
                    return False
                if g[4] is not None and _block_sig(x) != g[4]:
                    return False
            elif kind == "is":
                if x is not g[1]:
                    return False
            elif kind == "alias":
                if x is not state[g[1]]:
                    return False
            elif not _same(x, g[1]):
                return False
        return True

    def run_batch(self, engine: Any, iv: Tile, state: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """Iterations ``iv`` (one row each) run at once: the operations that use no value
        carried from the previous iteration for all of them together, then the others
        iteration by iteration (:attr:`split`).  Possible when no iteration stores to memory
        that another iteration reads or stores (the part run iteration by iteration touches
        no memory), and nothing raises.  Returns the state after the last iteration (with
        :attr:`split`; else the state before the batch with the induction variables
        advanced: nothing else carried changes), or None (with memory as it was): the
        iterations must then run one by one."""
        assert self.batch_fn is not None and self.step_fn is not None
        if not self.guards_hold(state):
            return None
        n = iv.a.shape[0]
        args = list(state)
        if self.ivs:
            try:
                nxt = self.iv_next(*state)  # type: ignore[misc]
            except Exception:
                return None
            for j, p1 in zip(self.ivs, nxt):
                args[j] = loop_iv.rows(state[j], p1, np.arange(n, dtype=np.int64))
                if args[j] is None:
                    return None
        with _journal(engine) as (journal, mark):
            try:
                acc, values = self.batch_fn(iv, *args[1:])
                out: tuple[Any, ...] | None = state if _independent(engine, acc, n) else None
                if out is not None and self.split:
                    step, ty, npt = self.step_fn, iv.ty, iv.a.dtype
                    guards = self.step_guards
                    for r in range(n):
                        rows = [loop_iv.row(x, r) for x in values]
                        if any(x is None for x in rows) or not self.guards_hold(out, guards):
                            out = None
                            break
                        i = Tile(np.array([iv.a[r]], npt), ty)
                        out = step(i, *out[1:], *rows)  # type: ignore[index]
                if out is not None and self.ivs:
                    last = list(out)
                    for j, p1 in zip(self.ivs, nxt):
                        if j in self.kept or not self.split:
                            last[j] = loop_iv.rows(state[j], p1, np.array([n], np.int64))
                    out = tuple(last)
            except Exception:
                out = None
            if out is None:
                _roll_back(journal, mark)
            return out

    def run(self, engine: Any, iv: Tile, state: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """One iteration; None (and nothing changed) when it must run as Python instead."""
        if not self.guards_hold(state):
            return None
        with _journal(engine) as (journal, mark):
            try:
                return self.fn(iv, *state[1:])  # type: ignore[no-any-return]
            except Exception:
                _roll_back(journal, mark)
                return None


@contextmanager
def _journal(engine: Any) -> Iterator[tuple[list[Any], int]]:
    """The engine's undo journal while an attempt runs (a new one when the engine keeps none),
    and its length before: the attempt's stores are the entries after it."""
    undo = engine.undo
    journal = undo if undo is not None else []
    engine.undo = journal
    try:
        yield journal, len(journal)
    finally:
        engine.undo = undo


def _roll_back(journal: list[Any], mark: int) -> None:
    """Undo the stores recorded after ``mark``, newest first."""
    while len(journal) > mark:
        view, sel, old = journal.pop()
        view[sel] = old


def _independent(engine: Any, acc: list[tuple[bool, Any, Any, Any]], rows: int) -> bool:
    """Whether the memory accesses of a batch of ``rows`` iterations (``(is_store, pointer,
    mask, boundary_check)``, one row per iteration, or one row for all) touch no address that
    another iteration stores to: then running the iterations at once (each operation for all
    of them, in the body's order) reads and writes what running them in order would."""
    if not any(a[0] for a in acc):
        return True  # loads only
    addrs: list[np.ndarray] = []
    owner: list[np.ndarray] = []
    kinds: list[bool] = []
    size = None
    for is_store, p, m, bc in acc:
        if type(p) is BlockPtr:
            assert p.ty.elem is not None
            isz = p.ty.elem.itemsize
            a, sel = engine._block_mask(p, bc)
        elif type(p) is Tile and p.ty.is_ptr and p.ty.elem is not None:
            isz = p.ty.elem.itemsize
            a, sel = p.a, None
            if m is not None:
                if type(m) is not Tile or m.ty is not BOOL:
                    return False
                rank = max(a.ndim, m.a.ndim) - 1
                a, sel = np.broadcast_arrays(align(a, rank), align(m.a, rank))
        else:
            return False
        if size not in (None, isz):
            return False  # accesses of different widths: compared address by address below
        size = isz
        shape = (rows, *a.shape[1:])
        a = np.broadcast_to(a, shape)
        r = np.broadcast_to(np.arange(rows).reshape((rows,) + (1,) * (len(shape) - 1)), shape)
        if sel is not None:
            sel = np.broadcast_to(sel, shape)
            a, r = a[sel], r[sel]
        addrs.append(a.reshape(-1))
        owner.append(r.reshape(-1))
        kinds.append(is_store)
    st = np.concatenate([a for a, k in zip(addrs, kinds) if k])
    st_row = np.concatenate([r for r, k in zip(owner, kinds) if k])
    ld = np.concatenate([a for a, k in zip(addrs, kinds) if not k] + [np.empty(0, np.int64)])
    ld_row = np.concatenate([r for r, k in zip(owner, kinds) if not k] + [np.empty(0, np.intp)])
    phase = np.concatenate([st, ld]) % size
    if (phase != phase[0]).any():
        return False  # not all on one alignment: equal addresses would not be the only overlap
    order = np.argsort(st, kind="stable")
    st, st_row = st[order], st_row[order]
    same = st[1:] == st[:-1]
    if (same & (st_row[1:] != st_row[:-1])).any():
        return False  # two iterations store to one address: the later one must win
    if not ld.size or not st.size:
        return True
    at = np.minimum(np.searchsorted(st, ld), st.size - 1)
    hit = st[at] == ld
    return not (hit & (st_row[at] != ld_row)).any()  # a load of another iteration's store


HELPERS = {"__tt_loop": run_loop, "__tt_pack": _pack, "__tt_U": UNBOUND}
