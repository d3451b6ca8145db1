"""Printing and saving benchmark figures."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

Figure = float | int | str | bool | None


def machine_description() -> str:
    """One line naming this machine, for the benchmark record."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def report(
    title: str,
    figures: dict[str, Figure],
    *,
    json_path: Path | None = None,
    console: Console | None = None,
    notes: dict[str, Any] | None = None,
) -> dict[str, Figure]:
    """Print ``figures`` as a table and, with ``json_path``, write them as one flat JSON object.

    Values must be scalars so the JSON stays flat; ``notes`` are printed but not written.
    """
    for key, value in figures.items():
        if not isinstance(value, float | int | str | bool) and value is not None:
            raise TypeError(f"figure {key!r} is {type(value).__name__}, not a scalar")
    console = console or Console()
    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        shown = f"{value:,.3f}" if isinstance(value, float) else str(value)
        table.add_row(key, shown)
    console.print(table)
    for key, value in (notes or {}).items():
        console.print(f"[dim]{key}: {value}[/]")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        payload = dict(figures)
        json_path.write_text(
            json.dumps(payload, indent=2, sort_keys=False) + "\n", encoding="utf-8"
        )
        console.print(f"[dim]figures written to {json_path}[/]")
    return figures


def stamp() -> str:
    """Date and machine line for docs/benchmarks.md entries."""
    return f"{_dt.date.today().isoformat()} on {machine_description()}"
