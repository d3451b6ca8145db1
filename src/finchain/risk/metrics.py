"""Discrimination and calibration metrics for binary credit models (pure numpy).

``y`` is 1 for bad, ``p`` the predicted probability of bad.

Example:
    >>> y = np.array([0, 0, 1, 1]); p = np.array([0.1, 0.4, 0.35, 0.8])
    >>> auc(y, p), ks(y, p), round(gini(y, p), 2)
    (0.75, 0.5, 0.5)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import rankdata


def auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve by the Mann–Whitney rank statistic (ties count one half)."""
    y = np.asarray(y).astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(p)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def gini(y: np.ndarray, p: np.ndarray) -> float:
    """Gini coefficient (accuracy ratio) ``2·AUC − 1``."""
    return 2.0 * auc(y, p) - 1.0


def roc_points(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False- and true-positive rates at each distinct threshold (descending), with (0, 0)."""
    y = np.asarray(y).astype(float)
    order = np.argsort(-np.asarray(p), kind="mergesort")
    ps, ys = np.asarray(p)[order], y[order]
    distinct = np.r_[np.flatnonzero(np.diff(ps)), len(ps) - 1]
    tps = np.cumsum(ys)[distinct]
    fps = (distinct + 1) - tps
    tpr = np.r_[0.0, tps / max(ys.sum(), 1.0)]
    fpr = np.r_[0.0, fps / max(len(ys) - ys.sum(), 1.0)]
    return fpr, tpr, np.r_[np.inf, ps[distinct]]


def ks(y: np.ndarray, p: np.ndarray) -> float:
    """Kolmogorov–Smirnov statistic: the largest gap between the bad and good score CDFs."""
    fpr, tpr, _ = roc_points(y, p)
    return float(np.max(tpr - fpr))


def ks_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The probability threshold at which the KS gap is reached."""
    fpr, tpr, thr = roc_points(y, p)
    k = int(np.argmax(tpr - fpr))
    return float(thr[max(k, 1)])


def accuracy(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> float:
    """Share of correct labels when ``p ≥ threshold`` predicts bad."""
    return float(np.mean((np.asarray(p) >= threshold) == np.asarray(y).astype(bool)))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    """Mean squared error of the probabilities (lower is better)."""
    return float(np.mean((np.asarray(p) - np.asarray(y)) ** 2))


def bad_rate_approved(y: np.ndarray, p: np.ndarray, cutoff: float) -> tuple[float, float]:
    """(approval rate, observed bad rate among approved) when ``p < cutoff`` is approved."""
    approved = np.asarray(p) < cutoff
    if not approved.any():
        return 0.0, 0.0
    return float(approved.mean()), float(np.asarray(y)[approved].mean())


def reliability(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> dict[str, list[float]]:
    """Mean prediction vs observed rate per equal-count bin (the calibration curve)."""
    order = np.argsort(p, kind="mergesort")
    chunks = np.array_split(order, n_bins)
    return {
        "mean_predicted": [float(np.mean(p[c])) for c in chunks if len(c)],
        "observed_rate": [float(np.mean(y[c])) for c in chunks if len(c)],
        "count": [len(c) for c in chunks if len(c)],
    }


def expected_calibration_error(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> float:
    """Count-weighted mean gap between predicted and observed rates over equal-count bins."""
    r = reliability(y, p, n_bins)
    n = sum(r["count"])
    return float(
        sum(
            c * abs(a - b)
            for a, b, c in zip(r["mean_predicted"], r["observed_rate"], r["count"], strict=True)
        )
        / n
    )


def evaluate(y: np.ndarray, p: np.ndarray, *, cutoff: float | None = None) -> dict[str, Any]:
    """All headline figures for one model on one labelled set.

    ``cutoff`` is the approval cut-off on the probability (approve when ``p < cutoff``); by
    default the KS-optimal threshold. Accuracy uses 0.5 (the usual published convention).
    """
    y = np.asarray(y).astype(np.int8)
    p = np.asarray(p, dtype=float)
    cut = ks_threshold(y, p) if cutoff is None else cutoff
    appr, bad = bad_rate_approved(y, p, cut)
    return {
        "auc": auc(y, p),
        "ks": ks(y, p),
        "gini": gini(y, p),
        "accuracy": accuracy(y, p),
        "brier": brier(y, p),
        "ece": expected_calibration_error(y, p),
        "cutoff": cut,
        "approval_rate": appr,
        "bad_rate_approved": bad,
        "n": len(y),
        "base_bad_rate": float(y.mean()),
    }
