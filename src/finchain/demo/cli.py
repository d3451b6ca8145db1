"""``finchain demo run``: the whole platform on real data, with the console.

One line per step, a progress bar for the SCMS replay, a summary table at the end; the console
stays on http://127.0.0.1:8080 until Ctrl-C (``--once`` exits after the replay).
"""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Run the main job (the platform on real data).", no_args_is_help=True)


@app.command("run")
def run(
    once: bool = typer.Option(False, "--once", help="Exit when the replay is done."),
    quick: bool = typer.Option(False, "--quick", help="A small slice of the data (CI)."),
    limit: int | None = typer.Option(
        None, "--limit", help="SCMS deliveries (default 0: all 4,911; --quick: 36)."
    ),
    data_dir: Path = typer.Option(
        Path(".finchain/demo"), "--dir", help="Where the demo keeps data."
    ),
    port: int = typer.Option(8080, "--port", help="Console port (127.0.0.1)."),
    chunk: int = typer.Option(48, "--chunk", help="Deliveries per round of transactions."),
    parallel: int = typer.Option(3, "--parallel", help="Replay chunks in flight at once."),
    json_path: Path | None = typer.Option(None, "--json", help="Write the summary here."),
) -> None:
    """Bring the platform up, replay the USAID SCMS deliveries, serve the console."""
    import asyncio
    import faulthandler
    import json
    import logging
    import signal

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from finchain.demo.runner import Demo, DemoOptions

    logging.basicConfig(level=logging.WARNING)
    # `kill -USR1 <pid>` prints every thread's stack to stderr (diagnosing a stuck demo)
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    console = Console()
    console.print(f"[bold]finchain demo[/] — data in {data_dir}" + (" (quick)" if quick else ""))
    progress = Progress(
        TextColumn("[bold]SCMS replay"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} deliveries"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    task = progress.add_task("replay", total=None, start=False)

    def on_progress(done: int, total: int) -> None:
        if not progress.tasks[task].started:
            progress.start()
            progress.start_task(task)
        progress.update(task, completed=done, total=total)

    demo = Demo(
        DemoOptions(
            root=data_dir,
            quick=quick,
            once=once,
            limit=limit,
            port=port,
            chunk=chunk,
            parallel=parallel,
        ),
        say=console.print,
        progress=on_progress,
    )

    async def main() -> dict[str, object]:
        try:
            return await demo.run()
        finally:
            progress.stop()

    try:
        summary = asyncio.run(main())
    except (KeyboardInterrupt, asyncio.CancelledError):
        summary = demo.state.summary
        console.print("[yellow]stopped[/] (the chain is down; its data is kept for the next run)")
    if summary:
        table = Table(title="finchain demo — summary (figures read back from the chain)")
        table.add_column("figure")
        table.add_column("value", justify="right")
        for k, v in summary.items():
            table.add_row(k, str(v))
        console.print(table)
        if json_path is not None:
            json_path.write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
