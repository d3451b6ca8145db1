"""``finchain fl``: run a federated job, list its parties, evaluate contributions."""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(
    help="Federated learning: jobs of parties over gRPC with mutual TLS.", no_args_is_help=True
)


@app.command("run")
def run(
    job: Path = typer.Argument(..., help="job YAML file"),
    json_path: Path | None = typer.Option(None, "--json", help="write the results as JSON"),
    workdir: Path | None = typer.Option(
        None, "--workdir", help="certificates, logs and results (default .finchain/fl/…)"
    ),
    no_progress: bool = typer.Option(False, "--no-progress", help="do not draw live progress"),
) -> None:
    """Run JOB: one process per party; live per-round metrics; events in WORKDIR/events.jsonl."""
    from rich.console import Console

    from finchain.cli.paths import ensure_writable
    from finchain.fl.job import load_job
    from finchain.fl.runner import run_job

    ensure_writable(json_path, make_parents=True)
    load_job(job)  # a malformed job is one line here, before any party process starts
    console = Console()
    out = run_job(job, workdir=workdir, console=console, show_progress=not no_progress)
    for party, res in out["results"].items():
        scalars = {
            k: v for k, v in res.items() if isinstance(v, int | float | str) and k != "params"
        }
        shown = ", ".join(
            f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in scalars.items()
        )
        console.print(f"[bold]{party}[/]: {shown}")
    if out["dropped"]:
        console.print(f"[yellow]dropped and tolerated:[/] {', '.join(out['dropped'])}")
    console.print(f"[dim]workdir: {out['workdir']}[/]")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(out, indent=2, default=str) + "\n", encoding="utf-8")


@app.command("parties")
def parties(
    job: Path = typer.Argument(..., help="job YAML file"),
    json_path: Path | None = typer.Option(None, "--json", help="write the list as JSON"),
) -> None:
    """List JOB's parties, their roles, organisations and data (checked to exist)."""
    from rich.console import Console
    from rich.table import Table

    from finchain.cli.paths import ensure_writable
    from finchain.fl.data import resolve
    from finchain.fl.job import load_job

    ensure_writable(json_path)
    spec = load_job(job)
    table = Table(title=f"{spec.name}: {spec.protocol}")
    for col in ("party", "role", "org", "data", "rows"):
        table.add_column(col)
    rows = []
    for p in spec.parties:
        data, n = "-", ""
        if p.data:
            path = resolve(p.data, Path(spec.base_dir))
            data = str(path)
            import pandas as pd

            n = str(len(pd.read_csv(path, usecols=[0])))
        table.add_row(p.name, p.role, p.org or "-", data, n)
        rows.append({"party": p.name, "role": p.role, "org": p.org, "data": data, "rows": n})
    Console().print(table)
    if json_path is not None:
        json_path.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


@app.command("evaluate")
def evaluate(
    job: Path = typer.Argument(..., help="job YAML file (horizontal or hetero_secureboost)"),
    method: str = typer.Option("exact", "--method", help="exact or permutation (Monte-Carlo)"),
    permutations: int = typer.Option(
        20, "--permutations", help="orders sampled by --method permutation"
    ),
    pool: int = typer.Option(1_000_000, "--reward", help="reward pool in minor units (e.g. cents)"),
    json_path: Path | None = typer.Option(None, "--json", help="write the contributions as JSON"),
) -> None:
    """Each party's contribution (Shapley value of test AUC) and its share of a reward pool."""
    from rich.console import Console
    from rich.table import Table

    from finchain.cli.paths import ensure_writable
    from finchain.fl.evaluation import contributions
    from finchain.fl.job import load_job

    ensure_writable(json_path)
    spec = load_job(job)
    out = contributions(spec, method=method, permutations=permutations, pool=pool)
    table = Table(title=f"{spec.name}: contributions ({method})")
    for col in ("party", "shapley", "stderr", "reward"):
        table.add_column(col, justify="right")
    for p in out["players"]:
        table.add_row(
            p, f"{out['shapley'][p]:.5f}", f"{out['stderr'][p]:.5f}", f"{out['reward'][p]:,}"
        )
    console = Console()
    console.print(table)
    console.print(f"v(all) = {out['grand_value']:.4f}, v(none) = {out['empty_value']:.4f}")
    if json_path is not None:
        json_path.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
