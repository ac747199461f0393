"""Command-line tools: ``tritium-opt`` (``opt.py``: named passes over a .ttir file) and
``python -m tritium.tools.ab`` (``ab.py``: a pipeline change on one kernel of a script: IR diff,
machine-code diff, timings with a noise floor)."""
