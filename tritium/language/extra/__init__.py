"""``tl.extra``: vendor-style function libraries (``libdevice``)."""

from tritium.language.extra import libdevice

__all__ = ["libdevice"]
