"""The deployable model: encoding, interactions, a model component, calibration and a policy.

A :class:`RiskPipeline` is what the registry stores and the scoring service runs. Its request
path is numpy only: :meth:`RiskPipeline.score_records` encodes dictionaries with the table
schema, appends interaction columns, predicts, calibrates, scales to points, decides and explains.

Decisions (:class:`DecisionPolicy`): approve when ``p < approve_below``, decline when
``p ≥ decline_at``, review in between; an approved applicant's limit is the band limit for its
probability (integer minor units), capped by the amount requested.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from finchain.risk.data import TableSchema
from finchain.risk.features import Interactions
from finchain.risk.models import PlattCalibrator, RiskModelBase, ScorecardModel, ScoreScale
from finchain.risk.monitoring import Reference


@dataclass
class DecisionPolicy:
    """Cut-offs on the calibrated probability of bad, and credit-limit bands.

    ``limit_bands`` is a list of ``(max_probability, limit_minor_units)`` in ascending
    probability; the first band whose bound exceeds ``p`` gives the limit.

    >>> pol = DecisionPolicy(approve_below=0.1, decline_at=0.3,
    ...                      limit_bands=[(0.05, 500_000), (0.1, 200_000)])
    >>> pol.decide(np.array([0.01, 0.08, 0.2, 0.5]), None)[0].tolist()
    ['approve', 'approve', 'review', 'decline']
    >>> pol.decide(np.array([0.01, 0.08]), np.array([300_000, 300_000]))[1].tolist()
    [300000, 200000]
    """

    approve_below: float
    decline_at: float
    limit_bands: list[tuple[float, int]] = field(default_factory=list)

    def decide(self, p: np.ndarray, requested: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        decision = np.where(
            p < self.approve_below, "approve", np.where(p >= self.decline_at, "decline", "review")
        )
        if self.limit_bands:
            bounds = np.array([b for b, _ in self.limit_bands])
            limits = np.array([lim for _, lim in self.limit_bands] + [0], dtype=np.int64)
            limit = limits[np.searchsorted(bounds, p, side="right")]
        else:
            limit = np.zeros(len(p), dtype=np.int64)
        if requested is not None:
            limit = np.where(requested > 0, np.minimum(limit, requested), limit)
        limit = np.where(decision == "approve", limit, 0)
        return decision, limit.astype(np.int64)


@dataclass
class ScoredBatch:
    """Scores for a batch, as plain arrays plus per-row reason lists."""

    probability: np.ndarray
    score: np.ndarray
    decision: np.ndarray
    limit: np.ndarray
    reasons: list[list[dict[str, Any]]]

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "probability": round(float(self.probability[i]), 6),
                "score": round(float(self.score[i]), 1),
                "decision": str(self.decision[i]),
                "limit": int(self.limit[i]),
                "reasons": self.reasons[i],
            }
            for i in range(len(self.probability))
        ]


@dataclass
class RiskPipeline:
    """Everything needed to score a request the way training scored its test split."""

    schema: TableSchema
    interactions: Interactions
    model: RiskModelBase
    calibrator: PlattCalibrator | None
    policy: DecisionPolicy
    reference: Reference
    scale: ScoreScale = field(default_factory=ScoreScale)
    reason_model: RiskModelBase | None = None
    target: str = "target"
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def feature_names(self) -> list[str]:
        return [*self.schema.names, *self.interactions.names]

    @property
    def kind(self) -> str:
        return self.model.name

    def expand(self, base: np.ndarray) -> np.ndarray:
        """Append the interaction columns to an encoded matrix."""
        if self.interactions.empty:
            return base
        return np.hstack([base, self.interactions.transform(base)])

    def matrix(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        return self.expand(self.schema.encode_records(records))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Calibrated probability of bad for an expanded matrix."""
        z = self.model.logit(x)
        if self.calibrator is not None:
            return self.calibrator(z)
        return 1.0 / (1.0 + np.exp(-np.clip(z, -35, 35)))

    def reasons(self, x: np.ndarray, top: int = 3) -> list[list[dict[str, Any]]]:
        """The ``top`` features pushing each row's risk up, with their effect in score points.

        Scorecards give the points lost against a neutral (WOE 0) bin; LightGBM gives TreeSHAP
        contributions converted to points with the same scaling.
        """
        model = self.reason_model or self.model
        contrib = model.contributions(x)
        if contrib is None or top <= 0:
            return [[] for _ in range(len(x))]
        names = self.feature_names
        factor = self.scale.factor
        levels = {
            j: spec.categories
            for j, spec in enumerate(self.schema.columns)
            if spec.kind == "categorical"
        }
        k = min(top, contrib.shape[1])
        idx = np.argsort(-contrib, axis=1)[:, :k]
        out: list[list[dict[str, Any]]] = []
        for i in range(len(x)):
            row = []
            for j in idx[i]:
                c = float(contrib[i, j])
                if c <= 0:
                    break
                v = float(x[i, j])
                value: float | str | None = None if v != v else v
                if value is not None and j in levels and 0 <= int(v) < len(levels[j]):
                    value = levels[j][int(v)]
                row.append(
                    {
                        "feature": names[j],
                        "value": value,
                        "points": round(-c * factor, 1),
                    }
                )
            out.append(row)
        return out

    def score_matrix(
        self, x: np.ndarray, *, requested: np.ndarray | None = None, reasons: int = 3
    ) -> ScoredBatch:
        p = self.predict(x)
        decision, limit = self.policy.decide(p, requested)
        return ScoredBatch(p, self.scale.score(p), decision, limit, self.reasons(x, reasons))

    def score_records(
        self, records: Sequence[Mapping[str, Any]], *, reasons: int = 3
    ) -> ScoredBatch:
        """Score request dictionaries; ``requested_amount`` (minor units) caps the limit."""
        x = self.matrix(records)
        req = np.array([int(r.get("requested_amount") or 0) for r in records], dtype=np.int64)
        return self.score_matrix(x, requested=req, reasons=reasons)

    def describe(self) -> dict[str, Any]:
        """What ``GET /v1/model`` shows."""
        info: dict[str, Any] = {
            "kind": self.kind,
            "target": self.target,
            "features": self.schema.to_json(),
            "interactions": self.interactions.names,
            "policy": asdict(self.policy),
            "scale": asdict(self.scale),
            "metrics": self.metrics,
        }
        if isinstance(self.model, ScorecardModel):
            info["scorecard"] = self.model.points_table()
        return info
