"""``triton._internal_testing``: the helpers Triton's own tests import."""

from tritium._triton._testing_helpers import *  # noqa: F403
from tritium._triton._testing_helpers import _fresh_knobs_impl  # noqa: F401
