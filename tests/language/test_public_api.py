"""Pin ``tritium.language.__all__``: an API change must update language_api.txt on purpose."""

from __future__ import annotations

import inspect
import pathlib

import tritium.language as tl
from tritium.language.core import is_builtin

API_FILE = pathlib.Path(__file__).with_name("language_api.txt")
SIGNATURES_FILE = pathlib.Path(__file__).with_name("language_signatures.txt")


def public_signatures() -> list[str]:
    """``name(params with defaults)`` of every public function, without annotations."""
    lines = []
    for name in sorted(tl.__all__):
        obj = getattr(tl, name)
        if not callable(obj) or isinstance(obj, (type, tl.dtype)):
            continue
        sig = inspect.signature(obj)
        params = [p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values()]
        bare = sig.replace(parameters=params, return_annotation=inspect.Signature.empty)
        lines.append(f"{name}{bare}")
    return lines


def test_all_matches_committed_list() -> None:
    committed = [line.strip() for line in API_FILE.read_text().splitlines() if line.strip()]
    assert sorted(tl.__all__) == committed, (
        "tritium.language.__all__ changed; if intended, regenerate tests/language/"
        'language_api.txt with: python -c "import tritium.language as tl; '
        "print('\\n'.join(sorted(tl.__all__)))\" > tests/language/language_api.txt"
    )


def test_signatures_match_committed_list() -> None:
    committed = [line for line in SIGNATURES_FILE.read_text().splitlines() if line.strip()]
    assert public_signatures() == committed, (
        "a public signature changed; if intended, regenerate tests/language/"
        'language_signatures.txt with: python -c "from tests.language.test_public_api import '
        "public_signatures; print('\\n'.join(public_signatures()))\" > "
        "tests/language/language_signatures.txt"
    )


def test_every_name_exists_and_is_documented() -> None:
    for name in tl.__all__:
        obj = getattr(tl, name)
        if callable(obj) and not isinstance(obj, tl.dtype):
            assert obj.__doc__, f"tl.{name} has no docstring"


def test_no_duplicates() -> None:
    assert len(set(tl.__all__)) == len(tl.__all__)


# Decorators applied outside kernels, never called inside one.
DECORATORS = {"constexpr_function"}


def test_functions_are_builtins_or_helpers() -> None:
    plain = [
        n
        for n in sorted(set(tl.__all__) - DECORATORS)
        if callable(getattr(tl, n))
        and not isinstance(getattr(tl, n), (type, tl.dtype))
        and not is_builtin(getattr(tl, n))
    ]
    assert plain == [], f"public functions the frontend would not know to call: {plain}"


def test_namespaces() -> None:
    import tritium.language.extra.cuda.libdevice as cuda_libdevice
    from tritium.language.extra import libdevice

    assert tl.math.exp is tl.exp and tl.math.cdiv is tl.cdiv
    assert libdevice.tanh is tl.math.tanh and cuda_libdevice.tanh is libdevice.tanh
    for name in libdevice.__all__:
        assert is_builtin(getattr(libdevice, name)), name


def test_each_module_exports_what_it_defines() -> None:
    import importlib
    import pkgutil

    for info in pkgutil.walk_packages(tl.__path__, "tritium.language."):
        mod = importlib.import_module(info.name)
        exported = set(getattr(mod, "__all__", ()))
        assert exported <= set(vars(mod)), f"{info.name}.__all__ names something undefined"
        defined = {
            name
            for name, obj in vars(mod).items()
            if not name.startswith("_")
            and (inspect.isfunction(obj) or inspect.isclass(obj))
            and obj.__module__ == mod.__name__
        }
        assert defined <= exported, f"{info.name} does not export {sorted(defined - exported)}"
