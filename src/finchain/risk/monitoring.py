"""Drift and performance monitoring: PSI per feature and on the score, KS decay, alerts.

Population stability index (Siddiqi 2006; Yurdakul 2018, "Statistical properties of population
stability index"): ``PSI = Σ (a_i − e_i) · ln(a_i / e_i)`` over buckets fixed on the reference
(training) sample, ``e`` expected and ``a`` actual shares. Usual reading: < 0.10 stable,
0.10–0.25 watch, > 0.25 shifted.

Example:
    >>> round(psi(np.array([0.5, 0.5]), np.array([0.6, 0.4])), 4)
    0.0405
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from finchain.risk.metrics import ks

PSI_WARN = 0.10
PSI_ALERT = 0.25
KS_DROP_ALERT = 0.10  # relative drop of KS against the training test split
MIN_ROWS = 200  # fewer scored (or labelled) rows than this: figures shown, no alerts raised
EPS = 1e-4


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI between two share vectors (each summing to 1); empty buckets are floored at 1e-4."""
    e = np.maximum(np.asarray(expected, dtype=float), EPS)
    a = np.maximum(np.asarray(actual, dtype=float), EPS)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass
class Bucketing:
    """Buckets of one column: quantile edges (numeric) or one bucket per code; last = missing."""

    edges: np.ndarray
    categorical: bool
    n_codes: int = 0

    @property
    def n(self) -> int:
        return (self.n_codes if self.categorical else len(self.edges) + 1) + 1

    @classmethod
    def fit(cls, x: np.ndarray, *, categorical: bool, n_buckets: int = 10) -> Bucketing:
        present = x[~np.isnan(x)]
        if categorical:
            n_codes = int(present.max()) + 1 if present.size else 0
            return cls(np.zeros(0), True, n_codes)
        if present.size == 0:
            return cls(np.zeros(0), False)
        qs = np.quantile(present, np.linspace(0, 1, n_buckets + 1)[1:-1])
        return cls(np.unique(qs), False)

    def index(self, x: np.ndarray) -> np.ndarray:
        nan = np.isnan(x)
        missing = self.n - 1
        if self.categorical:
            codes = np.where(nan, missing, x).astype(np.int64)
            return np.where((codes < 0) | (codes >= self.n_codes), missing, codes)
        return np.where(nan, missing, np.searchsorted(self.edges, np.where(nan, 0, x), "right"))

    def shares(self, x: np.ndarray) -> np.ndarray:
        counts = np.bincount(self.index(x), minlength=self.n).astype(float)
        return counts / max(counts.sum(), 1.0)


@dataclass
class Reference:
    """Training-time distributions each live population is compared with."""

    names: list[str]
    buckets: list[Bucketing]
    expected: list[np.ndarray]
    score_buckets: Bucketing
    score_expected: np.ndarray
    ks_reference: float

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        p: np.ndarray,
        *,
        names: list[str],
        categorical: list[bool],
        ks_reference: float,
    ) -> Reference:
        buckets = [Bucketing.fit(x[:, j], categorical=categorical[j]) for j in range(x.shape[1])]
        sb = Bucketing.fit(p, categorical=False)
        return cls(
            names=list(names),
            buckets=buckets,
            expected=[b.shares(x[:, j]) for j, b in enumerate(buckets)],
            score_buckets=sb,
            score_expected=sb.shares(p),
            ks_reference=ks_reference,
        )

    def feature_psi(self, x: np.ndarray) -> dict[str, float]:
        return {
            n: psi(e, b.shares(x[:, j]))
            for j, (n, b, e) in enumerate(zip(self.names, self.buckets, self.expected, strict=True))
        }

    def score_psi(self, p: np.ndarray) -> float:
        return psi(self.score_expected, self.score_buckets.shares(p))


def drift_report(
    reference: Reference,
    x: np.ndarray,
    p: np.ndarray,
    *,
    labels: np.ndarray | None = None,
    labelled_p: np.ndarray | None = None,
    min_rows: int = MIN_ROWS,
) -> dict[str, Any]:
    """PSI per feature and on the score, KS on labelled feedback, and the alerts they raise."""
    alerts: list[dict[str, Any]] = []
    out: dict[str, Any] = {"n_scored": len(p)}
    if len(p):
        fpsi = reference.feature_psi(x)
        spsi = reference.score_psi(p)
        out["feature_psi"] = {k: round(v, 5) for k, v in fpsi.items()}
        out["score_psi"] = round(spsi, 5)
        for name, v in [*fpsi.items(), ("score", spsi)]:
            if v > PSI_WARN and len(p) >= min_rows:
                level = "alert" if v > PSI_ALERT else "warn"
                alerts.append({"level": level, "kind": "psi", "subject": name, "value": v})
    out["ks_reference"] = reference.ks_reference
    if labels is not None and labelled_p is not None and len(set(labels.tolist())) == 2:
        k = ks(labels, labelled_p)
        out["ks_feedback"] = k
        out["n_feedback"] = len(labels)
        decay = (reference.ks_reference - k) / max(reference.ks_reference, 1e-9)
        out["ks_decay"] = decay
        if decay > KS_DROP_ALERT and len(labels) >= min_rows:
            alerts.append({"level": "alert", "kind": "ks_decay", "subject": "score", "value": k})
    out["alerts"] = alerts
    return out


@dataclass
class LiveMonitor:
    """Ring buffers of recent scored rows and labelled feedback, safe across threads."""

    capacity: int = 10_000
    _x: np.ndarray | None = None
    _p: np.ndarray = field(default_factory=lambda: np.zeros(0))
    _n: int = 0
    _pos: int = 0
    _fb_p: list[float] = field(default_factory=list)
    _fb_y: list[int] = field(default_factory=list)
    _pending: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, base: np.ndarray, p: np.ndarray, ids: list[str] | None = None) -> None:
        with self._lock:
            if self._x is None or self._x.shape[1] != base.shape[1]:
                self._x = np.full((self.capacity, base.shape[1]), np.nan)
                self._p = np.zeros(self.capacity)
                self._n = self._pos = 0
            for i in range(len(p)):
                self._x[self._pos] = base[i]
                self._p[self._pos] = p[i]
                self._pos = (self._pos + 1) % self.capacity
                self._n = min(self._n + 1, self.capacity)
            if ids:
                for rid, pv in zip(ids, p.tolist(), strict=True):
                    if len(self._pending) >= self.capacity:
                        self._pending.pop(next(iter(self._pending)))
                    self._pending[rid] = pv

    def feedback(self, request_id: str, label: int) -> bool:
        """Attach an outcome to a scored request; False when the id is unknown or expired."""
        with self._lock:
            pv = self._pending.pop(request_id, None)
            if pv is None:
                return False
            self._fb_p.append(pv)
            self._fb_y.append(int(label))
            if len(self._fb_p) > self.capacity:
                del self._fb_p[0], self._fb_y[0]
            return True

    def report(self, reference: Reference) -> dict[str, Any]:
        with self._lock:
            n = self._n
            x = self._x[:n].copy() if self._x is not None else np.zeros((0, len(reference.names)))
            p = self._p[:n].copy()
            fy, fp = np.array(self._fb_y), np.array(self._fb_p)
        return drift_report(reference, x, p, labels=fy, labelled_p=fp)
