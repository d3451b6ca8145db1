from __future__ import annotations

import math

import numpy as np

from finchain.risk.binning import FeatureBins, compute_woe_iv, fit_feature_bins
from finchain.risk.monitoring import Bucketing, drift_report, psi


def test_woe_iv_by_hand() -> None:
    # bin 0: 8 good 2 bad; bin 1: 2 good 8 bad (10 good, 10 bad overall)
    bins = np.array([0] * 10 + [1] * 10)
    y = np.array([0] * 8 + [1] * 2 + [0] * 2 + [1] * 8)
    woe, iv = compute_woe_iv(bins, y, n_bins=2, smoothing=0.0)
    assert np.allclose(woe, [math.log(0.8 / 0.2), math.log(0.2 / 0.8)])
    assert math.isclose(iv, 2 * 0.6 * math.log(4))


def test_empty_bin_is_neutral_with_smoothing() -> None:
    woe, _ = compute_woe_iv(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1]), n_bins=3)
    assert woe[2] == 0.0


def test_bin_index_convention_and_missing_bin() -> None:
    fb = FeatureBins(
        "x", "numeric", np.array([1.0, 2.0]), np.zeros(4), 0.0, np.zeros(4), np.zeros(4)
    )
    got = fb.bin_index(np.array([0.5, 1.0, 1.5, 2.0, 9.0, np.nan]))
    assert got.tolist() == [0, 1, 1, 2, 2, 3]


def test_optimal_binning_separates_a_step() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 10, 3000)
    y = (rng.random(3000) < np.where(x > 5, 0.5, 0.05)).astype(int)
    x[:100] = np.nan
    fb = fit_feature_bins(x, y, name="x", kind="numeric")
    assert np.any(np.abs(fb.splits - 5) < 0.6)
    assert fb.iv > 0.5
    assert fb.counts.sum() == 3000 and fb.counts[-1] == 100


def test_psi_by_hand() -> None:
    e = np.array([0.25, 0.25, 0.5])
    a = np.array([0.5, 0.25, 0.25])
    want = (0.5 - 0.25) * math.log(2) + (0.25 - 0.5) * math.log(0.5)
    assert math.isclose(psi(e, a), want)
    assert psi(e, e) == 0.0


def test_bucketing_and_drift_alerts() -> None:
    rng = np.random.default_rng(1)
    ref_x = rng.normal(size=(5000, 1))
    from finchain.risk.monitoring import Reference

    ref = Reference.fit(ref_x, rng.random(5000), names=["f"], categorical=[False], ks_reference=0.4)
    same = drift_report(ref, rng.normal(size=(2000, 1)), rng.random(2000))
    assert same["alerts"] == [] and same["feature_psi"]["f"] < 0.02
    shifted = drift_report(ref, rng.normal(1.0, 1, size=(2000, 1)), rng.random(2000))
    assert any(a["subject"] == "f" and a["level"] == "alert" for a in shifted["alerts"])
    b = Bucketing.fit(np.array([0.0, 1.0, 2.0, np.nan]), categorical=True)
    assert b.shares(np.array([0.0, 0.0, 7.0, np.nan])).tolist() == [0.5, 0.0, 0.0, 0.5]


def test_ks_decay_alert() -> None:
    from finchain.risk.monitoring import Reference

    rng = np.random.default_rng(2)
    ref = Reference.fit(
        rng.normal(size=(500, 1)),
        rng.random(500),
        names=["f"],
        categorical=[False],
        ks_reference=0.6,
    )
    y = rng.integers(0, 2, 400)
    p = rng.random(400)  # no signal: KS near 0
    rep = drift_report(ref, np.zeros((0, 1)), np.zeros(0), labels=y, labelled_p=p)
    assert rep["ks_decay"] > 0.5
    assert any(a["kind"] == "ks_decay" for a in rep["alerts"])
