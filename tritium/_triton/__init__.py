"""The ``triton`` module as ``install_as_triton()`` registers it: a facade over tritium.

Every ``triton.X`` path that Triton code imports resolves, in order, to
``tritium._triton.X`` (a facade module in this package, when Triton's layout or behaviour
differs from tritium's own), to a module named in ``REMAPPED_MODULES``, or to ``tritium.X``.
Facade modules re-export tritium's objects; they hold no logic of their own. Importing a
``triton.*`` submodule therefore never rebinds an attribute of a tritium module.
"""

from tritium import *  # noqa: F403
from tritium import __all__ as _tritium_all
from tritium import compiler, knobs, language, runtime, testing  # noqa: F401

#: The Triton release whose API this facade mirrors (tritium's own is ``tritium.__version__``).
__version__ = "3.5.0"

__all__ = [n for n in _tritium_all if n not in ("install_as_triton",)]
