"""``finchain bench NAME``: every benchmark registered in :data:`BENCHMARKS`."""

from __future__ import annotations

import importlib
import importlib.util

import typer

#: benchmark name → module exposing ``command``.
BENCHMARKS: dict[str, str] = {
    "crypto": "finchain.bench.crypto",
    "chain": "finchain.bench.chain",
    "pipeline": "finchain.bench.pipeline",
    "consortium": "finchain.bench.consortium",
    "scf": "finchain.bench.scf",
    "stream": "finchain.bench.stream",
    "risk": "finchain.bench.risk",
    "scoring": "finchain.bench.scoring",
    "watch": "finchain.bench.watch",
    "fl": "finchain.bench.fl",
}

app = typer.Typer(
    help="Run a benchmark: prints a table; --json PATH writes flat JSON; --quick is ~1 minute.",
    no_args_is_help=True,
)

for _name, _module in BENCHMARKS.items():
    if importlib.util.find_spec(_module) is None:
        continue
    _cmd = getattr(importlib.import_module(_module), "command", None)
    if _cmd is not None:
        app.command(_name)(_cmd)
