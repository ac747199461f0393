"""The ``triton`` module as ``install_as_triton()`` registers it: a facade over tritium.

Every ``triton.X`` path that Triton code imports resolves, in order, to
``tritium._triton.X`` (a facade module in this package, when Triton's layout or behaviour
differs from tritium's own), to a module named in ``REMAPPED_MODULES``, or to ``tritium.X``.
Facade modules re-export tritium's objects; they hold no logic of their own. Importing a
``triton.*`` submodule therefore never rebinds an attribute of a tritium module.
"""

from tritium import *  # noqa: F403
from tritium import __all__ as _tritium_all
from tritium import compiler, language, testing  # noqa: F401
from tritium.errors import TritonError
from tritium.language.aggregates import _aggregate as aggregate
from tritium.language.core import must_use_result
from tritium.runtime import InterpreterError
from tritium.runtime.jit import MockTensor

# The star import bound tritium's own ``knobs`` and ``runtime``; Triton's differ (knob groups;
# ``runtime.driver`` is the driver object), so their facades replace them here.
del knobs, runtime  # noqa: F821
from tritium._triton import errors, knobs, runtime, tools  # noqa: E402, F401

#: The Triton release whose API this facade mirrors (tritium's own is ``tritium.__version__``).
__version__ = "3.8.0"

__all__ = [n for n in _tritium_all if n not in ("install_as_triton", "__version__")] + [
    "InterpreterError",
    "MockTensor",
    "aggregate",
    "TritonError",
    "errors",
    "must_use_result",
    "tools",
]
