"""``tl.extra.cuda``: the CUDA spelling of the extra libraries (same functions)."""

from tritium.language.extra import libdevice

__all__ = ["libdevice"]
