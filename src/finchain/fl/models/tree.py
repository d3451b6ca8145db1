"""Histogram gradient-boosted trees: binning, exact integer histograms, split finding.

This is the arithmetic of SecureBoost (Cheng et al. 2019) kept free of I/O so that the
federated protocol (:mod:`finchain.fl.protocols.secureboost`) and a central run on the joined
data share it line for line. Gradients and hessians are quantised to integers
(``gq = round((g + 1)·2^52)``, ``hq = round(h·2^52)``) *before* anything is summed; histograms
are then exact integers whether they were summed in the clear or under Paillier, so the
federated and the central trainer choose identical splits.

Split gain and leaf weight are XGBoost's (Chen & Guestrin 2016)::

    gain = G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ)        w = −lr · G/(H+λ)

Ties are broken by block order (guest first, then hosts by name), feature index, then bin.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FRAC = 52
ONE = 1 << FRAC
HALF_SHIFT = 26
_LO_MASK = (1 << HALF_SHIFT) - 1


def quantile_edges(x: np.ndarray, max_bins: int) -> np.ndarray:
    """Up to ``max_bins − 1`` cut points at quantiles of ``x`` (unique)."""
    qs = np.quantile(x, np.linspace(0, 1, max_bins + 1)[1:-1], method="linear")
    return np.unique(qs)


def fit_bins(X: np.ndarray, max_bins: int) -> list[np.ndarray]:
    """Cut points per column."""
    return [quantile_edges(X[:, j], max_bins) for j in range(X.shape[1])]


def apply_bins(X: np.ndarray, edges: list[np.ndarray]) -> np.ndarray:
    """Bin index per cell: ``bin = #cut points < x`` (left of a split means ``bin ≤ b``)."""
    out = np.empty(X.shape, dtype=np.int32)
    for j, e in enumerate(edges):
        out[:, j] = np.searchsorted(e, X[:, j], side="left")
    return out


