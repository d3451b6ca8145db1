"""Automatic features: pairwise interactions and aggregates over event histories.

Interactions are chosen from the training data (the most informative numeric columns by
information value) and are applied as plain numpy on the encoded matrix, so the scoring path
computes them the same way as training did.

Event aggregates turn a transactions table (one row per event: entity key, timestamp, amount)
into per-entity counts, sums, means, maxima and short/long-window ratios, the same indicators the
stream engine serves live (see :mod:`finchain.risk.indicators`).

Example:
    >>> import pandas as pd
    >>> events = pd.DataFrame({"key": ["a", "a", "b"], "ts": [0.0, 86400.0 * 20, 86400.0],
    ...                        "amount": [10.0, 30.0, 5.0]})
    >>> agg = build_event_aggregates(events, key="key", time="ts", value="amount",
    ...                              windows_days=(7, 30), as_of=86400.0 * 21)
    >>> agg.loc["a", ["count_7d", "sum_30d", "ratio_sum_7d_30d"]].tolist()
    [1.0, 40.0, 0.75]
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from finchain.risk.errors import SchemaError

#: Aggregates computed over each detected column sequence (see :func:`detect_sequences`).
SEQUENCE_STATS = ("mean", "std", "max", "min", "slope", "npos", "first_dev")


def detect_sequences(
    x: np.ndarray,
    numeric: Sequence[bool],
    *,
    min_len: int = 3,
    max_ks: float = 0.1,
    min_corr: float = 0.3,
    sample: int = 5000,
) -> list[list[int]]:
    """Runs of adjacent numeric columns that look like one quantity measured repeatedly.

    Two neighbouring columns belong to the same run when their value distributions match
    (two-sample KS statistic ≤ ``max_ks``) and they move together (Spearman ≥ ``min_corr``):
    monthly balances, repayment statuses or payments laid out side by side. Names are not used,
    so the detection works on any table whatever its column names.
    """
    from scipy.stats import ks_2samp, spearmanr

    rows = x if len(x) <= sample else x[np.random.default_rng(0).choice(len(x), sample, False)]
    runs: list[list[int]] = []
    cur: list[int] = []
    for j in range(x.shape[1]):
        joined = False
        if cur and numeric[j] and cur[-1] == j - 1:
            a, b = rows[:, j - 1], rows[:, j]
            ok = ~(np.isnan(a) | np.isnan(b))
            if ok.sum() > 50 and np.ptp(a[ok]) > 0 and np.ptp(b[ok]) > 0:
                ks_stat = float(ks_2samp(a[ok], b[ok], method="asymp").statistic)
                rho = float(spearmanr(a[ok], b[ok]).correlation)
                joined = ks_stat <= max_ks and rho >= min_corr
        if joined:
            cur.append(j)
            continue
        if len(cur) >= min_len:
            runs.append(cur)
        cur = [j] if numeric[j] else []
    if len(cur) >= min_len:
        runs.append(cur)
    return runs


@dataclass
class Interactions:
    """Derived columns: ``a*b`` and ``a/b`` over pairs of encoded numeric columns, and
    aggregates over column sequences (``derived``: ``(op, columns, other columns)``)."""

    pairs: list[tuple[int, int, str]] = field(default_factory=list)  # (i, j, "mul" | "div")
    names: list[str] = field(default_factory=list)
    derived: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)

    @classmethod
    def select(
        cls,
        x: np.ndarray,
        y: np.ndarray,
        *,
        names: Sequence[str],
        numeric: Sequence[bool],
        iv: np.ndarray,
        top_k: int = 6,
    ) -> Interactions:
        """Pairs among the ``top_k`` numeric columns with the highest information value."""
        cand = [j for j in np.argsort(-iv) if numeric[j]][:top_k]
        out = cls()
        for a_pos, i in enumerate(cand):
            for j in cand[a_pos + 1 :]:
                for op in ("mul", "div"):
                    out.pairs.append((int(i), int(j), op))
                    sym = "*" if op == "mul" else "/"
                    out.names.append(f"{names[i]}{sym}{names[j]}")
        return out

    @classmethod
    def sequences(
        cls, x: np.ndarray, *, names: Sequence[str], numeric: Sequence[bool]
    ) -> Interactions:
        """Aggregates over every detected column sequence (:func:`detect_sequences`).

        Per sequence: mean, standard deviation, max, min, slope over the column order, count of
        positive values and first column minus the mean. Between two sequences of equal length:
        the ratio of their sums. Between a sequence and each other numeric column that moves
        with it (Spearman ≥ 0.2; non-negative with many distinct values — a limit against balances)
        or on the same order of magnitude (median within 30×): mean and first value over that
        column (utilisation-like ratios).
        """
        from scipy.stats import spearmanr

        runs = detect_sequences(x, numeric)
        out = cls()
        in_run = {j for r in runs for j in r}
        for r in runs:
            tag = f"{names[r[0]]}..{names[r[-1]]}"
            for op in SEQUENCE_STATS:
                out.derived.append((f"seq_{op}", tuple(r), ()))
                out.names.append(f"{op}({tag})")
        for a_pos, r in enumerate(runs):
            for s in runs[a_pos + 1 :]:
                if len(r) == len(s):
                    out.derived.append(("ratio_sum", tuple(s), tuple(r)))
                    out.names.append(f"sum({names[s[0]]}..)/sum({names[r[0]]}..)")
        rng = np.random.default_rng(0)
        rows = x if len(x) <= 5000 else x[rng.choice(len(x), 5000, replace=False)]
        for r in runs:
            seq_mean = np.nanmean(rows[:, r], axis=1)
            for j in range(x.shape[1]):
                if j in in_run or not numeric[j]:
                    continue
                col = rows[:, j]
                ok = ~(np.isnan(col) | np.isnan(seq_mean))
                if ok.sum() < 50 or np.nanmin(col) < 0 or len(np.unique(col[ok])) < 50:
                    continue
                ratio = np.nanmedian(np.abs(rows[:, r])) / max(float(np.median(col[ok])), 1e-12)
                same_scale = 1 / 30 <= ratio <= 30
                if not same_scale and float(spearmanr(col[ok], seq_mean[ok]).correlation) < 0.2:
                    continue
                for op, what in (("ratio_mean", "mean"), ("ratio_first", "first")):
                    out.derived.append((op, tuple(r), (j,)))
                    out.names.append(f"{what}({names[r[0]]}..)/{names[j]}")
        return out

    def __add__(self, other: Interactions) -> Interactions:
        return Interactions(
            [*self.pairs, *other.pairs],
            [*self.names, *other.names],
            [*self._derived, *other._derived],
        )

    @property
    def _derived(self) -> list[tuple[str, tuple[int, ...], tuple[int, ...]]]:
        return getattr(self, "derived", [])  # pipelines pickled before sequences existed

    @property
    def empty(self) -> bool:
        return not self.names

    def transform(self, x: np.ndarray) -> np.ndarray:
        """The derived columns for an encoded matrix (NaN where undefined)."""
        derived = self._derived
        out = np.empty((x.shape[0], len(self.pairs) + len(derived)))
        with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows give NaN
            for k, (i, j, op) in enumerate(self.pairs):
                a, b = x[:, i], x[:, j]
                out[:, k] = a * b if op == "mul" else np.where(b != 0, a / b, np.nan)
            for k, (op, cols, other) in enumerate(derived, start=len(self.pairs)):
                out[:, k] = _derive(x, op, list(cols), list(other))
        return out


def _derive(x: np.ndarray, op: str, cols: list[int], other: list[int]) -> np.ndarray:
    seq = x[:, cols]
    if op == "seq_mean":
        return np.asarray(np.nanmean(seq, axis=1))
    if op == "seq_std":
        return np.asarray(np.nanstd(seq, axis=1))
    if op == "seq_max":
        return np.asarray(np.nanmax(seq, axis=1))
    if op == "seq_min":
        return np.asarray(np.nanmin(seq, axis=1))
    if op == "seq_npos":
        return np.asarray((seq > 0).sum(axis=1), dtype=float)
    if op == "seq_first_dev":
        return np.asarray(seq[:, 0] - np.nanmean(seq, axis=1))
    if op == "seq_slope":
        t = np.arange(len(cols), dtype=float)
        t -= t.mean()
        centred = seq - np.nanmean(seq, axis=1, keepdims=True)
        return np.asarray(np.nansum(centred * t, axis=1) / float((t * t).sum()))
    if op == "ratio_sum":
        a, b = np.nansum(seq, axis=1), np.nansum(x[:, other], axis=1)
        return np.where(b != 0, a / b, np.nan)
    if op in ("ratio_mean", "ratio_first"):
        a = np.nanmean(seq, axis=1) if op == "ratio_mean" else seq[:, 0]
        b = x[:, other[0]]
        return np.where(b != 0, a / b, np.nan)
    raise ValueError(f"unknown derived feature {op!r}")


def build_event_aggregates(
    events: pd.DataFrame,
    *,
    key: str,
    time: str,
    value: str,
    windows_days: Sequence[float] = (7, 30, 90),
    as_of: float | None = None,
    prefix: str = "",
) -> pd.DataFrame:
    """Per-key aggregates over trailing windows of an event table.

    ``time`` is seconds since an epoch (numbers) or anything :func:`pandas.to_datetime` reads;
    ``as_of`` (same unit, default: the latest event) closes every window. For each window ``w``
    the columns are ``count_w``, ``sum_w``, ``mean_w`` and ``max_w``; for each pair of windows
    (short, long) a ``ratio_sum_short_long`` (0 when the long sum is 0). Events after ``as_of``
    are ignored, so the features never look into the future.
    """
    for col in (key, time, value):
        if col not in events.columns:
            raise SchemaError(f"event table has no column {col!r}")
    ts = events[time]
    if not pd.api.types.is_numeric_dtype(ts):
        stamps = pd.to_datetime(ts, errors="coerce", utc=True)
        ts = (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    ts = ts.astype(float).to_numpy()
    amount = pd.to_numeric(events[value], errors="coerce").fillna(0.0).to_numpy()
    keys = events[key].astype(str).to_numpy()
    end = float(np.nanmax(ts)) if as_of is None else float(as_of)
    frames: dict[str, pd.Series] = {}
    uniq = pd.Index(sorted(set(keys)), name=key)
    sums: dict[float, pd.Series] = {}
    for w in sorted(windows_days):
        inside = (ts <= end) & (ts > end - w * 86400.0)
        tag = f"{w:g}d"
        g = pd.DataFrame({"k": keys[inside], "v": amount[inside]}).groupby("k")["v"]
        cnt = g.count().reindex(uniq, fill_value=0).astype(float)
        tot = g.sum().reindex(uniq, fill_value=0.0)
        frames[f"{prefix}count_{tag}"] = cnt
        frames[f"{prefix}sum_{tag}"] = tot
        frames[f"{prefix}mean_{tag}"] = (tot / cnt.replace(0, np.nan)).fillna(0.0)
        frames[f"{prefix}max_{tag}"] = g.max().reindex(uniq, fill_value=0.0)
        sums[w] = tot
    ws = sorted(windows_days)
    for a_pos, short in enumerate(ws):
        for long in ws[a_pos + 1 :]:
            ratio = (sums[short] / sums[long].replace(0, np.nan)).fillna(0.0)
            frames[f"{prefix}ratio_sum_{short:g}d_{long:g}d"] = ratio
    out = pd.DataFrame(frames)
    out.index.name = key
    return out
