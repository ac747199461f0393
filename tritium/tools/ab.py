"""A/B a pipeline change on one kernel of a script: IR diff, machine-code diff and timings.

    python -m tritium.tools.ab script.py --kernel K --without cse
    python -m tritium.tools.ab script.py --kernel K --with my-pass@before:dce -- --script-arg

The script runs once as ``__main__`` (with the arguments after ``--``), launching ``K`` as it
always does; the last launch of ``K`` is kept (``--launch I`` picks another). The kernel is then
compiled for that launch with pipeline A (the default, after ``TRITIUM_PASSES``) and pipeline B
(A with the edits: ``--without NAME`` drops a pass, ``--with SPEC`` adds one, as in
``tritium.passes.pipeline.resolve_pipeline``), and the tool prints

* the Tile IR diff A -> B, value-numbering-insensitive: every value is named by a hash of what
  computes it, so one new op does not renumber the rest of the kernel;
* whether the machine code changed (and how many assembly lines differ);
* the time of a launch with A and with B, interleaved (``do_bench`` medians over ``--rounds``
  rounds in rotating order), with a noise floor measured in the same run: A timed a second
  time as if it were a third variant, so a difference smaller than A vs A is noise.

The launch writes into the script's own buffers again: the tool measures, it does not check
results (the differential tests do that).
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import re
import runpy
import statistics
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["canonical_ir", "ir_diff", "main"]

_VALUE = re.compile(r"%[\w.$-]+")


def canonical_ir(text: str) -> list[str]:
    """The lines of a module with locations dropped and every value renamed by content.

    A result is named ``%v<hash>`` of its op's text with operands already renamed (the n-th
    identical op gets ``_n``); block arguments are named after the op whose region they open and
    their position. Equal computations get equal names in two versions of a kernel."""
    from tritium.ir.parser import parse_module
    from tritium.ir.printer import print_module

    lines = print_module(parse_module(text), locs=False).splitlines()
    names: dict[str, str] = {}
    seen: Counter[str] = Counter()
    regions: list[str] = []  # the name of each op whose region we are in

    def rename(s: str) -> str:
        def one(m: re.Match[str]) -> str:
            base, sep, index = m.group(0).partition("#")
            return names.get(base, base) + sep + index

        return _VALUE.sub(one, s)

    out = []
    for line in lines:
        indent, body = line[: len(line) - len(line.lstrip())], line.strip()
        m = re.match(r"(%[\w.$-]+)(:\d+)? = (.*)$", body)
        if body.startswith("^"):  # a block label with arguments: name them by position
            owner = regions[-1] if regions else "top"
            for i, arg in enumerate(re.findall(r"(%[\w.$-]+):", body)):
                names[arg] = f"%{owner[1:]}.arg{i}"
            out.append(indent + rename(body))
            continue
        if m:
            rhs = rename(m.group(3))
            key = "%v" + hashlib.sha256(rhs.encode()).hexdigest()[:6]
            seen[key] += 1
            new = key if seen[key] == 1 else f"{key}_{seen[key]}"
            names[m.group(1)] = new
            body = f"{new}{m.group(2) or ''} = {rhs}"
        else:
            body = rename(body)
        if body.startswith("})"):
            regions.pop()
        if body.endswith("({"):
            regions.append(body.split(" = ")[0] if m else "%" + body.split('"')[1])
        out.append(indent + body)
    return out


def ir_diff(a: str, b: str, label_a: str = "A", label_b: str = "B", context: int = 1) -> str:
    """A unified diff of two modules' :func:`canonical_ir` ('' if the ops are the same).

    Lines are matched with every value name blanked out, so an op whose inputs were renamed
    because something upstream changed is not reported again: the diff shows ops that
    appeared, disappeared or changed kind, attributes or types."""
    lines_a, lines_b = canonical_ir(a), canonical_ir(b)
    keys_a, keys_b = ([_VALUE.sub("%_", x) for x in lines] for lines in (lines_a, lines_b))
    matcher = difflib.SequenceMatcher(None, keys_a, keys_b, autojunk=False)
    out = []
    for group in matcher.get_grouped_opcodes(context):
        first, last = group[0], group[-1]
        out.append(
            f"@@ -{first[1] + 1},{last[2] - first[1]} +{first[3] + 1},{last[4] - first[3]} @@"
        )
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out += [" " + x for x in lines_b[j1:j2]]
                continue
            out += ["-" + x for x in lines_a[i1:i2]]
            out += ["+" + x for x in lines_b[j1:j2]]
    return "\n".join([f"--- {label_a}", f"+++ {label_b}", *out]) if out else ""


def _op_counts(text: str) -> Counter[str]:
    return Counter(re.findall(r'^\s*(?:%\S+ = )?"([\w.]+)"', text, re.M))


def _asm_lines(asm: str) -> list[str]:
    """Instructions and labels, without comments and assembler directives."""
    lines = (line.split("#")[0].rstrip() for line in asm.splitlines())
    # symbol names carry a hash of the kernel's IR (k_launch_2eac63b10b0419d6): not code
    lines = (re.sub(r"_[0-9a-f]{16}\b", "_<hash>", line) for line in lines)
    return [line for line in lines if line.strip() and not line.strip().startswith(".")]


class _Recorder:
    """Wraps the ``run`` of every JITFunction named ``name`` created while the script runs."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.launches: list[tuple[Any, tuple[Any, ...], dict[str, Any]]] = []
        self.kernels: list[Any] = []

    def __enter__(self) -> _Recorder:
        from tritium.runtime.jit import JITFunction

        self._init = original = JITFunction.__init__
        recorder = self

        def init(jit_fn: Any, fn: Any, *args: Any, **kwargs: Any) -> None:
            original(jit_fn, fn, *args, **kwargs)
            if getattr(fn, "__name__", None) == recorder.name:
                recorder.wrap(jit_fn)

        JITFunction.__init__ = init  # type: ignore[method-assign]
        return self

    def wrap(self, jit_fn: Any) -> None:
        run = jit_fn.run
        self.kernels.append(jit_fn)

        def recording_run(*args: Any, grid: Any, warmup: bool = False, **kwargs: Any) -> Any:
            if not warmup:
                self.launches.append((jit_fn, args, dict(kwargs, grid=grid)))
            return run(*args, grid=grid, warmup=warmup, **kwargs)

        jit_fn.run = recording_run
        jit_fn._ab_original_run = run

    def __exit__(self, *exc: object) -> None:
        from tritium.runtime.jit import JITFunction

        JITFunction.__init__ = self._init  # type: ignore[method-assign]
        for k in self.kernels:
            k.run = k._ab_original_run


