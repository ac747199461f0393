"""pytest plugin for ``tools/run_libraries.py``: run a library's own tests through tritium.

Loaded with ``-p _alias_pytest_plugin`` before the library's conftest and test modules are
imported, so their ``import triton`` gets tritium's facade. Nothing in the library is edited.

For flash-linear-attention, whose ``fla.utils`` turns a CPU-only host into ``device = "cuda"``
(for its autocast decorators) and whose conftest synchronizes ``torch.cuda``, the tests' device
is set back to the CPU: ``fla.utils.device`` is ``"cpu"`` and ``device_torch_lib`` is
``torch.cpu``. fla's kernels keep their own ``autocast_custom_fwd``/``bwd`` (bound already).
"""

from __future__ import annotations

import importlib.util

import tritium

tritium.install_as_triton()

if importlib.util.find_spec("fla") is not None:
    import fla.utils
    import fla.utils._device
    import torch

    for _mod in (fla.utils, fla.utils._device):
        _mod.device = "cpu"
        _mod.device_torch_lib = torch.cpu
