"""``finchain watch …``: chain supervision and anti-fraud from the command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from finchain.cli.options import writable_file
from finchain.regtech.errors import BadInput, DataNotFound

app = typer.Typer(
    help="Chain supervision: typology alerts, fund tracing, illicit accounts, scam text, "
    "stablecoin checks.",
    no_args_is_help=True,
)

DEFAULT_DB = Path(".finchain/watch/alerts.sqlite")
SHARED = Path("../shared/data")
SAMPLES = Path(__file__).resolve().parents[3] / "data" / "ethereum_samples"


@contextmanager
def _hint(text: str) -> Iterator[None]:
    """Data missing inside: say how *this* command is told where it is."""
    try:
        yield
    except DataNotFound as exc:
        raise exc.hinted(text) from None


def _write_json(path: Path | None, payload: Any) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    typer.echo(f"written {path}")


@app.command()
def replay(
    source: Path = typer.Argument(
        SAMPLES / "erc20_transfers_12600000.csv.gz",
        help="Ethereum CSV export (ethereum-etl transactions or token transfers; .gz ok), or "
        "'generated' for an AMLSim-driven labelled scenario.",
    ),
    db: Path = typer.Option(DEFAULT_DB, help="SQLite alert store."),
    accounts: int = typer.Option(1_000, help="generated: accounts."),
    days: int = typer.Option(45, help="generated: days."),
    seed: int = typer.Option(0, help="generated: seed."),
    per_token: bool = typer.Option(
        True, help="Keep each token's flows apart (amounts of different tokens never mix)."
    ),
    json_path: Path | None = typer.Option(
        None, "--json", help="Write the summary as JSON.", callback=writable_file
    ),
) -> None:
    """Replay transfers block by block through the ten typology detectors; store the alerts."""
    import numpy as np

    from finchain.regtech.alerts.store import AlertStore
    from finchain.regtech.chainwatch.engine import Watcher
    from finchain.regtech.chainwatch.sources import blocks_of, read_ethereum_csv

    if str(source) != "generated" and not source.exists():  # before the store is made
        raise DataNotFound("transfer file", source, "pass the file as the SOURCE argument")
    store = AlertStore(db)
    seen: dict[str, Any] = {}

    def sink(batch: Any) -> None:
        store.save(batch, source=str(source))
        seen.update({a.alert_id: a for a in batch})

    w = Watcher(sink=sink)
    summary: dict[str, Any] = {"source": str(source)}
    if str(source) == "generated":
        from finchain.regtech.chainwatch.evaluate import score_alerts
        from finchain.regtech.chainwatch.generator import generate

        sc = generate(accounts=accounts, days=days, warmup_days=min(30, days - 5), seed=seed)
        for block, txs in sc.blocks():
            w.on_block(block, txs)
        final = [
            a
            for a in seen.values()
            if a.superseded_by is None and int(a.details.get("first_ts", 0)) >= sc.warmup_end
        ]
        scores = score_alerts(final, sc)
        summary["f1"] = {k: round(s.f1, 4) for k, s in scores.items()}
    else:
        from finchain.regtech.chainwatch.sources import split_tokens

        stream = read_ethereum_csv(source)
        for block, txs in blocks_of(split_tokens(stream) if per_token else stream):
            w.on_block(block, txs)
    lat = w.latencies_ms
    summary.update(
        transfers=w.transfers,
        blocks=w.blocks,
        alerts_by_typology=store.counts_by_typology(),
        alert_p99_ms=float(np.percentile(lat, 99)) if lat else None,
        store=str(db),
    )
    typer.echo(json.dumps(summary, indent=2))
    _write_json(json_path, summary)


@app.command()
def follow(
    url: str = typer.Argument("http://127.0.0.1:8545", help="A finchain node's RPC URL."),
    db: Path = typer.Option(DEFAULT_DB, help="SQLite alert store."),
    blocks: int | None = typer.Option(None, help="Stop after this many blocks."),
) -> None:
    """Watch a live finchain node: every committed block through the typology detectors."""
    import asyncio

    from finchain.regtech.alerts.store import AlertStore
    from finchain.regtech.chainwatch.engine import Watcher
    from finchain.regtech.chainwatch.follow import follow as run_follow

    store = AlertStore(db)

    def show(alerts: list[Any]) -> None:
        store.save(alerts, source=url)
        for a in alerts:
            typer.echo(f"block {a.block}: {a.typology} {a.summary} ({a.latency_ms:.1f} ms)")

    try:
        n = asyncio.run(run_follow(url, Watcher(), max_blocks=blocks, on_alerts=show))
    except OSError as exc:
        raise BadInput(f"cannot reach {url}: {exc}") from exc
    typer.echo(f"{n} blocks watched; {store.count(include_superseded=False)} open alerts")


@app.command()
def trace(
    seed: str = typer.Argument(..., help="Seed address (0x…) or transaction id."),
    source: Path = typer.Option(SAMPLES / "erc20_transfers_12600000.csv.gz", help="Transfers."),
    direction: str = typer.Option("forward", help="forward or backward."),
    hops: int = typer.Option(3, help="Hops to follow."),
    method: str = typer.Option("haircut", help="poison, haircut or fifo."),
    token: str | None = typer.Option(None, help="Only this token contract."),
    labels_dir: Path = typer.Option(SHARED, help="Where Etherscan/CryptoScamDB labels are."),
    png: Path | None = typer.Option(None, help="Draw the flow graph to this PNG."),
    json_path: Path | None = typer.Option(
        None, "--json", help="Write the trace as JSON.", callback=writable_file
    ),
) -> None:
    """Follow funds from an address or transaction, with exposure to labelled addresses."""
    from finchain.regtech.chainwatch.labels import default_labels
    from finchain.regtech.chainwatch.sources import read_ethereum_csv
    from finchain.regtech.chainwatch.tracing import draw
    from finchain.regtech.chainwatch.tracing import trace as run_trace

    with _hint("pass its location with --source"):
        txs = [t for t in read_ethereum_csv(source) if token is None or t.token == token.lower()]
    labels, notes = default_labels(labels_dir, hint="pass their directory with --labels-dir")
    for n in notes:
        typer.echo(n, err=True)
    is_addr = seed.startswith("0x") and len(seed) == 42
    result = run_trace(
        txs,
        seed_address=seed if is_addr else None,
        seed_tx=None if is_addr else seed,
        direction=direction,  # type: ignore[arg-type]
        hops=hops,
        method=method,  # type: ignore[arg-type]
        labels=labels,
    )
    payload = result.to_dict()
    typer.echo(json.dumps(payload["summary"], indent=2))
    for row in payload["exposure"][:20]:
        typer.echo(f"  {row['kind']:8s} hop {row['hops']} {row['address']} {row['categories']}")
    _write_json(json_path, payload)
    if png is not None:
        draw(result, png)
        typer.echo(f"drawn {png}")


@app.command("score-accounts")
def score_accounts(
    csv_path: Path = typer.Argument(..., help="CSV with the Ethereum account-feature columns."),
    data: Path = typer.Option(
        SHARED / "ethereum_fraud_accounts" / "transaction_dataset.csv",
        help="Training data (used when no model is cached yet).",
    ),
    retrain: bool = typer.Option(False, help="Retrain even if a cached model exists."),
    cv: bool = typer.Option(False, help="Also report 10-fold cross-validation on --data."),
    out: Path | None = typer.Option(None, help="Write address,score rows to this CSV."),
    json_path: Path | None = typer.Option(
        None, "--json", help="Write the figures as JSON.", callback=writable_file
    ),
) -> None:
    """Score accounts as illicit (LightGBM); report AUC/accuracy when FLAG is present."""
    from finchain.regtech.accounts.model import (
        LABEL,
        AccountModel,
        cross_validate,
        load_accounts,
        metrics,
    )

    with _hint("pass the file as the CSV_PATH argument"):
        df = load_accounts(csv_path)
    model, how = AccountModel.cached_or_trained(data, retrain=retrain)
    typer.echo(how, err=True)
    p = model.score(df)
    figures: dict[str, Any] = {"rows": len(df), "flagged": int((p >= 0.5).sum())}
    if LABEL in df.columns:
        figures.update(metrics(df[LABEL].to_numpy(dtype=int), p))
        if csv_path.resolve() == data.resolve():
            figures["note"] = "scored the training file: in-sample figures; use --cv"
    if cv:
        res = cross_validate(load_accounts(data))
        figures.update(cv_auc=res.auc, cv_accuracy=res.accuracy, cv_folds=res.folds)
    if out is not None:
        ids = df["Address"] if "Address" in df.columns else range(len(df))
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8") as fh:
            fh.write("address,score\n")
            for a, s in zip(ids, p, strict=True):
                fh.write(f"{a},{s:.6f}\n")
    typer.echo(json.dumps(figures, indent=2))
    _write_json(json_path, figures)


@app.command("classify-text")
def classify_text(
    file: Path | None = typer.Argument(None, help="CSV file; omit to read lines from stdin."),
    text_col: str = typer.Option("text", "--text-col", help="Column with the text."),
    label_col: str | None = typer.Option(None, "--label-col", help="Column with true labels."),
    lang: str = typer.Option("en", help="cn (telecom fraud) or en (pump-and-dump hype)."),
    data: Path | None = typer.Option(None, help="Training corpus (default ../shared/data/…)."),
    retrain: bool = typer.Option(False, help="Retrain even if a cached model exists."),
    json_path: Path | None = typer.Option(
        None, "--json", help="Write figures/predictions.", callback=writable_file
    ),
) -> None:
    """Classify texts as scam/hype; on a labelled file report accuracy and macro-F1."""
    import csv

    from finchain.regtech.text.classifier import cached_or_trained, normalise_labels, report

    if lang not in ("cn", "en"):
        raise BadInput("--lang must be cn or en")
    model, how = cached_or_trained(lang, data, retrain=retrain)  # type: ignore[arg-type]
    typer.echo(how, err=True)
    labels: list[str] | None = None
    if file is None:
        texts = [line.rstrip("\n") for line in sys.stdin if line.strip()]
    else:
        if not file.exists():
            raise BadInput(f"no such file: {file}")
        with file.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        if rows and text_col not in rows[0]:
            raise BadInput(f"{file} has no column {text_col!r} (has {sorted(rows[0])})")
        texts = [r[text_col] or "" for r in rows]
        if label_col:
            if rows and label_col not in rows[0]:
                raise BadInput(f"{file} has no column {label_col!r}")
            labels = normalise_labels(lang, [str(r[label_col]).strip() for r in rows])  # type: ignore[arg-type]
    preds = model.predict(texts)
    payload: dict[str, Any] = {"rows": len(texts)}
    if labels is not None:
        rep = report(labels, preds)
        payload.update(accuracy=rep.accuracy, macro_f1=rep.macro_f1, per_class=rep.per_class)
        typer.echo(json.dumps({k: v for k, v in payload.items()}, indent=2, ensure_ascii=False))
    else:
        for t, p in zip(texts, preds, strict=True):
            typer.echo(f"{p}\t{t[:80]}")
    payload["predictions"] = preds
    _write_json(json_path, payload)


@app.command()
def alerts(
    db: Path = typer.Option(DEFAULT_DB, help="SQLite alert store."),
    typology: str | None = typer.Option(None, help="Only this typology."),
    alert_id: str | None = typer.Option(None, "--id", help="Show one alert with evidence."),
    limit: int = typer.Option(20, help="How many to list."),
    serve: bool = typer.Option(False, help="Serve the HTTP API instead of listing."),
    host: str = typer.Option("127.0.0.1", help="Bind address for --serve."),
    port: int = typer.Option(8088, help="Port for --serve."),
    json_path: Path | None = typer.Option(
        None, "--json", help="Write the listing as JSON.", callback=writable_file
    ),
) -> None:
    """List stored alerts, show one, or serve them (GET /v1/alerts, /v1/alerts/{id})."""
    from finchain.regtech.alerts.store import AlertStore

    if not db.exists():
        raise BadInput(f"no alert store at {db}: run `finchain watch replay` first")
    store = AlertStore(db)
    if serve:
        import uvicorn

        from finchain.regtech.alerts.api import create_app

        uvicorn.run(create_app(store), host=host, port=port, log_level="warning")
        return
    if alert_id:
        found = store.get(alert_id)
        if found is None:
            raise BadInput(f"no alert {alert_id}")
        typer.echo(json.dumps(found, indent=2))
        _write_json(json_path, found)
        return
    items = store.list(typology=typology, limit=limit)
    for a in items:
        typer.echo(f"{a['id']}  {a['typology']:18s} block {a['block']:>9}  {a['summary'][:70]}")
    typer.echo(f"{store.count(include_superseded=False)} open alerts: {store.counts_by_typology()}")
    _write_json(json_path, items)


@app.command("stablecoin-check")
def stablecoin_check(
    ledger: Path | None = typer.Argument(
        None, help="JSON-lines ledger or ERC-20 CSV; omit with --generate."
    ),
    generate: bool = typer.Option(False, help="Check a generated ledger instead."),
    inject: str = typer.Option("", help="Generated: rule ids to violate, comma-separated."),
    minters: str = typer.Option("issuer", help="Authorised minters, comma-separated."),
    treasury: str = typer.Option("treasury", help="Treasury addresses, comma-separated."),
    json_path: Path | None = typer.Option(
        None, "--json", help="Write the findings as JSON.", callback=writable_file
    ),
) -> None:
    """Check a stablecoin ledger against the supervision standard's on-chain rules."""
    from finchain.regtech.stablecoin.checker import Policy, check_ledger
    from finchain.regtech.stablecoin.ledger import generate_ledger, read_ledger

    if generate:
        rules = [r.strip() for r in inject.split(",") if r.strip()]
        events = generate_ledger(violations=rules)
    elif ledger is None:
        raise BadInput("give a ledger file or --generate")
    else:
        with _hint("pass the file as the LEDGER argument"):
            events = read_ledger(ledger)
    policy = Policy(
        authorised_minters=frozenset(
            m.strip().lower() if m.startswith("0x") else m.strip() for m in minters.split(",")
        ),
        treasury=frozenset(t.strip() for t in treasury.split(",")),
    )
    findings = check_ledger(events, policy)
    by_rule: dict[str, int] = {}
    for f in findings:
        by_rule[f.rule] = by_rule.get(f.rule, 0) + 1
        typer.echo(f"{f.rule}  ts {f.ts}  {f.message}")
    typer.echo(f"{len(events)} events, {len(findings)} findings {by_rule}")
    _write_json(
        json_path,
        {"events": len(events), "by_rule": by_rule, "findings": [f.to_dict() for f in findings]},
    )