def quantize(g: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(round((g+1)·2^52), round(h·2^52))`` as int64; requires ``g ∈ [-1, 1]``, ``h ∈ [0, 1]``."""
    gq = np.rint((np.clip(g, -1.0, 1.0) + 1.0) * ONE).astype(np.int64)
    hq = np.rint(np.clip(h, 0.0, 1.0) * ONE).astype(np.int64)
    return gq, hq


@dataclass
class Hist:
    """Exact histograms of one node: ``(features, bins)`` object arrays of Python ints.

    ``g`` holds Σ(gq − 2^52) (signed), ``h`` Σhq, ``c`` the counts.
    """

    g: np.ndarray
    h: np.ndarray
    c: np.ndarray

    def __sub__(self, other: Hist) -> Hist:
        return Hist(self.g - other.g, self.h - other.h, self.c - other.c)


def _exact_bincount(keys: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Exact Σ of int64 values (< 2^54) per key, as Python ints (via two 26-bit halves)."""
    hi = np.bincount(keys, weights=(values >> HALF_SHIFT).astype(np.float64), minlength=size)
    lo = np.bincount(keys, weights=(values & _LO_MASK).astype(np.float64), minlength=size)
    out = np.empty(size, dtype=object)
    for i in range(size):
        out[i] = (int(hi[i]) << HALF_SHIFT) + int(lo[i])
    return out


def local_histograms(
    bins: np.ndarray,
    n_bins: int,
    gq: np.ndarray,
    hq: np.ndarray,
    node_of: np.ndarray,
    nodes: list[int],
) -> dict[int, Hist]:
    """Plaintext exact histograms for ``nodes`` of every feature of ``bins``."""
    out: dict[int, Hist] = {}
    n_feat = bins.shape[1]
    for node in nodes:
        idx = np.flatnonzero(node_of == node)
        keys = (np.arange(n_feat, dtype=np.int64)[None, :] * n_bins + bins[idx]).ravel()
        size = n_feat * n_bins
        gs = np.repeat(gq[idx], n_feat).reshape(len(idx), n_feat).ravel()
        hs = np.repeat(hq[idx], n_feat).reshape(len(idx), n_feat).ravel()
        g_sum = _exact_bincount(keys, gs, size)
        h_sum = _exact_bincount(keys, hs, size)
        cnt = np.bincount(keys, minlength=size).astype(object)
        out[node] = Hist(
            (g_sum - cnt * ONE).reshape(n_feat, n_bins),
            h_sum.reshape(n_feat, n_bins),
            cnt.reshape(n_feat, n_bins),
        )
    return out


@dataclass(frozen=True)
class TreeParams:
    """Tree settings (FATE's Hetero SecureBoost names in comments)."""

    n_trees: int = 5  # num_trees
    max_depth: int = 3  # max_depth
    max_bins: int = 32  # max_bin
    learning_rate: float = 0.3  # learning_rate
    l2: float = 0.1  # l2
    min_child_samples: int = 1  # min_leaf_node
    min_child_weight: float = 1.0  # min_child_weight
    min_gain: float = 1e-2  # min_impurity_split


@dataclass(frozen=True)
class SplitChoice:
    """The best split of one node: which block, feature, bin, and its gain."""

    block: int
    feature: int
    bin: int
    gain: float


def best_split(hist: Hist, params: TreeParams) -> tuple[float, int, int] | None:
    """``(gain, feature, bin)`` of the best split in one block, or ``None``."""
    to_f = np.vectorize(float, otypes=[np.float64])
    gl = to_f(np.cumsum(hist.g, axis=1)) / ONE
    hl = to_f(np.cumsum(hist.h, axis=1)) / ONE
    cl = np.cumsum(hist.c, axis=1).astype(np.int64)
    gt = to_f(hist.g.sum(axis=1)) / ONE
    ht = to_f(hist.h.sum(axis=1)) / ONE
    ct = hist.c.sum(axis=1).astype(np.int64)
    gr, hr, cr = gt[:, None] - gl, ht[:, None] - hl, ct[:, None] - cl
    lam = params.l2
    gain = gl**2 / (hl + lam) + gr**2 / (hr + lam) - (gt**2 / (ht + lam))[:, None]
    ok = (
        (cl >= params.min_child_samples)
        & (cr >= params.min_child_samples)
        & (hl >= params.min_child_weight)
        & (hr >= params.min_child_weight)
    )
    ok[:, -1] = False  # the last bin leaves nothing on the right
    gain = np.where(ok, gain, -np.inf)
    flat = int(np.argmax(gain))
    f, b = divmod(flat, gain.shape[1])
    g = float(gain[f, b])
    if not np.isfinite(g) or g <= params.min_gain:
        return None
    return g, f, b


def leaf_weight(hist: Hist, params: TreeParams) -> float:
    """``−lr·G/(H+λ)`` from any feature row of the node's histogram."""
    g = float(hist.g[0].sum()) / ONE
    h = float(hist.h[0].sum()) / ONE
    return -params.learning_rate * g / (h + params.l2)


@dataclass
class Node:
    """One tree node; a split names its block (0 = guest) and, for the guest, feature and bin."""

    id: int
    depth: int
    leaf: float | None = None
    block: int = -1
    feature: int = -1
    bin: int = -1
    left: int = -1
    right: int = -1


@dataclass
class Tree:
    """A tree as the guest keeps it (for host splits ``feature``/``bin`` are host-local ids)."""

    nodes: list[Node] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON."""
        return {"nodes": [n.__dict__ for n in self.nodes]}

    def structure(self) -> list[tuple[object, ...]]:
        """A comparable summary (for the federated == central test)."""
        return [(n.id, n.leaf, n.block, n.feature, n.bin, n.left, n.right) for n in self.nodes]


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    return np.where(
        x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x)))
    )
