"""``triton._internal_testing``: the helpers Triton's own tests import."""

from tritium.testing.internal import *  # noqa: F403
from tritium.testing.internal import _fresh_knobs_impl  # noqa: F401
