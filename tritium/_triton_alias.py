"""``tritium.install_as_triton()``: make ``import triton`` load tritium.

Code written for Triton does ``import triton``, ``import triton.language as tl`` and sometimes
``from triton.language.extra import libdevice``. After ``install_as_triton()`` every
``triton.X`` resolves to the module ``tritium.X`` itself, not a second copy of it: the main
modules are registered in ``sys.modules`` at once, and an import hook maps any other
``triton.*`` submodule to its tritium twin on first import.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType

__all__ = ["install_as_triton", "uninstall_triton_alias", "ALIASED_MODULES", "REMAPPED_MODULES"]

#: ``triton`` modules registered eagerly, as Triton users import them.
ALIASED_MODULES = (
    "triton",
    "triton.language",
    "triton.testing",
    "triton.runtime",
    "triton.compiler",
)


#: Triton modules whose tritium twin lives elsewhere than ``tritium.<same path>``.
REMAPPED_MODULES = {
    "triton._internal_testing": "tritium._triton._testing_helpers",
    "triton.tools.tensor_descriptor": "tritium.runtime.tensor_descriptor",
}


def _tritium_name(name: str) -> str:
    """The tritium module that answers for the Triton module ``name``.

    A facade module ``tritium._triton.<rest>`` wins when it exists; then ``REMAPPED_MODULES``;
    then tritium's module of the same path.
    """
    rest = name[len("triton") :]
    facade = "tritium._triton" + rest
    try:
        if importlib.util.find_spec(facade) is not None:
            return facade
    except ModuleNotFoundError:
        pass
    return REMAPPED_MODULES.get(name) or "tritium" + rest


class _AliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``triton.X`` as the already-imported (or importable) module ``tritium.X``."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        """A spec for ``triton.X`` when ``tritium.X`` exists; None for anything else."""
        if fullname != "triton" and not fullname.startswith("triton."):
            return None
        try:
            if importlib.util.find_spec(_tritium_name(fullname)) is None:
                return None
        except ModuleNotFoundError:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        """The tritium module itself (imported if needed), not a new module object."""
        # The import system keeps the module's own __name__/__spec__ (it only fills in missing
        # attributes), so triton.language *is* tritium.language.
        module = importlib.import_module(_tritium_name(spec.name))
        _register_loaded_children(spec.name, module)
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the tritium module is already executed."""


def _register_loaded_children(name: str, module: ModuleType) -> None:
    """Register ``name.X`` for each already-imported submodule that answers for it.

    The import system binds a newly imported submodule as an attribute of its parent; for a
    submodule that is already in ``sys.modules`` under its ``triton`` name it does not. Doing
    this eagerly keeps ``from triton.runtime.driver import driver`` from replacing the
    ``triton.runtime.driver`` object with the module of the same name.
    """
    prefix = module.__name__ + "."
    for sub_name, sub in list(sys.modules.items()):
        if not sub_name.startswith(prefix) or "." in sub_name[len(prefix) :] or sub is None:
            continue
        alias = name + "." + sub_name[len(prefix) :]
        if alias not in sys.modules and _tritium_name(alias) == sub_name:
            sys.modules[alias] = sub
            _register_loaded_children(alias, sub)


_FINDER = _AliasFinder()


def install_as_triton() -> None:
    """Register tritium under the module name ``triton`` (and its submodules).

    Raises ``RuntimeError`` if the real Triton is already imported, since two packages under
    one name would mix kernels and types from both. Calling it twice is harmless.
    """
    existing = sys.modules.get("triton")
    if existing is not None and existing is not importlib.import_module("tritium._triton"):
        raise RuntimeError(
            "install_as_triton(): the real 'triton' package is already imported "
            f"({getattr(existing, '__file__', existing)!r}); call install_as_triton() before "
            "anything imports triton, or use 'import tritium as triton'"
        )
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
    for alias in ALIASED_MODULES:
        sys.modules[alias] = importlib.import_module(_tritium_name(alias))
    for alias in ALIASED_MODULES:
        _register_loaded_children(alias, sys.modules[alias])


def uninstall_triton_alias() -> None:
    """Undo :func:`install_as_triton` (for tests): drop the hook and every ``triton*`` alias."""
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
    for name in [n for n in sys.modules if n == "triton" or n.startswith("triton.")]:
        if sys.modules[name] is sys.modules.get(_tritium_name(name)):
            del sys.modules[name]
