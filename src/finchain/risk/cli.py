"""``finchain risk …``: train, report, update, strategy, serve, versions."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import typer

from finchain.cli.options import at_least
from finchain.cli.options import port as port_check

app = typer.Typer(
    help="Credit risk: train, report, T+0 update, strategy, scoring service.", no_args_is_help=True
)


def _write_json(path: Path | None, payload: dict[str, Any]) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=2, default=float) + "\n", encoding="utf-8")


def _echo_metrics(metrics: dict[str, dict[str, Any]], champion: str) -> None:
    typer.echo(
        f"{'model':<10} {'valid_auc':>9} {'auc':>7} {'ks':>7} {'gini':>7} {'acc':>7} "
        f"{'brier':>7} {'appr':>6} {'bad@appr':>8}"
    )
    for name, m in metrics.items():
        t = m["test"]
        mark = " *" if name == champion else ""
        typer.echo(
            f"{name:<10} {m['valid']['auc']:>9.4f} {t['auc']:>7.4f} {t['ks']:>7.4f} "
            f"{t['gini']:>7.4f} {t['accuracy']:>7.4f} {t['brier']:>7.4f} "
            f"{t['approval_rate']:>6.3f} {t['bad_rate_approved']:>8.4f}{mark}"
        )


@app.command()
def train(
    data: Path = typer.Option(..., "--data", help="CSV/TSV of labelled applicants."),
    target: str = typer.Option(..., "--target", help="The 0/1 (or two-valued) outcome column."),
    model: str = typer.Option("all", "--model", help="scorecard | lgbm | nn | stack | all"),
    out: Path | None = typer.Option(None, "--out", help="Model directory (registry) to write."),
    json_path: Path | None = typer.Option(None, "--json", help="Write metrics as JSON."),
    seed: int = typer.Option(42, "--seed"),
    quick: bool = typer.Option(
        False, "--quick", help="One LightGBM setting and feature set, no CV search."
    ),
    drop: list[str] = typer.Option([], "--drop", help="Extra columns to drop."),
    report_path: Path | None = typer.Option(None, "--report", help="Write an HTML report."),
) -> None:
    """Train on any tabular credit CSV and report its own seeded held-out split."""
    from finchain.cli.paths import ensure_writable, ensure_writable_dir

    # before minutes of training: an output that cannot be written fails now
    ensure_writable_dir(out, "--out")
    ensure_writable(report_path, "--report", make_parents=True)
    ensure_writable(json_path, make_parents=True)
    from finchain.risk.data import LeakageWarning, load_credit_table
    from finchain.risk.train import TrainConfig
    from finchain.risk.train import train as run_train

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LeakageWarning)
        table = load_credit_table(data, target=target, drop=drop)
    for w in caught:
        if issubclass(w.category, LeakageWarning):
            typer.echo(f"warning: {w.message}", err=True)
    typer.echo(
        f"{data.name}: {len(table.y)} rows, {len(table.schema.columns)} features, "
        f"bad rate {table.bad_rate:.4f}; dropped {table.dropped or 'nothing'}"
    )
    res = run_train(table, TrainConfig(models=tuple(model.split(",")), seed=seed, quick=quick))
    _echo_metrics(res.metrics, res.champion)
    typer.echo(f"champion: {res.champion}  trained in {res.train_s:.1f}s  lgbm: {res.lgbm_choice}")
    summary = res.summary()
    if out is not None:
        from finchain.risk.registry import ModelRegistry

        reg = ModelRegistry(out)
        version = reg.add(
            res.pipelines[res.champion],
            data_sha256=[table.sha256],
            metrics={**res.metrics[res.champion]["test"], "data": str(data)},
            status="champion",
            note=f"trained on {data.name} (target {target})",
        )
        summary["version"] = version
        typer.echo(f"saved {res.champion} as {version} in {out}")
    if report_path is not None or out is not None:
        from finchain.risk.report import render_html, write_report

        preds = {k: p.predict(res.test_x) for k, p in res.pipelines.items()}
        preds = {res.champion: preds.pop(res.champion), **preds}
        path = report_path or (out / "report.html")  # type: ignore[operator]
        write_report(
            path,
            render_html(
                f"finchain risk — {data.name}",
                res.test_y,
                preds,
                cutoffs={k: p.policy.approve_below for k, p in res.pipelines.items()},
                extra={"target": target, "test rows": len(res.test_y), "champion": res.champion},
            ),
        )
        typer.echo(f"report: {path}")
    _write_json(json_path, {"summary": summary, "metrics": res.metrics})


@app.command()
def report(
    model_dir: Path = typer.Option(..., "--model-dir"),
    data: Path = typer.Option(..., "--data", help="Labelled CSV to evaluate on."),
    out: Path = typer.Option(Path("risk-report.html"), "--out"),
    version: str | None = typer.Option(None, "--version"),
    json_path: Path | None = typer.Option(None, "--json"),
) -> None:
    """Evaluate a stored model on labelled data and write the HTML report."""
    from finchain.cli.paths import ensure_writable

    ensure_writable(out, "--out", make_parents=True)
    ensure_writable(json_path, make_parents=True)
    from finchain.risk.data import load_labelled_matrix
    from finchain.risk.metrics import evaluate
    from finchain.risk.registry import ModelRegistry
    from finchain.risk.report import render_html, write_report

    ver, pipe = ModelRegistry(model_dir).load(version)
    x, y, _ = load_labelled_matrix(data, pipe.schema, target=pipe.target)
    p = pipe.predict(pipe.expand(x))
    m = evaluate(y, p, cutoff=pipe.policy.approve_below)
    write_report(
        out,
        render_html(
            f"finchain risk — {ver} on {data.name}",
            y,
            {ver: p},
            cutoffs={ver: pipe.policy.approve_below},
        ),
    )
    typer.echo(" ".join(f"{k}={v:.4f}" for k, v in m.items() if isinstance(v, float)))
    typer.echo(f"report: {out}")
    _write_json(json_path, {"version": ver, **m})


@app.command()
def update(
    model_dir: Path = typer.Option(..., "--model-dir"),
    data: Path = typer.Option(..., "--data", help="Newly labelled CSV (same columns)."),
    extra_trees: int = typer.Option(100, "--extra-trees"),
    holdout: float = typer.Option(0.3, "--holdout", help="Share of the new data kept to compare."),
    min_gain: float = typer.Option(0.0, "--min-gain", help="AUC gain needed to promote."),
    promote: bool = typer.Option(True, "--promote/--no-promote"),
    json_path: Path | None = typer.Option(None, "--json"),
) -> None:
    """T+0: fold new labels into the champion, race the challenger on a holdout, register it."""
    from finchain.cli.paths import ensure_writable

    ensure_writable(json_path, make_parents=True)
    from finchain.risk.data import load_labelled_matrix
    from finchain.risk.registry import ModelRegistry
    from finchain.risk.train import stratified_split
    from finchain.risk.update import champion_challenger, update_pipeline

    reg = ModelRegistry(model_dir)
    ver, champ = reg.load()
    x, y, sha = load_labelled_matrix(data, champ.schema, target=champ.target)
    xe = champ.expand(x)
    tr, ho = stratified_split(y, holdout, 7)
    challenger = update_pipeline(champ, xe[tr], y[tr], extra_trees=extra_trees)
    cmp = champion_challenger(champ, challenger, xe[ho], y[ho], min_gain=min_gain)
    parent = reg.record(ver)
    new_ver = reg.add(
        challenger,
        data_sha256=[*parent["data_sha256"], sha],
        metrics={**cmp.challenger, "holdout_rows": len(ho)},
        parent=ver,
        note=f"T+0 update with {data.name}",
        status="champion" if (promote and cmp.promote) else "challenger",
    )
    s = cmp.summary()
    outcome = "promoted" if promote and cmp.promote else "kept as challenger"
    typer.echo(
        f"champion {ver}: auc {s['champion_auc']:.4f}  challenger {new_ver}: auc "
        f"{s['challenger_auc']:.4f} → {outcome}"
    )
    _write_json(json_path, {"champion": ver, "challenger": new_ver, **s})


@app.command()
def versions(model_dir: Path = typer.Option(..., "--model-dir")) -> None:
    """List the registry's versions."""
    from finchain.risk.registry import ModelRegistry

    for rec in ModelRegistry(model_dir).versions():
        auc = rec["metrics"].get("auc")
        typer.echo(
            f"{rec['version']}  {rec['status']:<10} {rec['kind']:<9} auc={auc:.4f} "
            f"{rec['created']}  {rec['note']}"
        )


