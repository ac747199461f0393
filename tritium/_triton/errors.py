"""``triton.errors``: ``TritonError``, the base of every error tritium raises."""

from tritium.errors import TritonError  # noqa: F401
