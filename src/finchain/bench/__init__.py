"""Benchmarks behind ``finchain bench NAME``.

The convention every benchmark follows: it prints a table of figures and, with ``--json PATH``,
writes them as one flat JSON object; ``--quick`` finishes in about a minute on 2 cores.
Each benchmark lives in ``finchain.bench.<name>`` and exposes ``command``, a function typer can
turn into a command (its options are its own), which ends with :func:`report`.
"""

from finchain.bench.report import report

__all__ = ["report"]
