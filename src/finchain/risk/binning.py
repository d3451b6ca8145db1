"""Optimal binning and weight of evidence.

Splits come from optbinning's optimal binning (Navas-Palencia, 2020, "Optimal binning:
mathematical programming formulation", arXiv:2001.08025); the weight of evidence and information
value are computed here from the bin counts, so the serving path needs only ``np.searchsorted``.

Convention (Siddiqi, *Credit Risk Scorecards*, 2006): ``WOE = ln(%good / %bad)`` per bin, so a
positive WOE marks a bin safer than average; ``IV = Σ (%good − %bad) · WOE``.

Example:
    >>> woe, iv = compute_woe_iv(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 0]), n_bins=2,
    ...                          smoothing=0.0)
    >>> [round(float(w), 4) for w in woe], iv
    ([-1.0986, inf], inf)
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)


def compute_woe_iv(
    bins: np.ndarray, y: np.ndarray, *, n_bins: int, smoothing: float = 0.5
) -> tuple[np.ndarray, float]:
    """Weight of evidence per bin and the information value of a binned feature.

    ``bins`` holds bin indices ``0..n_bins-1``; ``smoothing`` is added to every good and bad count
    so empty cells do not give infinite WOE (0 reproduces the textbook formula).
    """
    bad = np.bincount(bins, weights=y, minlength=n_bins).astype(float)
    total = np.bincount(bins, minlength=n_bins).astype(float)
    good = total - bad
    good_s, bad_s = good + smoothing, bad + smoothing
    pct_good = good_s / good_s.sum()
    pct_bad = bad_s / bad_s.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        woe = np.log(pct_good / pct_bad)
        terms = np.where(pct_good == pct_bad, 0.0, (pct_good - pct_bad) * woe)
    if smoothing > 0:
        woe = np.where(total == 0, 0.0, woe)  # an empty bin (e.g. no missing values) is neutral
        terms = np.where(total == 0, 0.0, terms)
    return woe, float(terms.sum())


@dataclass
class FeatureBins:
    """The bins of one encoded feature: numeric splits or groups of category codes.

    Bin ``n_bins - 1`` is always the missing bin (NaN, unknown categories).
    """

    name: str
    kind: str
    splits: np.ndarray  # numeric: ascending thresholds; categorical: code -> bin lookup table
    woe: np.ndarray
    iv: float
    counts: np.ndarray
    bad_rates: np.ndarray

    @property
    def n_bins(self) -> int:
        return len(self.woe)

    def labels(self) -> list[str]:
        """Readable bin labels (for reason codes and the report)."""
        if self.kind == "numeric":
            edges = [-np.inf, *self.splits.tolist(), np.inf]
            out = [f"[{edges[i]:.4g}, {edges[i + 1]:.4g})" for i in range(len(edges) - 1)]
        else:
            out = []
            for b in range(self.n_bins - 1):
                codes = np.flatnonzero(self.splits == b)
                out.append("{" + ",".join(str(int(c)) for c in codes) + "}")
        return [*out, "missing"]

    def bin_index(self, x: np.ndarray) -> np.ndarray:
        """Bin index of each value; NaN (and unknown category codes) go to the missing bin."""
        missing = self.n_bins - 1
        nan = np.isnan(x)
        if self.kind == "numeric":
            idx = np.searchsorted(self.splits, np.where(nan, 0.0, x), side="right")
        else:
            codes = np.where(nan, -1, x).astype(np.int64)
            ok = (codes >= 0) & (codes < len(self.splits))
            idx = np.where(ok, self.splits[np.clip(codes, 0, max(len(self.splits) - 1, 0))], -1)
            idx = np.where(idx < 0, missing, idx)
        return np.where(nan, missing, idx)

    def transform(self, x: np.ndarray) -> np.ndarray:
        return self.woe[self.bin_index(x)]


def fit_feature_bins(
    x: np.ndarray,
    y: np.ndarray,
    *,
    name: str,
    kind: str,
    max_n_bins: int = 8,
    min_bin_size: float = 0.03,
    n_categories: int = 0,
) -> FeatureBins:
    """Fit optimal bins for one encoded column (categorical columns hold integer codes)."""
    from optbinning import OptimalBinning

    present = ~np.isnan(x)
    xs, ys = x[present], y[present]
    dtype = "categorical" if kind == "categorical" else "numerical"
    splits: np.ndarray
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ob = OptimalBinning(
                name=name,
                dtype=dtype,
                solver="cp",
                max_n_bins=max_n_bins,
                min_bin_size=min_bin_size,
                monotonic_trend="auto_asc_desc" if dtype == "numerical" else None,
                time_limit=10,
            )
            if dtype == "categorical":
                ob.fit(xs.astype(np.int64).astype(str), ys)
            else:
                ob.fit(xs, ys)
        raw = ob.splits
    except Exception as exc:  # optbinning rejects degenerate columns; fall back to one bin
        log.debug("binning %s failed: %s", name, exc)
        raw = [] if dtype == "numerical" else None
    if kind == "categorical":
        table = np.zeros(max(n_categories, int(np.nanmax(x)) + 1 if present.any() else 1), int)
        table[:] = -1
        groups = list(raw) if raw is not None else []
        if not groups:
            groups = [np.unique(xs.astype(np.int64).astype(str))]
        for b, group in enumerate(groups):
            for code in group:
                table[int(code)] = b
        n_regular = len(groups)
        # codes never seen in training: missing bin, set below once n_bins is known
        table[table < 0] = n_regular
        splits = table
    else:
        splits = np.asarray(raw, dtype=float)
        n_regular = len(splits) + 1
    fb = FeatureBins(name, kind, splits, np.zeros(n_regular + 1), 0.0, np.zeros(0), np.zeros(0))
    idx = fb.bin_index(x)
    fb.woe, fb.iv = compute_woe_iv(idx, y, n_bins=n_regular + 1)
    fb.counts = np.bincount(idx, minlength=n_regular + 1)
    bads = np.bincount(idx, weights=y, minlength=n_regular + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        fb.bad_rates = np.where(fb.counts > 0, bads / np.maximum(fb.counts, 1), np.nan)
    return fb


@dataclass
class Binner:
    """Optimal bins for every column of a matrix; ``transform`` gives the WOE matrix."""

    bins: list[FeatureBins]

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        y: np.ndarray,
        *,
        names: list[str],
        kinds: list[str],
        n_categories: list[int] | None = None,
    ) -> Binner:
        ncat = n_categories or [0] * len(names)
        return cls(
            [
                fit_feature_bins(x[:, j], y, name=names[j], kind=kinds[j], n_categories=ncat[j])
                for j in range(x.shape[1])
            ]
        )

    def transform(self, x: np.ndarray) -> np.ndarray:
        out = np.empty(x.shape, dtype=float)
        for j, fb in enumerate(self.bins):
            out[:, j] = fb.transform(x[:, j])
        return out

    def bin_indices(self, x: np.ndarray) -> np.ndarray:
        out = np.empty(x.shape, dtype=np.int64)
        for j, fb in enumerate(self.bins):
            out[:, j] = fb.bin_index(x[:, j])
        return out

    @property
    def iv(self) -> np.ndarray:
        return np.array([fb.iv for fb in self.bins])
