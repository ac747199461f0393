"""The interface every backend implements, and the artifact it produces (contracts.md §3).

A backend turns an optimized :class:`tritium.ir.Module` into a :class:`CompiledArtifact`
(plain data, so the runtime's disk cache can store it) and turns an artifact back into a
launchable kernel object without recompiling.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from tritium.ir import Module

__all__ = ["Backend", "CompiledArtifact", "GPUTarget", "LaunchableKernel"]


@dataclass(frozen=True)
class GPUTarget:
    """A compilation target, named as Triton names it.

    ``backend`` is ``"cpu"`` or ``"cuda"``; ``arch`` is the CPU name and LLVM feature string
    (``"rocketlake:+avx2,+avx512f,..."``) or the CUDA compute capability; ``warp_size`` is 1 on
    the CPU.
    """

    backend: str
    arch: str | int
    warp_size: int

    def is_cuda_backend(self) -> bool:
        """Whether kernels for this target run on an NVIDIA GPU (Triton's predicate)."""
        return self.backend in ("cuda", "tileir")

    def key(self) -> str:
        """The string a cache key uses for this target."""
        return f"{self.backend}:{self.arch}:{self.warp_size}"


@dataclass
class CompiledArtifact:
    """A compiled kernel: everything needed to load it again, as plain data.

    ``asm`` maps a stage name to its text or bytes (``"ttir"``, ``"llir"``, ``"asm"``);
    ``binary`` is the loadable code (object code on the CPU, a cubin on CUDA); ``metadata``
    is JSON-serializable and holds at least ``"name"``, ``"backend"`` and ``"param_types"``
    (the IR type strings of the kernel's parameters, in order).
    """

    name: str
    asm: dict[str, str | bytes] = field(default_factory=dict)
    binary: bytes = b""
    metadata: dict[str, Any] = field(default_factory=dict)


class LaunchableKernel(Protocol):
    """What :meth:`Backend.load` returns."""

    def launch(self, grid: tuple[int, int, int], args: Sequence[int | float]) -> None:
        """Run the kernel over ``grid``; ``args`` are the non-constexpr parameter values."""
        ...


class ArtifactRefused(RuntimeError):  # noqa: N818 (it is not the artifact's fault)
    """:meth:`Backend.load`'s refusal of a sound artifact that this process may not run (the
    CPU's AMX tiles where Linux refused the tile state). The disk cache keeps it for processes
    that may; the backend's :meth:`~Backend.target_key` has changed with what it learned, and
    the compile goes on under the new key."""


class Backend(abc.ABC):
    """A code generator for one kind of target."""

    name: str = ""

    @abc.abstractmethod
    def compile(self, module: Module, options: dict[str, Any] | None = None) -> CompiledArtifact:
        """Compile the module's public kernel to an artifact."""

    @abc.abstractmethod
    def load(self, artifact: CompiledArtifact) -> LaunchableKernel:
        """Make an artifact launchable (no recompilation)."""

    def target_key(self) -> str:
        """A string naming the target exactly (CPU features, GPU arch), for cache keys."""
        return self.name
