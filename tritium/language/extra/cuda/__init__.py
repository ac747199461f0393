"""``tl.extra.cuda``: the CUDA spelling of the extra libraries (same functions)."""

from tritium.language.core import builtin
from tritium.language.extra import libdevice

__all__ = ["gdc_launch_dependents", "gdc_wait", "libdevice"]


@builtin
def gdc_wait() -> None:
    """Wait until the kernel launched before this one has finished writing (programmatic
    dependent launch, ``launch_pdl=True``). A no-op on the CPU, where launches run in order."""
    return None


@builtin
def gdc_launch_dependents() -> None:
    """Let the next kernel start its prologue (programmatic dependent launch). A no-op on the
    CPU, where launches run in order."""
    return None
