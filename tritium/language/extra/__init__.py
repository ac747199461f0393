"""``tl.extra``: vendor-style function libraries (``libdevice``, ``cuda``)."""

# ``cuda`` is imported here, as Triton's ``language/extra`` imports its backends' modules, so
# that ``tl.extra.cuda.gdc_wait()`` resolves by attribute without an import (tutorial 11).
from tritium.language.extra import cuda, libdevice

__all__ = ["cuda", "libdevice"]
