"""The ``mode`` (compiled / interpreted) and ``rng`` fixtures of the kernel tests."""

from tests.kernels.conftest import mode, rng

__all__ = ["mode", "rng"]
