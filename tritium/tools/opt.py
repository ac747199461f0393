"""``tritium-opt``: run named passes over a textual IR file and print the result.

    python -m tritium.tools.opt kernel.ttir --pass canonicalize,cse,dce
    python -m tritium.tools.opt kernel.ttir --pass "canonicalize{max_iterations=2},cse"
    python -m tritium.tools.opt kernel.ttir --pipeline          # the compiler's pipeline
    python -m tritium.tools.opt kernel.ttir --pipeline=-cse,+my-pass@before:dce
    python -m tritium.tools.opt - --verify-only < kernel.ttir

The input is verified before and after each pass. ``--no-locs`` leaves locations out of the
output. Exit status: 0 on success, 1 if the input does not parse or verify, or a pass fails.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tritium.errors import TritiumError
from tritium.ir.parser import parse_module
from tritium.ir.printer import print_module
from tritium.ir.verifier import verify
from tritium.passes import PASSES, run_passes
from tritium.passes.pipeline import resolve_pipeline
from tritium.passes.registry import parse_pass_list

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="tritium-opt", description=__doc__.split("\n\n")[0])
    ap.add_argument("input", help="a .ttir file, or - for standard input")
    ap.add_argument(
        "--pass",
        dest="passes",
        default="",
        help="comma-separated passes, each name or name{option=value,...}: "
        + ", ".join(sorted(PASSES)),
    )
    ap.add_argument(
        "--pipeline",
        nargs="?",
        const="",
        default=None,
        metavar="EDITS",
        help="run the compiler's pipeline, after TRITIUM_PASSES and EDITS change it by name "
        "(-cse: without cse; +name, +name@before:dce: with a pass; a, b: exactly these)",
    )
    ap.add_argument("--verify-only", action="store_true", help="parse and verify, print nothing")
    ap.add_argument("--no-verify", action="store_true", help="do not verify between passes")
    ap.add_argument("--no-locs", action="store_true", help="print without locations")
    ap.add_argument("-o", "--output", default="-", help="output file (default: stdout)")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status. Tests call it in-process."""
    args = _parser().parse_args(argv)
    try:
        text = sys.stdin.read() if args.input == "-" else Path(args.input).read_text()
        module = parse_module(text)
        if not args.no_verify or args.verify_only:
            verify(module, pass_name="<input>")
        if args.verify_only:
            return 0
        module = run_passes(module, parse_pass_list(args.passes), verify=not args.no_verify)
        if args.pipeline is not None:
            passes = resolve_pipeline(args.pipeline)
            module = run_passes(module, passes, verify=not args.no_verify)
    except (TritiumError, KeyError, ValueError, OSError) as e:
        # a KeyError's str() is its repr: print the message itself
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"tritium-opt: {message}", file=sys.stderr)
        return 1
    out = print_module(module, locs=not args.no_locs)
    if args.output == "-":
        sys.stdout.write(out)
    else:
        Path(args.output).write_text(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
