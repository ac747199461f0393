"""``triton._filecheck``: MLIR FileCheck helpers of Triton's tests (skipped on tritium)."""

from tritium.testing.filecheck import *  # noqa: F403
