"""``finchain stream …``: run jobs, manage rules, query indicators."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

app = typer.Typer(
    help="Real-time compute engine: jobs, rules, indicator queries.", no_args_is_help=True
)
rules_app = typer.Typer(
    help="Add, list and remove rules (a JSON file jobs hot-reload).", no_args_is_help=True
)
app.add_typer(rules_app, name="rules")

DEFAULT_RULES = Path(".finchain/stream/rules.json")


def _write_json(path: Path | None, payload: dict[str, Any]) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")


@app.command("run")
def run(
    job: Path = typer.Argument(..., help="Job YAML file."),
    max_batches: int | None = typer.Option(None, help="Stop after this many batches."),
    json_path: Path | None = typer.Option(None, "--json", help="Write the run summary as JSON."),
) -> None:
    """Run a job (source → indicators/rules → sinks, checkpoints, optional query servers)."""
    import asyncio

    from finchain.cli.paths import ensure_writable
    from finchain.stream.job import load_job, run_job

    ensure_writable(json_path, make_parents=True)
    spec = load_job(job)

    def ready(ports: dict[str, int]) -> None:
        for name, port in ports.items():
            typer.echo(f"serving {name} on 127.0.0.1:{port}", err=True)

    summary = asyncio.run(
        run_job(
            spec, max_batches=max_batches, on_ready=ready, log=lambda m: typer.echo(m, err=True)
        )
    )
    typer.echo(" ".join(f"{k}={v}" for k, v in summary.items()))
    _write_json(json_path, summary)


@app.command("worker")
def worker(
    job: Path = typer.Argument(..., help="Job YAML whose source is {type: nats, ...}."),
    index: int = typer.Option(0, "--worker", help="This worker's index (0-based)."),
    workers: int = typer.Option(1, "--workers", help="Number of workers."),
    idle: float = typer.Option(2.0, help="Stop after this many seconds without messages."),
    expected: int | None = typer.Option(None, help="...and once this many events are applied."),
    json_path: Path | None = typer.Option(None, "--json", help="Write the summary as JSON."),
) -> None:
    """Consume this worker's key partitions from NATS JetStream (checkpointed, restartable)."""
    import asyncio

    from finchain.cli.paths import ensure_writable
    from finchain.stream.cluster import run_worker
    from finchain.stream.job import load_job

    ensure_writable(json_path, make_parents=True)
    spec = load_job(job)
    summary = asyncio.run(
        run_worker(spec, worker=index, workers=workers, idle_seconds=idle, expected=expected)
    )
    typer.echo(" ".join(f"{k}={v}" for k, v in summary.items()))
    _write_json(json_path, summary)


@app.command("publish")
def publish(
    job: Path = typer.Argument(..., help="Job YAML whose source is {type: nats, ...}."),
    data: Path = typer.Argument(..., help="CSV or Parquet file of events."),
    key: str = typer.Option(..., help="Partitioning key field."),
    time_field: str = typer.Option("ts", help="Event time column (ms)."),
) -> None:
    """Publish a file's events to the job's partitioned JetStream subjects."""
    import asyncio

    from finchain.stream.cluster import publish_events
    from finchain.stream.job import load_job
    from finchain.stream.sources import ReplaySource

    spec = load_job(job)
    src = spec["source"]
    rs = ReplaySource(data, time_field=time_field)
    names = list(rs.cols)
    cols = {k: rs.cols[k].tolist() for k in names}
    rows = [{k: cols[k][i] for k in names} for i in range(len(rs))]
    n = asyncio.run(
        publish_events(
            src["servers"],
            src["stream"],
            src["prefix"],
            rows,
            key=key,
            partitions=int(src["partitions"]),
        )
    )
    typer.echo(f"published {n} events")


@rules_app.command("add")
def rules_add(
    name: str = typer.Argument(..., help="Rule name."),
    text: str = typer.Argument(..., help="e.g. WHEN sum(amount, 5m) BY card > 50000 THEN alert"),
    file: Path = typer.Option(DEFAULT_RULES, "--file", help="Rules file."),
) -> None:
    """Validate a rule and add (or replace) it; running jobs pick it up without restart."""
    from finchain.stream.job import RulesFile

    RulesFile(file).add(name, text)
    typer.echo(f"rule {name} saved to {file}")


@rules_app.command("list")
def rules_list(
    file: Path = typer.Option(DEFAULT_RULES, "--file", help="Rules file."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List the rules."""
    from finchain.stream.job import RulesFile

    rules = RulesFile(file).load()
    if json_out:
        typer.echo(json.dumps(rules, indent=2, sort_keys=True))
        return
    for name, text in sorted(rules.items()):
        typer.echo(f"{name}: {text}")


@rules_app.command("remove")
def rules_remove(
    name: str = typer.Argument(..., help="Rule name."),
    file: Path = typer.Option(DEFAULT_RULES, "--file", help="Rules file."),
) -> None:
    """Remove a rule."""
    from finchain.stream.job import RulesFile

    RulesFile(file).remove(name)
    typer.echo(f"rule {name} removed from {file}")


@app.command("query")
def query(
    key: str = typer.Argument(..., help="The key (card, account, ...)."),
    indicator: str | None = typer.Option(None, "--indicator", "-i", help="name.stat only."),
    host: str = typer.Option("127.0.0.1", help="Query server host."),
    port: int = typer.Option(6390, help="Query server Redis-protocol port."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Ask a running job's query server for a key's indicators (over the Redis protocol)."""
    import redis

    from finchain.stream.errors import StreamError

    client = redis.Redis(host=host, port=port, socket_timeout=5)
    try:
        if indicator:
            raw = client.execute_command("IND.GET", key, indicator)
            values: dict[str, Any] = {indicator: None if raw is None else float(raw)}
        else:
            flat = client.execute_command("IND.ALL", key)
            values = {flat[i].decode(): float(flat[i + 1]) for i in range(0, len(flat), 2)}
    except redis.RedisError as exc:
        raise StreamError(f"query server {host}:{port}: {exc}") from exc
    finally:
        client.close()
    if not values or all(v is None for v in values.values()):
        raise StreamError(f"no indicators for key {key!r}")
    if json_out:
        typer.echo(json.dumps({"key": key, "indicators": values}, indent=2))
    else:
        for name, v in values.items():
            typer.echo(f"{name}\t{v}")
