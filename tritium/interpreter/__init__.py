"""The NumPy interpreter of tritium kernels, with a memory sanitizer.

``run_kernel(fn, grid, args, *, sanitize=False)`` runs a kernel's Python function with the
interpreter engine active: every ``tl.*`` builtin computes on NumPy tiles, loads and stores
go to the caller's arrays.  It is the debugging path (``print``/``pdb`` inside kernels,
``TRITIUM_SANITIZE=1``) and the reference the compilers are tested against.
See :mod:`tritium.interpreter.launcher` for the execution model.
"""

from __future__ import annotations

from .engine import InterpreterEngine
from .launcher import run_kernel
from .tile import Tile

__all__ = ["run_kernel", "InterpreterEngine", "Tile"]
