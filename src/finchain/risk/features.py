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

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from finchain.risk.errors import SchemaError


@dataclass
class Interactions:
    """Derived columns ``a*b`` and ``a/b`` over pairs of encoded numeric columns."""

    pairs: list[tuple[int, int, str]] = field(default_factory=list)  # (i, j, "mul" | "div")
    names: list[str] = field(default_factory=list)

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

    def transform(self, x: np.ndarray) -> np.ndarray:
        """The derived columns for an encoded matrix (NaN where undefined)."""
        out = np.empty((x.shape[0], len(self.pairs)))
        with np.errstate(divide="ignore", invalid="ignore"):
            for k, (i, j, op) in enumerate(self.pairs):
                a, b = x[:, i], x[:, j]
                out[:, k] = a * b if op == "mul" else np.where(b != 0, a / b, np.nan)
        return out


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
