"""Stand-ins for the frontend, passes and backend, so the runtime is tested on its own.

``fake_stages`` replaces the compiler's ``frontend`` and ``passes`` stages and its backends. The
fake backend "compiles" a kernel into a launcher that records every launch in
``FakeStages.launches``; tests then check what the runtime handed over (signature, constexprs,
attrs, options, grid, argument values).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from tritium.backends.base import CompiledArtifact
from tritium.compiler import stages as stages_mod


@dataclass
class FakeModule:
    """What the fake frontend returns: the specialization it was asked for."""

    name: str
    signature: dict[str, str]
    constexprs: dict[str, Any]
    attrs: dict[str, Any]

    def __str__(self) -> str:
        return f"fake ttir for {self.name} {self.signature} {self.constexprs}"


@dataclass
class FakeKernel:
    """A loaded fake kernel; ``launch`` records its arguments."""

    stages: FakeStages
    metadata: dict[str, Any]

    def launch(self, grid: tuple[int, int, int], args: Sequence[int | float]) -> None:
        self.stages.launches.append((self.metadata["name"], grid, list(args)))


@dataclass
class FakeStages:
    """Records every stage call and launch."""

    frontend_calls: list[FakeModule] = field(default_factory=list)
    compile_options: list[dict[str, Any]] = field(default_factory=list)
    loads: int = 0
    launches: list[tuple[str, tuple[int, int, int], list[Any]]] = field(default_factory=list)
    name: str = "cpu"

    # --- the stand-ins for the frontend, the passes and get_backend ---
    def ast_to_ttir(
        self, fn: Any, signature: dict[str, str], constexprs: dict[str, Any], attrs: dict[str, Any]
    ) -> FakeModule:
        m = FakeModule(fn.__name__, dict(signature), dict(constexprs), dict(attrs))
        self.frontend_calls.append(m)
        return m

    def optimize_ttir(self, module: FakeModule) -> FakeModule:
        return module

    def get_backend(self, name: str) -> FakeStages:
        assert name == "cpu"
        return self

    # --- the Backend interface ---
    def compile(self, module: FakeModule, options: dict[str, Any]) -> CompiledArtifact:
        self.compile_options.append(dict(options))
        params = [t for t in module.signature.values() if t != "constexpr"]
        return CompiledArtifact(
            module.name,
            {"llir": "; fake llvm ir", "asm": "fake asm"},
            b"\x00fake-binary\xff",
            {"name": module.name, "param_types": params},
        )

    def load(self, artifact: CompiledArtifact) -> FakeKernel:
        self.loads += 1
        return FakeKernel(self, artifact.metadata)

    def target_key(self) -> str:
        return "fake-cpu"


@pytest.fixture
def fake_stages(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> FakeStages:
    """Fake stages and an empty cache directory of this test's own."""
    stages = FakeStages()

    # Looked up on the FakeStages at each call, so a test may replace one of its methods.
    def frontend(c: stages_mod.Compilation, _: None) -> FakeModule:
        return stages.ast_to_ttir(c.src.fn, c.src.signature, c.src.constexprs, c.src.attrs)

    def passes(c: stages_mod.Compilation, module: FakeModule) -> FakeModule:
        return stages.optimize_ttir(module)

    monkeypatch.setitem(stages_mod.STAGES, "frontend", frontend)
    monkeypatch.setitem(stages_mod.STAGES, "passes", passes)
    monkeypatch.setattr(stages_mod, "get_backend", lambda name: stages.get_backend(name))
    monkeypatch.setenv("TRITIUM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("TRITIUM_INTERPRET", raising=False)
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    return stages
