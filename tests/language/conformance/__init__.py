"""Conformance suite for ``triton.language``: every group of issue 4, on every backend.

One module per group (elementwise, math, casts, reductions, shapes, memory, atomics, dot,
control flow, random, program model, beyond Triton, misc). Every test takes the ``backend``
fixture (interpreter / cpu / cuda), builds fresh random NumPy inputs (``rng``), poisons its
outputs (``_helpers.poisoned``) and compares against a NumPy reference in higher precision.

Adding a test: write few kernels with many checks each; mark what it checks with
``@pytest.mark.covers("tl.name", ...)``; for a known bug, ``@pytest.mark.xfail_backend(
"cpu", owner="CPU", reason="...", **params)`` and a line in docs/open_items.md.
``python tools/language_status.py`` regenerates docs/language_status.md.
"""
