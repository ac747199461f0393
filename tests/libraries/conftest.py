"""The ``mode`` (compiled / interpreted) fixture of the kernel tests (``rng`` is the suite's)."""

from tests.kernels.conftest import mode

__all__ = ["mode"]
