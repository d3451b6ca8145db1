"""``finchain demo``: the main job.

Until the whole platform lands, the demo runs the most complete real thing that exists: it
creates member keys with the national suite, signs a batch of payment messages and verifies them
across all cores, printing what it did.
"""

from __future__ import annotations

import time

import typer
from rich.console import Console
from rich.progress import track
from rich.table import Table

app = typer.Typer(help="Run the main job (the platform on real data).", no_args_is_help=True)


@app.command("run")
def run(
    once: bool = typer.Option(False, "--once", help="Exit when the replay is done."),
    quick: bool = typer.Option(False, "--quick", help="A small slice of the data."),
) -> None:
    """Run the demo."""
    from finchain.crypto import get_suite

    console = Console()
    suite = get_suite("gm")
    n = 200 if quick else 2000
    console.print(f"[bold]finchain demo[/] — suite {suite!r}")
    keys = [suite.generate_key() for _ in track(range(8), description="member keys")]
    items = []
    for i in track(range(n), description="signing payments"):
        key = keys[i % len(keys)]
        msg = f"payment {i} amount {100 + i}".encode()
        items.append((key.public_key(), msg, suite.sign(key, msg)))
    t0 = time.perf_counter()
    ok = suite.verify_batch(items)
    dt = time.perf_counter() - t0
    table = Table(title="summary")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("members", str(len(keys)))
    table.add_row("signed payments", str(n))
    table.add_row("verified", str(sum(ok)))
    table.add_row("verify/s (all cores)", f"{n / dt:,.0f}")
    console.print(table)
