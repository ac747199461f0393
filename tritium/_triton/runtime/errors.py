"""``triton.runtime.errors``."""

from tritium.runtime.errors import *  # noqa: F403
from tritium.runtime.errors import InterpreterError, OutOfResources  # noqa: F401