@app.command()
def promote(
    model_dir: Path = typer.Option(..., "--model-dir"), version: str = typer.Argument(...)
) -> None:
    """Make a version the champion (the service switches within a second)."""
    from finchain.risk.registry import ModelRegistry

    ModelRegistry(model_dir).promote(version)
    typer.echo(f"{version} is champion")


@app.command()
def strategy(
    model_dir: Path = typer.Option(..., "--model-dir"),
    data: Path = typer.Option(..., "--data", help="Applicants to plan for (CSV)."),
    segment: str | None = typer.Option(None, "--segment", help="Column defining segments."),
    cap: float = typer.Option(0.02, "--bad-rate-cap"),
    min_approval: float = typer.Option(0.0, "--min-approval", help="Per-segment minimum share."),
    limits: str = typer.Option("1000000,2000000,5000000", "--limits", help="Minor units."),
    objective: str = typer.Option("volume", "--objective", help="volume | profit"),
    budget: int | None = typer.Option(None, "--budget", help="Total exposure cap (minor units)."),
    frontier: Path | None = typer.Option(None, "--frontier", help="Write the frontier PNG."),
    json_path: Path | None = typer.Option(None, "--json"),
) -> None:
    """Choose cut-offs per segment and limits under a bad-rate cap (MILP with HiGHS)."""
    from finchain.cli.paths import ensure_writable

    ensure_writable(frontier, "--frontier", make_parents=True)
    ensure_writable(json_path, make_parents=True)
    import numpy as np

    from finchain.risk.data import read_table
    from finchain.risk.errors import SchemaError
    from finchain.risk.registry import ModelRegistry
    from finchain.risk.strategy import (
        efficient_frontier,
        optimise_strategy,
        plot_frontier,
        single_cutoff_curve,
    )

    ver, pipe = ModelRegistry(model_dir).load()
    frame = read_table(data)
    x = pipe.expand(pipe.schema.encode_frame(frame))
    p = pipe.predict(x)
    if segment is None:
        seg = np.array(["all"] * len(p))
    elif segment not in frame.columns:
        raise SchemaError(f"segment column {segment!r} not in the data")
    else:
        seg = frame[segment].astype(str).to_numpy()
    lims = [int(v) for v in limits.split(",")]
    kw: dict[str, Any] = {
        "limits": lims,
        "objective": objective,
        "min_approval": min_approval,
        "budget": budget,
    }
    plan = optimise_strategy(p, seg, bad_rate_cap=cap, **kw)
    typer.echo(
        f"approve {plan.approved}/{plan.applicants} ({plan.approved / plan.applicants:.1%}),"
        f" expected bad rate {plan.expected_bad_rate:.4f} ≤ {cap}, volume {plan.volume}"
    )
    for s in plan.segments:
        typer.echo(
            f"  {s.segment:<12} cut-off p<{s.cutoff:.4f} limit {s.limit} approve "
            f"{s.approved}/{s.applicants} exp. bad {s.expected_bad_rate:.4f}"
        )
    payload: dict[str, Any] = {"model_version": ver, **plan.to_json()}
    if frontier is not None:
        caps = [0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2]
        fr = efficient_frontier(p, seg, caps, **kw)
        plot_frontier(fr, single_cutoff_curve(p, caps), str(frontier))
        payload["frontier"] = fr
        typer.echo(f"frontier: {frontier}")
    _write_json(json_path, payload)


