"""``triton.runtime.autotuner``: ``autotune``, ``Config``, ``heuristics`` and their classes."""

from tritium.runtime.autotuner import *  # noqa: F403
from tritium.runtime.autotuner import Autotuner, Config, Heuristics, autotune, heuristics  # noqa: F401
from tritium.runtime.errors import OutOfResources  # noqa: F401  (Inductor imports it from here)