def _median_times(
    variants: Sequence[Callable[[], Any]], rounds: int, rep: float
) -> list[list[float]]:
    """Per variant, its do_bench medians (ms); the order rotates every round."""
    from tritium.testing import do_bench

    times: list[list[float]] = [[] for _ in variants]
    for r in range(rounds):
        for i in (list(range(len(variants))) * 2)[r % len(variants) :][: len(variants)]:
            t = do_bench(variants[i], warmup=rep / 4, rep=rep, return_mode="median")
            times[i].append(float(t))  # type: ignore[arg-type]
    return times


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m tritium.tools.ab", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("script", help="a Python script that launches the kernel")
    ap.add_argument("script_args", nargs="*", help="arguments for the script (after --)")
    ap.add_argument("--kernel", required=True, help="the @jit function's name")
    ap.add_argument("--without", action="append", default=[], metavar="PASS")
    ap.add_argument("--with", dest="with_", action="append", default=[], metavar="SPEC")
    ap.add_argument("--launch", type=int, default=-1, help="which launch of the kernel (-1)")
    ap.add_argument("--rounds", type=int, default=5, help="timing rounds (default 5)")
    ap.add_argument("--rep", type=float, default=60.0, help="ms per do_bench (default 60)")
    ap.add_argument("--no-timing", action="store_true", help="diffs only")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (1: bad arguments, or the kernel never ran)."""
    args = _parser().parse_args(argv)
    edits = [f"-{name}" for name in args.without] + [f"+{spec}" for spec in args.with_]
    if not edits:
        print("ab: give at least one --without PASS or --with SPEC", file=sys.stderr)
        return 1
    spec_b = ",".join(edits)
    from tritium.passes.pipeline import describe_pipeline, resolve_pipeline

    saved_argv = sys.argv
    sys.argv = [args.script, *args.script_args]
    try:
        with _Recorder(args.kernel) as rec:
            runpy.run_path(args.script, run_name="__main__")
    finally:
        sys.argv = saved_argv
    if not rec.launches:
        print(f"ab: {args.script} never launched a kernel named {args.kernel!r}", file=sys.stderr)
        return 1
    try:  # after the script ran: it may register the pass it A/Bs
        pipe_a, pipe_b = describe_pipeline(resolve_pipeline("")), resolve_pipeline(spec_b)
    except ValueError as e:
        print(f"ab: {e}", file=sys.stderr)
        return 1
    jit_fn, call_args, call_kwargs = rec.launches[args.launch]
    run = jit_fn._ab_original_run
    grid = call_kwargs.pop("grid")
    kw_a = {k: v for k, v in call_kwargs.items() if k != "passes"}
    kw_b = dict(kw_a, passes=spec_b)
    k_a = run(*call_args, grid=grid, warmup=True, **kw_a)
    k_b = run(*call_args, grid=grid, warmup=True, **kw_b)
    print(f"kernel {args.kernel}: launch {args.launch} of {len(rec.launches)}")
    print(f"A: {pipe_a}")
    print(f"B: {describe_pipeline(pipe_b)}   ({spec_b})")
    ttir_a, ttir_b = k_a.asm["ttir"], k_b.asm["ttir"]
    diff = ir_diff(ttir_a, ttir_b, "A.ttir", "B.ttir")
    print("\n== Tile IR (values named by content) ==")
    print(diff if diff else "identical")
    counts_a, counts_b = _op_counts(ttir_a), _op_counts(ttir_b)
    for op in sorted(set(counts_a) | set(counts_b)):
        if counts_a[op] != counts_b[op]:
            print(f"  {op}: {counts_a[op]} -> {counts_b[op]}")
    asm_a, asm_b = _asm_lines(str(k_a.asm.get("asm", ""))), _asm_lines(str(k_b.asm.get("asm", "")))
    print("\n== machine code ==")
    if asm_a == asm_b:
        print("identical instructions")
    else:
        changed = [line for line in difflib.ndiff(asm_a, asm_b) if line.startswith(("+ ", "- "))]
        print(f"changed: {len(changed)} assembly lines differ ({len(asm_a)} -> {len(asm_b)} lines)")
        if len(changed) <= 8:  # a few lines: show them (often a register or a label)
            print("\n".join(changed))
    if args.no_timing:
        return 0
    variants = [
        lambda: run(*call_args, grid=grid, **kw_a),
        lambda: run(*call_args, grid=grid, **kw_b),
        lambda: run(*call_args, grid=grid, **kw_a),  # the control: A again
    ]
    t_a, t_b, t_c = (statistics.median(t) for t in _median_times(variants, args.rounds, args.rep))
    noise = abs(t_c - t_a) / t_a
    delta = (t_b - t_a) / t_a
    print(f"\n== time per launch (median of {args.rounds} interleaved do_bench medians) ==")
    print(f"A {t_a * 1e3:10.2f} us")
    print(f"B {t_b * 1e3:10.2f} us   B/A = {t_b / t_a:.3f} ({delta:+.1%})")
    print(f"noise floor (A vs A again): {noise:.1%}")
    verdict = "within noise" if abs(delta) <= 2 * noise else ("faster" if delta < 0 else "slower")
    print(f"B is {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
