"""``triton.knobs``: Triton's knob groups (``knobs.cache.dir``, ``knobs.runtime.interpret``,
...) over tritium's environment, and tritium's own knob functions."""

from tritium.knob_groups import *  # noqa: F403
from tritium.knob_groups import settings as _settings
from tritium.knobs import *  # noqa: F403

#: Whether setting a knob also writes its environment variable (Triton's switch).
propagate_env = _settings.propagate_env
