"""``finchain bench watch``: chain supervision figures.

* per-typology F1 of the ten detectors on an AMLSim-driven generated scenario (``f1_min`` and
  ``f1_<typology>``), alert latency from block arrival (``alert_p99_ms``) and detector
  throughput (``tx_per_s``);
* the illicit-account model's cross-validated ``account_auc``/``account_accuracy``;
* the text models' held-out ``text_macro_f1_cn`` / ``text_macro_f1_en`` (binary hype) and
  ``text_macro_f1_en_6class``.

Research data are read from ``../shared/data`` (``--data``); a missing set skips its keys with
a note. ``--skip-detectors`` measures only the models, ``--skip-models`` only the detectors.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from finchain.bench.report import Figure, report


def command(
    quick: bool = typer.Option(False, "--quick", help="Smaller scenario, 5-fold CV."),
    json_path: Path | None = typer.Option(None, "--json", help="Write figures as flat JSON."),
    data: Path = typer.Option(Path("../shared/data"), help="Research data root."),
    seed: int = typer.Option(0, help="Scenario seed."),
    skip_models: bool = typer.Option(False, help="Only the detectors (no account/text models)."),
    skip_detectors: bool = typer.Option(
        False, help="Only the account/text models (no generated scenario)."
    ),
) -> None:
    """Detector F1/latency/throughput, account model AUC, text macro-F1."""
    import numpy as np

    from finchain.regtech.chainwatch.evaluate import evaluate
    from finchain.regtech.chainwatch.generator import generate
    from finchain.regtech.errors import DataNotFound

    if skip_models and skip_detectors:
        raise typer.BadParameter("--skip-models and --skip-detectors together leave nothing to do")
    figures: dict[str, Figure] = {}
    notes: dict[str, Any] = {}
    t0 = time.perf_counter()
    if not skip_detectors:
        accounts, days, inst = (1_000, 60, 8) if quick else (2_000, 60, 20)
        sc = generate(accounts=accounts, days=days, warmup_days=30, instances=inst, seed=seed)
        ev = evaluate(sc)
        figures["f1_min"] = round(ev.f1_min, 4)
        for name, s in sorted(ev.scores.items()):
            figures[f"f1_{name}"] = round(s.f1, 4)
        for name, s in sorted(ev.scores.items()):
            figures[f"precision_{name}"] = round(s.precision, 4)
            figures[f"recall_{name}"] = round(s.recall, 4)
        figures["alert_p99_ms"] = round(float(np.percentile(ev.latencies_ms, 99)), 2)
        figures["alert_p50_ms"] = round(float(np.percentile(ev.latencies_ms, 50)), 2)
        figures["tx_per_s"] = round(ev.tx_per_s, 1)
        figures["transfers"] = ev.transfers
        figures["instances"] = len(sc.instances)
        notes["scenario"] = f"{accounts} accounts, {days} days (30 warm-up), {inst} per typology"
    if not skip_models:
        from finchain.regtech.accounts.model import cross_validate, load_accounts

        try:
            df = load_accounts(data / "ethereum_fraud_accounts" / "transaction_dataset.csv")
            res = cross_validate(df, folds=5 if quick else 10, rounds=200 if quick else 400)
            figures["account_auc"] = round(res.auc, 4)
            figures["account_accuracy"] = round(res.accuracy, 4)
            figures["account_rows"] = res.rows
            notes["account"] = f"LightGBM {res.folds}-fold CV; reference XGBoost 0.963/0.994"
        except DataNotFound as exc:
            notes["account"] = f"skipped: {exc}"
        from finchain.regtech.text.classifier import evaluate_held_out

        for lang, key, binary in (
            ("cn", "text_macro_f1_cn", True),
            ("en", "text_macro_f1_en", True),
            ("en", "text_macro_f1_en_6class", False),
        ):
            try:
                _, rep = evaluate_held_out(lang, data / _TEXT[lang], binary=binary)  # type: ignore[arg-type]
                figures[key] = round(rep.macro_f1, 4)
                figures[key.replace("macro_f1", "accuracy")] = round(rep.accuracy, 4)
                figures[key.replace("macro_f1", "heldout_rows")] = rep.rows
            except DataNotFound as exc:
                notes[key] = f"skipped: {exc}"
    figures["seconds"] = round(time.perf_counter() - t0, 1)
    report("watch: chain supervision", figures, json_path=json_path, notes=notes)


_TEXT = {"cn": "telecom_fraud_texts_cn", "en": "pump_dump_telegram_messages"}
