"""The NumPy interpreter of tritium kernels, with a memory sanitizer.

``run_kernel(fn, grid, args, *, sanitize=False, vectorize=True)`` runs a kernel's Python
function with the interpreter engine active: every ``tl.*`` builtin computes on NumPy tiles,
loads and stores go to the caller's arrays (NumPy arrays, torch CPU tensors, DLPack and
``__array_interface__`` objects).  It is the debugging path and the reference the compilers
are tested against.  From user code it is reached with ``TRITIUM_INTERPRET=1`` (or
``TRITON_INTERPRET=1``, or ``@triton.jit(interpret=True)``).

Debugging inside a kernel:

* ``print(x)`` and ``breakpoint()`` work: such kernels run one program at a time, in order;
  a tile prints as this program's values (``np.asarray(x)`` gives them as an array).
* ``tl.device_print`` prints once per program, in program order (x fastest); a failed
  ``tl.device_assert`` raises ``AssertionError`` naming the program, the lane and the line.
* Out-of-bounds accesses always raise ``tritium.errors.SanitizerError("out-of-bounds")``
  (file:line, argument, program, lane, offset against the valid range); ``sanitize=True``
  or ``TRITIUM_SANITIZE=1`` adds int32-overflow checks on index arithmetic feeding a
  pointer and race detection between programs.

Speed: programs run many at a time as one NumPy computation (see :mod:`.launcher`), falling
back to smaller groups or one at a time where Python control flow or ordering needs it; loop
bodies are recorded once and replayed, independent iterations all at once (see :mod:`.loops`).
"""

from __future__ import annotations

from .engine import InterpreterEngine
from .launcher import run_kernel
from .tile import Tile

__all__ = ["run_kernel", "InterpreterEngine", "Tile"]
