"""How many threads a compiled CPU launch uses, process-wide, and threadpoolctl's view of it.

``tritium.set_num_threads(n)`` sets the count every later launch uses (read per launch, so
it takes effect at once, also for kernels already loaded); ``get_num_threads()`` reads it.
The default is ``TRITIUM_NUM_THREADS`` or the cores this process may use.

threadpoolctl (>= 3.5, when installed) finds thread pools by the shared libraries loaded in
the process. tritium's pool lives in code that tritium loads itself (or llvmlite's JIT) and
launches through ``ctypes``, so the controller registered here attaches to ctypes' extension
module ``_ctypes`` (llvmlite's library is not loaded in a process that only launches cached
kernels) and reports ``user_api="tritium"``:
``threadpool_limits(1)`` (e.g. around a scikit-learn or torch section) limits tritium too,
and ``threadpool_info()`` lists it next to OpenBLAS and OpenMP.

Next to torch, launches run on torch's OpenMP threads (see ``backends/cpu/threadpool.py``);
the count set here is still the one each launch asks for.
"""

from __future__ import annotations

import sys
from typing import Any

from tritium import knobs

__all__ = ["get_num_threads", "set_num_threads", "THREADS"]

#: ``[n]``: the process-wide thread count that every launch reads (one list index: a warm
#: launch cannot afford a function call); 0 until ``set_num_threads``, and then each kernel
#: uses its ``num_threads`` attribute (``TRITIUM_NUM_THREADS`` or the cores, read at load).
THREADS: list[int] = [0]


def get_num_threads() -> int:
    """The number of threads a compiled CPU launch uses (its grid is split over them)."""
    return THREADS[0] or knobs.num_threads()


def set_num_threads(n: int) -> None:
    """Use ``n`` threads (``n >= 1``) for every compiled CPU launch from now on, in all
    Python threads, as ``torch.set_num_threads`` does for torch: it takes effect at the next
    launch, also for kernels already loaded, and overrides ``TRITIUM_NUM_THREADS`` and the
    kernels' own ``num_threads``."""
    if isinstance(n, bool) or not hasattr(n, "__index__"):
        raise TypeError(f"set_num_threads: n must be an int, got {type(n).__name__}")
    n = int(n.__index__())  # NumPy integers too
    if n < 1:
        raise ValueError(f"set_num_threads: n must be at least 1, got {n}")
    THREADS[0] = n


def _controller_class() -> Any:
    """The threadpoolctl controller class for tritium's pool (threadpoolctl imported)."""
    from threadpoolctl import LibController

    class TritiumController(LibController):  # type: ignore[misc]
        """threadpoolctl's handle on tritium's launch threads (see the module docstring)."""

        user_api = "tritium"
        internal_api = "tritium"
        filename_prefixes = ("_ctypes",)
        check_symbols = ("PyInit__ctypes",)

        def get_num_threads(self) -> int:
            return get_num_threads()

        def set_num_threads(self, num_threads: int) -> None:
            set_num_threads(max(1, int(num_threads)))

        def get_version(self) -> str:
            from tritium import __version__

            return __version__

    return TritiumController


_registered = False


def register_threadpoolctl() -> bool:
    """Register tritium's controller with threadpoolctl (once); False if threadpoolctl is
    missing or too old to take third-party controllers."""
    global _registered
    if _registered:
        return True
    try:
        import threadpoolctl
    except ImportError:
        return False
    if not hasattr(threadpoolctl, "register"):
        return False
    threadpoolctl.register(_controller_class())
    _registered = True
    return True


class _RegisterOnImport:
    """A ``sys.meta_path`` entry that registers tritium's controller right after threadpoolctl
    is imported (by anyone), so that ``import tritium`` need not import it (2-7 ms of a new
    process's first launch, issue 13) and threadpoolctl still knows tritium whenever it looks.
    """

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "threadpoolctl":
            return None
        sys.meta_path.remove(self)  # one look: the other finders locate the module
        for finder in sys.meta_path:
            spec = getattr(finder, "find_spec", lambda *a: None)(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader, execute = spec.loader, spec.loader.exec_module

        def exec_module(module: Any) -> None:
            execute(module)
            sys.modules[name] = module  # register_threadpoolctl imports it
            register_threadpoolctl()

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


# Registered when threadpoolctl is imported (now, if it already is); ctypes is loaded by then
# (tritium's launches need it).
if "threadpoolctl" in sys.modules:
    register_threadpoolctl()
else:
    sys.meta_path.insert(0, _RegisterOnImport())
