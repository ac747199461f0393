"""pytest plugin for ``tools/run_libraries.py``: run a library's own tests through tritium.

Loaded with ``-p _alias_pytest_plugin`` before the library's conftest and test modules are
imported, so their ``import triton`` gets tritium's facade. Nothing in the library is edited.

For flash-linear-attention, whose ``fla.utils`` turns a CPU-only host into ``device = "cuda"``
(for its autocast decorators) and whose conftest synchronizes ``torch.cuda``, the tests' device
is set back to the CPU: ``fla.utils.device`` is ``"cpu"`` and ``device_torch_lib`` is
``torch.cpu``. fla's kernels keep their own ``autocast_custom_fwd``/``bwd`` (bound already).

Liger's tests take the device that ``infer_device()`` names (``"cpu"`` here) for a GPU and, in
``skipif`` conditions evaluated at import, ask ``torch.cpu.get_device_properties(0).total_memory``,
which torch has only for GPUs: the CPU answers with the host's physical memory.

Huge shapes, by rule: with ``TRITIUM_LIBS_MAX_ELEMENTS=N`` set, a parametrized case whose positive
integer parameters (``bool`` excluded) multiply to more than ``N`` is deselected (pytest's
"deselected" count), and its node id is appended to the file ``TRITIUM_LIBS_DESELECTED`` names, if
set. The integer parameters of Liger's tests are mostly its shapes (batch, sequence, heads,
hidden, vocabulary), so the product bounds the largest tensor a case builds; it over-counts where
a case also takes a seed or both query and key/value head counts.

pytest 9 fails with INTERNALERROR (ending the file's session) when a failing test's traceback has
an entry without a line number (``tb_lineno`` is None: CPython 3.11 gives none to some
instructions, where pytest-timeout's signal can land); such an entry is given line 0 here.
"""

from __future__ import annotations

import importlib.util
import math
import os

import tritium

tritium.install_as_triton()


def _cpu_device_properties(device: object = 0) -> object:
    """What Liger's skip conditions read of a device: its memory (the host's, in bytes)."""
    import os
    from types import SimpleNamespace

    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return SimpleNamespace(name="cpu", total_memory=total)


def _patch_pytest_lineno() -> None:
    """Let pytest format a traceback entry whose ``tb_lineno`` is None (see the docstring)."""
    from _pytest._code.code import TracebackEntry

    def lineno(self: TracebackEntry) -> int:
        raw = self._rawentry.tb_lineno
        return (raw if raw is not None else 1) - 1

    TracebackEntry.lineno = property(lineno)  # type: ignore[assignment,method-assign]


_patch_pytest_lineno()

if importlib.util.find_spec("liger_kernel") is not None:
    import torch

    if not hasattr(torch.cpu, "get_device_properties"):
        torch.cpu.get_device_properties = _cpu_device_properties

if importlib.util.find_spec("fla") is not None:
    import fla.utils
    import fla.utils._device
    import torch

    for _mod in (fla.utils, fla.utils._device):
        _mod.device = "cpu"
        _mod.device_torch_lib = torch.cpu


def _int_product(item: object) -> int:
    """The product of a parametrized test's integer parameters (1 when it has none)."""
    spec = getattr(item, "callspec", None)
    if spec is None:
        return 1
    # Only positive ints: a negative one is an ``ignore_index`` (-100), never a size.
    ints = [v for v in spec.params.values() if isinstance(v, int) and not isinstance(v, bool)]
    return math.prod(v for v in ints if v > 0)


def pytest_collection_modifyitems(config: object, items: list) -> None:
    """Deselect the cases over ``TRITIUM_LIBS_MAX_ELEMENTS`` (see the module's docstring)."""
    limit = os.environ.get("TRITIUM_LIBS_MAX_ELEMENTS")
    if not limit:
        return
    keep, drop = [], []
    for item in items:
        (drop if _int_product(item) > int(limit) else keep).append(item)
    if not drop:
        return
    config.hook.pytest_deselected(items=drop)  # type: ignore[attr-defined]
    items[:] = keep
    record = os.environ.get("TRITIUM_LIBS_DESELECTED")
    if record:
        with open(record, "a") as f:
            f.writelines(f"{item.nodeid}\t{_int_product(item)}\n" for item in drop)
