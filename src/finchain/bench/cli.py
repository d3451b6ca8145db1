"""``finchain bench NAME``: every benchmark registered in :data:`BENCHMARKS`."""

from __future__ import annotations

import functools
import importlib
import importlib.util
from collections.abc import Callable
from typing import Any

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


def _json_checked_first(cmd: Callable[..., Any]) -> Callable[..., Any]:
    """``cmd`` with its ``--json`` path checked writable before the benchmark runs."""

    @functools.wraps(cmd)
    def run(*args: Any, **kwargs: Any) -> Any:
        from finchain.cli.paths import ensure_writable

        ensure_writable(kwargs.get("json_path"), make_parents=True)
        return cmd(*args, **kwargs)

    return run


for _name, _module in BENCHMARKS.items():
    if importlib.util.find_spec(_module) is None:
        continue
    _cmd = getattr(importlib.import_module(_module), "command", None)
    if _cmd is not None:
        app.command(_name)(_json_checked_first(_cmd))
