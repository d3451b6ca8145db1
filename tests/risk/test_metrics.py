from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ks_2samp
from sklearn.metrics import brier_score_loss, roc_auc_score

from finchain.risk import metrics as M


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.integers(10, 300), st.booleans())
def test_auc_ks_brier_match_oracles(seed: int, n: int, ties: bool) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[0], y[1] = 0, 1
    p = rng.random(n) * 0.5 + 0.3 * y
    if ties:
        p = np.round(p, 1)
    assert np.isclose(M.auc(y, p), roc_auc_score(y, p))
    assert np.isclose(M.gini(y, p), 2 * roc_auc_score(y, p) - 1)
    assert np.isclose(M.ks(y, p), ks_2samp(p[y == 1], p[y == 0]).statistic)
    assert np.isclose(M.brier(y, p), brier_score_loss(y, p))
    assert np.isclose(M.accuracy(y, p), np.mean((p >= 0.5) == y))


def test_ks_by_hand() -> None:
    # bads at 0.9, 0.8, 0.3; goods at 0.7, 0.2, 0.1: best cut above 0.7 separates 2/3 vs 0/3,
    # cut above 0.3 separates 3/3 bads vs 1/3 goods: KS = 2/3
    y = np.array([1, 1, 1, 0, 0, 0])
    p = np.array([0.9, 0.8, 0.3, 0.7, 0.2, 0.1])
    assert np.isclose(M.ks(y, p), 2 / 3)


def test_bad_rate_approved_and_reliability() -> None:
    y = np.array([0, 0, 1, 0, 1, 1])
    p = np.array([0.1, 0.2, 0.25, 0.3, 0.8, 0.9])
    appr, bad = M.bad_rate_approved(y, p, 0.3)
    assert appr == 0.5 and np.isclose(bad, 1 / 3)
    r = M.reliability(y, p, n_bins=2)
    assert np.allclose(r["mean_predicted"], [p[:3].mean(), p[3:].mean()])
    assert np.allclose(r["observed_rate"], [1 / 3, 2 / 3])
