"""``triton.profiler`` (Proton's Python API) under ``install_as_triton()``: tritium's profiler."""

from tritium.profiler import (  # noqa: F401
    DEFAULT_PROFILE_NAME,
    activate,
    cpu_timed_scope,
    deactivate,
    enter_scope,
    exit_scope,
    finalize,
    profile,
    scope,
    start,
)

__all__ = [
    "DEFAULT_PROFILE_NAME",
    "activate",
    "cpu_timed_scope",
    "deactivate",
    "enter_scope",
    "exit_scope",
    "finalize",
    "profile",
    "scope",
    "start",
]
