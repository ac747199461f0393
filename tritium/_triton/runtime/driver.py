"""``triton.runtime.driver``: the module holding ``driver`` (``driver.active``)."""

from typing import Any

from tritium.runtime.driver import *  # noqa: F403
from tritium.runtime.driver import driver


def __getattr__(name: str) -> Any:
    # ``import triton.runtime.driver as driver`` may bind this module where Triton code expects
    # the driver object: answer for it (``driver.active``, ``driver.set_active``).
    return getattr(driver, name)