@app.command()
def serve(
    model_dir: Path = typer.Option(..., "--model-dir"),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8600, "--port", callback=port_check),
    indicators: str | None = typer.Option(
        None, "--indicators", help="Live indicators: http://…/{key} or redis://…?prefix=…"
    ),
    workers: int = typer.Option(
        1, "--workers", help="Processes (each polls the registry).", callback=at_least(1)
    ),
) -> None:
    """Run the scoring service (FastAPI on uvicorn with uvloop and httptools)."""
    import os

    import uvicorn

    from finchain.cli.options import ensure_port_free
    from finchain.risk.indicators import indicator_source_from_url
    from finchain.risk.registry import ModelRegistry
    from finchain.risk.service import ENV_INDICATORS, ENV_MODEL_DIR, create_app

    ModelRegistry(model_dir).champion()  # fail fast with a clear message
    ensure_port_free(host, port)
    typer.echo(f"scoring service on http://{host}:{port} (model dir {model_dir})", err=True)
    opts: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "warning",
        "access_log": False,
        "loop": "uvloop",
        "http": "httptools",
    }
    if workers > 1:
        os.environ[ENV_MODEL_DIR] = str(model_dir)
        if indicators:
            os.environ[ENV_INDICATORS] = indicators
        uvicorn.run("finchain.risk.service:app_from_env", factory=True, workers=workers, **opts)
        return
    src = indicator_source_from_url(indicators) if indicators else None
    uvicorn.run(create_app(model_dir, indicators=src), **opts)
