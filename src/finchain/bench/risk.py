"""``finchain bench risk``: train and evaluate on UCI Taiwan, then on research sets if present.

UCI Taiwan credit default (shipped in ``data/``): fixed seeded stratified 80/20 split, the full
pipeline (scorecard, LightGBM, MLP, stack; tuned on a validation split carved from the 80 %).
Figures: the champion's ``auc``, ``ks``, ``accuracy``, ``gini``, ``brier``, ``train_s`` and each
model's AUC; peers from the same run on the same split: LightGBM with library defaults and a
plain logistic regression on standardised raw columns.

Research-only sets (never shipped) are read from ``--research-data`` (default
``../shared/data``); each one found adds ``<dataset>_auc`` (scorecard + LightGBM, champion by
validation AUC), each one absent is skipped with a message.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import typer

REPO = Path(__file__).resolve().parents[3]
UCI = REPO / "data" / "uci_taiwan_credit_default" / "UCI_Credit_Card.csv"

#: name → (relative path under the research directory, target column)
RESEARCH_SETS: dict[str, tuple[str, str]] = {
    "give_me_some_credit": (
        "give_me_some_credit_sample/credit_scoring_sample.csv",
        "SeriousDlqin2yrs",
    ),
    "home_credit": ("home_credit_sample/application_train_sample.tsv", "TARGET"),
    "lendingclub": ("lendingclub_2007_2010_sample/loan_data.csv", "not.fully.paid"),
}


def _peers(x: Any, y: Any, test_index: Any, seed: int) -> dict[str, float]:
    import lightgbm as lgb
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from finchain.risk.metrics import auc

    test = np.zeros(len(y), bool)
    test[test_index] = True
    xtr, ytr, xte, yte = x[~test], y[~test], x[test], y[test]
    gbm = lgb.LGBMClassifier(random_state=seed, verbose=-1, n_jobs=1).fit(xtr, ytr)
    med = np.nanmedian(xtr, axis=0)
    fill = lambda a: np.where(np.isnan(a), med, a)  # noqa: E731
    sc = StandardScaler().fit(fill(xtr))
    lr = LogisticRegression(max_iter=2000).fit(sc.transform(fill(xtr)), ytr)
    return {
        "peer_lgbm_default_auc": round(auc(yte, np.asarray(gbm.predict_proba(xte))[:, 1]), 5),
        "peer_logreg_auc": round(auc(yte, lr.predict_proba(sc.transform(fill(xte)))[:, 1]), 5),
    }


def command(
    quick: bool = typer.Option(False, "--quick", help="One LightGBM setting (about a minute)."),
    json_path: Path | None = typer.Option(None, "--json", help="Write the figures as JSON."),
    research_data: Path = typer.Option(
        REPO.parent / "shared" / "data", "--research-data", help="Directory of research sets."
    ),
    seed: int = typer.Option(42, "--seed"),
) -> None:
    """Credit-model quality on UCI Taiwan (and research sets when available)."""
    from finchain.bench.report import report, stamp
    from finchain.risk.data import load_credit_table
    from finchain.risk.train import TrainConfig, train

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = load_credit_table(UCI, target="Y")
    t0 = time.perf_counter()
    res = train(table, TrainConfig(models=("all",), quick=quick, seed=seed))
    figures: dict[str, Any] = {
        "auc": round(res.metrics[res.champion]["test"]["auc"], 5),
        "ks": round(res.metrics[res.champion]["test"]["ks"], 5),
        "accuracy": round(res.metrics[res.champion]["test"]["accuracy"], 5),
        "gini": round(res.metrics[res.champion]["test"]["gini"], 5),
        "brier": round(res.metrics[res.champion]["test"]["brier"], 5),
        "train_s": round(time.perf_counter() - t0, 2),
        "champion": res.champion,
    }
    for name, m in res.metrics.items():
        figures[f"{name}_auc"] = round(m["test"]["auc"], 5)
    figures.update(_peers(table.matrix(), table.y, res.test_index, seed))
    notes: dict[str, Any] = {"lgbm": res.lgbm_choice}
    for name, (rel, target) in RESEARCH_SETS.items():
        path = research_data / rel
        if not path.is_file():
            notes[name] = f"skipped: {path} not found"
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = load_credit_table(path, target=target)
        r = train(t, TrainConfig(models=("scorecard", "lgbm"), quick=quick, seed=seed))
        figures[f"{name}_auc"] = round(r.metrics[r.champion]["test"]["auc"], 5)
        figures[f"{name}_scorecard_auc"] = round(r.metrics["scorecard"]["test"]["auc"], 5)
        notes[name] = f"{len(t.y)} rows, champion {r.champion}, dropped {sorted(t.dropped)}"
    notes["machine"] = stamp() + " (shared 2-core box, other engineers' jobs running)"
    report("finchain bench risk", figures, json_path=json_path, notes=notes)
