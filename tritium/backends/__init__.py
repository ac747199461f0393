"""Code generators: ``get_backend("cpu")`` (native code through LLVM) or ``"cuda"``."""

from __future__ import annotations

from tritium.backends.base import Backend, CompiledArtifact, LaunchableKernel

__all__ = ["Backend", "CompiledArtifact", "LaunchableKernel", "get_backend"]

_BACKENDS: dict[str, Backend] = {}


def get_backend(name: str | None = None) -> Backend:
    """The process-wide backend called ``name`` (default: ``"cpu"``)."""
    if name is None:
        name = "cpu"
    backend = _BACKENDS.get(name)
    if backend is not None:
        return backend
    if name == "cpu":
        from tritium.backends.cpu import CPUBackend

        backend = CPUBackend()
    elif name == "cuda":
        try:
            from tritium.backends.cuda import CUDABackend  # type: ignore[import-not-found]
        except ImportError as e:
            raise RuntimeError(f"the cuda backend is not available: {e}") from e
        backend = CUDABackend()
    else:
        raise ValueError(f"unknown backend {name!r}; expected 'cpu' or 'cuda'")
    _BACKENDS[name] = backend
    return backend
