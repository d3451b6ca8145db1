"""The demo's risk engine: a model trained on the UCI Taiwan credit data, wrapped as the SCF
replay's :class:`~finchain.scf.replay.Scorer`.

The model is trained once (``finchain.risk`` scorecard and LightGBM, champion by validation AUC)
and kept in ``.finchain/demo/risk/`` (a :class:`~finchain.risk.registry.ModelRegistry`), so a
re-run loads it. When the risk package cannot be imported or trained, the replay's
:class:`~finchain.scf.replay.RuleScorer` is used and the summary says so.

How a financing request is mapped onto the Taiwan features — an honest proxy, not a model of
supply-chain credit (the data is card-holder default, the only redistributable labelled credit
set we ship). The applicant is judged on its vendor's last six SCMS deliveries, most recent
first, read as six "billing months":

=============  =======================================  =========================================
Taiwan column  meaning in the data                      filled from
=============  =======================================  =========================================
X1             credit limit (NT$)                        the financing amount, US$ → NT$ at 30,
                                                         clipped to the training range
X2–X5          sex, education, marriage, age             left missing (the models take NaN); no
                                                         demographic proxy is invented
X6–X11         repayment status, months (-1 = on time)   delivery lateness: -1 when on time, else
                                                         ceil(days late / 30), at most 8
X12–X17        bill amount (NT$)                         the delivery's value (NT$)
X18–X23        amount paid (NT$)                         the value delivered on schedule (0 when
                                                         late)
=============  =======================================  =========================================

Months with no delivery yet are missing. The bank approves when the model's decision is
``approve``; ``review`` and ``decline`` are declined on chain with the decision as the reason.
The model's own credit limit (in the card data's units) is reported, not applied.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from finchain.scf.replay import RuleScorer, Scorer

log = logging.getLogger(__name__)

TAIWAN_CSV = (
    Path(__file__).resolve().parents[3]
    / "data"
    / "uci_taiwan_credit_default"
    / "UCI_Credit_Card.csv"
)
NTD_PER_USD = 30
X1_RANGE = (10_000, 1_000_000)


def taiwan_features(request: dict[str, Any]) -> dict[str, float | None]:
    """Map an SCF financing request (the replay's ``features_for``) onto X1…X23.

    >>> f = taiwan_features({"amount": 1_000_000, "recent_days_late": [0, 45],
    ...                      "recent_values": [200_000, 300_000]})
    >>> f["X1"], f["X6"], f["X7"], f["X8"], f["X12"], f["X18"], f["X19"]
    (300000, 2, -1, None, 90000, 0, 60000)
    """
    amount_ntd = request["amount"] * NTD_PER_USD // 100
    out: dict[str, float | None] = {"X1": min(max(amount_ntd, X1_RANGE[0]), X1_RANGE[1])}
    for col in ("X2", "X3", "X4", "X5"):
        out[col] = None
    late = list(reversed(request.get("recent_days_late", [])))[:6]
    values = list(reversed(request.get("recent_values", [])))[:6]
    for m in range(6):
        if m < len(late):
            days, value = late[m], values[m] * NTD_PER_USD // 100
            out[f"X{6 + m}"] = -1 if days <= 0 else min(8, math.ceil(days / 30))
            out[f"X{12 + m}"] = value
            out[f"X{18 + m}"] = value if days <= 0 else 0
        else:
            out[f"X{6 + m}"] = out[f"X{12 + m}"] = out[f"X{18 + m}"] = None
    return out


class TaiwanScorer(Scorer):
    """Scores financing requests with a registry's champion (trained on UCI Taiwan)."""

    def __init__(self, scorer: Any, *, on_decision: Callable[[dict[str, Any]], None] | None = None):
        self.scorer = scorer
        self.on_decision = on_decision
        self._lock = threading.Lock()
        self.count = 0

    @property
    def version(self) -> str:
        return str(self.scorer.version)

    def decide(self, request: dict[str, Any]) -> dict[str, Any]:
        feats = taiwan_features(request)
        with self._lock:
            self.count += 1
            rid = f"req-{self.count}"
        version, rows = self.scorer.score([{"id": rid, "features": feats}], reasons=3)
        row = rows[0]
        out = {
            "approved": row["decision"] == "approve",
            "decision": row["decision"],
            "probability": float(row["probability"]),
            "score": float(row["score"]),
            "reasons": row.get("reasons", []),
            "model_version": version,
            "model_limit": row.get("limit"),
            "features": feats,
            "vendor": request.get("vendor"),
            "late_share_bps": request.get("late_share_bps"),
        }
        if self.on_decision is not None:
            self.on_decision(out)
        return out

    def model_report(self) -> dict[str, Any]:
        """What the console's risk page shows: the model's description and test metrics."""
        _, pipe = self.scorer.current
        info: dict[str, Any] = dict(pipe.describe())
        info["version"] = self.version
        info.pop("features", None)
        return info

    def drift(self) -> dict[str, Any]:
        """PSI of the live requests against the training reference (the risk monitor)."""
        _, pipe = self.scorer.current
        try:
            return dict(self.scorer.monitor.report(pipe.reference))
        except Exception as exc:  # too few live requests yet, or monitor not ready
            return {"error": str(exc)}


def load_or_train(model_dir: Path, *, quick: bool, say: Callable[[str], None]) -> Scorer:
    """The champion under ``model_dir`` (trained now if absent); the rule scorer on failure."""
    try:
        from finchain.risk.registry import ModelRegistry
        from finchain.risk.scorer import Scorer as RiskScorer
    except Exception as exc:  # the risk package is not importable
        say(f"risk package unavailable ({exc}); using the rule scorer")
        return RuleScorer()
    try:
        if not (model_dir / "index.json").exists() and not any(model_dir.glob("*")):
            from finchain.risk.data import load_credit_table
            from finchain.risk.train import TrainConfig, train

            t0 = time.perf_counter()
            table = load_credit_table(TAIWAN_CSV, target="Y", drop=["ID"])
            kinds = ("scorecard",) if quick else ("scorecard", "lgbm")
            rows = 12_000 if quick else None  # --quick: a stratified 12,000-row sample
            res = train(table, TrainConfig(models=kinds, quick=True, seed=42, max_rows=rows))
            reg = ModelRegistry(model_dir)
            reg.add(
                res.pipelines[res.champion],
                data_sha256=[table.sha256],
                metrics={**res.metrics[res.champion]["test"], "data": TAIWAN_CSV.name},
                status="champion",
                note=f"demo: {res.champion} on UCI Taiwan ({len(table.y)} rows)",
            )
            auc = res.metrics[res.champion]["test"]["auc"]
            say(
                f"trained {res.champion} on UCI Taiwan in {time.perf_counter() - t0:.0f} s "
                f"(test AUC {auc:.3f})"
            )
        return TaiwanScorer(RiskScorer.from_dir(model_dir))
    except Exception as exc:
        log.exception("risk model unavailable")
        say(f"risk model unavailable ({type(exc).__name__}: {exc}); using the rule scorer")
        return RuleScorer()
