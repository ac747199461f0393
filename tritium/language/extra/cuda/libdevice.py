"""``tl.extra.cuda.libdevice``: the same functions as :mod:`tritium.language.extra.libdevice`."""

from tritium.language.extra.libdevice import *  # noqa: F403
