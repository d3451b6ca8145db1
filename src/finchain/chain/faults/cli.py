"""``finchain faults``: run fault scenarios on a local network and tabulate recovery times.

    finchain faults list
    finchain faults run short --consensus hotstuff --json out.json
    finchain faults run all --consensus hotstuff,pbft,raft --json table.json
    finchain faults run my-scenario.yaml --keep /tmp/net      # keep the network directory

Register with one line in ``SUBCOMMANDS`` (``"faults": "finchain.chain.faults.cli"``).
"""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    help="End-to-end fault scenarios (kill, pause, partition, delay, drop) on real nodes.",
    no_args_is_help=True,
)


@app.command("list")
def list_scenarios() -> None:
    """The shipped scenarios and what each does."""
    from finchain.chain.faults.scenario import Scenario, builtin_dir

    for path in sorted(builtin_dir().glob("*.yaml")):
        sc = Scenario.load(path)
        desc = " ".join(sc.description.split())
        typer.echo(f"{sc.name:14s} {sc.fault_model:9s} {len(sc.timeline):2d} events  {desc}")


@app.command("run")
def run(
    scenario: str = typer.Argument(..., help="a shipped name, a YAML path, or 'all'"),
    consensus: str = typer.Option("hotstuff", help="comma-separated algorithms"),
    suite: str = typer.Option("gm", help="crypto suite (gm or intl)"),
    seed: int = typer.Option(0, help="seed of the proxies' random drops and delays"),
    keep: Path | None = typer.Option(None, help="lay the networks out here and keep them"),
    json_path: Path | None = typer.Option(None, "--json", help="write the results as JSON"),
) -> None:
    """Run scenario(s) for each algorithm; exits 1 if any invariant failed."""
    import json
    import shutil
    import tempfile

    from finchain.chain.faults.harness import run_scenario
    from finchain.chain.faults.scenario import Scenario, builtin, builtin_dir
    from finchain.errors import FinchainError

    if scenario == "all":
        scenarios = [Scenario.load(p) for p in sorted(builtin_dir().glob("*.yaml"))]
    elif scenario.endswith((".yaml", ".yml")):
        scenarios = [Scenario.load(Path(scenario))]
    else:
        scenarios = [builtin(scenario)]
    rows = []
    failed = False
    for algo in [a.strip() for a in consensus.split(",") if a.strip()]:
        for sc in scenarios:
            if not sc.applies_to(algo):
                typer.echo(f"skip {sc.name} for {algo} ({sc.fault_model} scenario)")
                continue
            base = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="finchain-faults-"))
            directory = base / f"{sc.name}-{algo}"
            try:
                r = run_scenario(sc, directory, consensus=algo, suite=suite, seed=seed)
            except FinchainError as exc:  # e.g. a node exits during start-up: report, go on
                typer.echo(f"{sc.name:14s} {algo:9s} FAILED {exc}")
                rows.append(
                    {"scenario": sc.name, "consensus": algo, "ok": False, "error": str(exc)}
                )
                failed = True
                continue
            finally:
                if keep is None:
                    shutil.rmtree(base, ignore_errors=True)
            row = r.summary()
            row["recovery"] = r.recoveries
            row["problem_list"] = r.problems
            rows.append(row)
            failed |= not r.ok
            rec = row["max_recovery_s"]
            typer.echo(
                f"{sc.name:14s} {algo:9s} {'ok' if r.ok else 'FAILED':6s} "
                f"height {r.common_height:5d}  acked {r.acknowledged:4d}/{r.sent:<4d} "
                f"max recovery {rec if rec is not None else '-'} s  ({r.wall_s:.0f} s)"
            )
            for p in r.problems:
                typer.echo(f"    {p}")
    if json_path is not None:
        json_path.write_text(json.dumps(rows, indent=1, default=str), encoding="utf-8")
    if failed:
        raise typer.Exit(1)
