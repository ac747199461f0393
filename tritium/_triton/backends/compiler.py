"""``triton.backends.compiler``: the target and backend base classes of Triton's plugin API."""

from tritium.compiler.triton_api import BaseBackend, Language
from tritium.runtime.driver import GPUTarget

__all__ = ["BaseBackend", "GPUTarget", "Language"]
