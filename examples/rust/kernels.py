"""The kernel the Rust example calls (built by build.rs with python -m tritium.tools.aot)."""

import tritium
import tritium.language as tl


@tritium.jit
def axpy(x_ptr, y_ptr, out_ptr, n, a, BLOCK: tl.constexpr):
    """out = a * x + y over n elements."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m)
    tl.store(out_ptr + offs, a * x + tl.load(y_ptr + offs, mask=m), mask=m)
