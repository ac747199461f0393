"""Run-time scalar parameters typed by their annotation, as Triton types them: ``v: tl.float16``
is an fp16 argument whatever the Python value, ``n: int`` an i32 (``runtime/jit.py`` for compiled
launches, ``interpreter/launcher.py`` for interpreted ones)."""

from __future__ import annotations

from typing import Any

from tritium.errors import IntegerOverflowError
from tritium.language import dtypes

__all__ = ["annotated_signature_type", "annotation_type"]


def annotation_type(annotation: Any) -> str | None:
    """The scalar type a parameter's annotation names, as a signature string, or None.

    Triton types a run-time scalar argument by its parameter's annotation when that names a
    scalar type: ``v: tl.float16`` or ``v: "tl.int8"`` compiles ``v`` as fp16/i8 whatever
    the Python value, and ``n: int`` as i32. Annotations that name no scalar type
    (``torch.Tensor``, ``tl.constexpr``, pointer types, anything unknown) leave the argument
    typed by its value.
    """
    if isinstance(annotation, dtypes.dtype):
        name = annotation.name
    elif isinstance(annotation, type):  # int, float, bool, np.float32 (by name, as Triton)
        name = annotation.__name__
    elif isinstance(annotation, str):
        name = annotation.strip().removeprefix("triton.language.").removeprefix("tl.")
    else:
        return None
    if name in ("uint1", "u1"):  # Triton's canonical bool
        return "i1"
    if len(name) < 2 or name.startswith("*") or "const" in name or name == "void":
        return None
    try:
        ty = dtypes.str_to_ty(name.replace("_t", ""))  # C spellings: int8_t
    except (TypeError, ValueError, KeyError):
        return None
    if not isinstance(ty, dtypes.dtype) or ty.is_ptr() or ty.is_block():
        return None
    name = ty.name  # Triton's short spelling: uint8 -> u8, int32 -> i32, fp16 as is
    if name.startswith("uint"):
        return "u" + name[4:]
    return "i" + name[3:] if name.startswith("int") else name


def annotated_signature_type(name: str, ty: Any, annotated: str | None) -> Any:
    """A run-time argument's signature type: its annotation's scalar type when it has one and
    the value is a scalar (Triton types ``v: tl.float16`` as fp16 whatever the value).

    An integer converts as C does (``v: tl.uint8`` given 300 is 44, in both modes), except
    that a value that needs 64 bits for an annotation of fewer is an
    :class:`~tritium.errors.IntegerOverflowError`: that
    is decided by the value's 64-bit key, so it holds for every launch, not just the first."""
    if annotated is None or not isinstance(ty, str) or ty.startswith("*") or ty == "none":
        return ty
    if ty in ("i64", "u64") and annotated[0] in "iu" and annotated not in ("i64", "u64"):
        raise IntegerOverflowError(
            f"argument '{name}': the value needs 64 bits, its annotation is {annotated}"
        )
    return annotated
