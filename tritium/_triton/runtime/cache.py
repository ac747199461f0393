"""``triton.runtime.cache``: tritium's disk cache under Triton's names."""

from tritium.compiler.cache import *  # noqa: F403
