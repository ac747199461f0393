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
"""

from __future__ import annotations

import importlib.util

import tritium

tritium.install_as_triton()


def _cpu_device_properties(device: object = 0) -> object:
    """What Liger's skip conditions read of a device: its memory (the host's, in bytes)."""
    import os
    from types import SimpleNamespace

    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return SimpleNamespace(name="cpu", total_memory=total)


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
