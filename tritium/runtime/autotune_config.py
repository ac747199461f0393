"""``Config``: one point of an autotuning space, as Triton's ``triton.Config``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Config"]


class Config:
    """One point of a tuning space: meta-parameter values and launch options.

    ``kwargs`` are the constexpr values the config sets (``{"BLOCK_SIZE_M": 64}``);
    ``num_warps``, ``num_stages``, ``num_ctas`` and ``maxnreg`` are launch options (kept in the
    compiled kernel's key, otherwise ignored on the CPU); ``pre_hook(nargs)`` runs before each
    launch with this config; ``ir_override`` names an IR file to compile instead (Triton's).
    Two configs are equal when their launch values and ``pre_hook`` are, as in Triton.
    """

    def __init__(
        self,
        kwargs: dict[str, Any],
        num_warps: int = 4,
        num_stages: int = 3,
        num_ctas: int = 1,
        maxnreg: int | None = None,
        pre_hook: Callable[[dict[str, Any]], None] | None = None,
        ir_override: str | None = None,
    ) -> None:
        if not isinstance(kwargs, dict):
            raise TypeError(f"Config kwargs must be a dict, got {type(kwargs).__name__}")
        self.kwargs = kwargs
        self.num_warps = num_warps
        self.num_ctas = num_ctas
        self.num_stages = num_stages
        self.maxnreg = maxnreg
        self.pre_hook = pre_hook
        self.ir_override = ir_override

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.kwargs = state.get("kwargs", {})
        self.num_warps = state.get("num_warps", 4)
        self.num_stages = state.get("num_stages", 3)
        self.num_ctas = state.get("num_ctas", 1)
        self.maxnreg = state.get("maxnreg", None)
        self.pre_hook = state.get("pre_hook", None)
        self.ir_override = state.get("ir_override", None)

    def all_kwargs(self) -> dict[str, Any]:
        """The meta-parameters and the launch options that are set, as keyword arguments."""
        opts = (
            ("num_warps", self.num_warps),
            ("num_ctas", self.num_ctas),
            ("num_stages", self.num_stages),
            ("maxnreg", self.maxnreg),
            ("ir_override", self.ir_override),
        )
        return {**self.kwargs, **{k: v for k, v in opts if v is not None}}

    def __str__(self) -> str:
        res = [f"{k}: {v}" for k, v in self.kwargs.items()]
        res.append(f"num_warps: {self.num_warps}")
        res.append(f"num_ctas: {self.num_ctas}")
        res.append(f"num_stages: {self.num_stages}")
        res.append(f"maxnreg: {self.maxnreg}")
        return ", ".join(res)

    def __repr__(self) -> str:
        return f"Config({self})"

    def __hash__(self) -> int:
        return hash((*self.all_kwargs().items(), self.pre_hook))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Config):
            return NotImplemented
        mine = (*self.all_kwargs().items(), self.pre_hook)
        return mine == (*other.all_kwargs().items(), other.pre_hook)
