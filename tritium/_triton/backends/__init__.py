"""``triton.backends``: the registry of installed backends (tritium's CPU backend)."""

from tritium.compiler.triton_api import Backend, BaseBackend, backends

__all__ = ["Backend", "BaseBackend", "backends"]
