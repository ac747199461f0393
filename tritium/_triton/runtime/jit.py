"""``triton.runtime.jit``: the ``@jit`` decorator and the kernel objects."""

from tritium.language.core import constexpr_function  # noqa: F401
from tritium.runtime.jit import *  # noqa: F403
from tritium.runtime.jit import JITFunction, KernelInterface, KernelParam, MockTensor, jit  # noqa: F401
from tritium.runtime.tensor_wrapper import TensorWrapper, reinterpret  # noqa: F401
