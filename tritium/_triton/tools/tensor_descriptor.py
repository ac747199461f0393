"""``triton.tools.tensor_descriptor``: host-side ``TensorDescriptor``."""

from tritium.runtime.tensor_descriptor import *  # noqa: F403
from tritium.runtime.tensor_descriptor import TensorDescriptor  # noqa: F401
