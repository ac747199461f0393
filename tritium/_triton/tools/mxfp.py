"""``triton.tools.mxfp``: OCP microscaling (MX) helpers on the host."""

from tritium.tools.mxfp import MXFP4Tensor, MXScaleTensor  # noqa: F401
