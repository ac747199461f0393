"""Conformance suite for ``triton.language``: every group of issue 4, on every backend."""
