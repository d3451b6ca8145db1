"""Datasets for federated jobs: FATE's example CSVs, the stratified split, metrics.

The shipped copies live in ``data/fate/`` of the repository (see ``data/SOURCES.md``); any
CSV path works. Hetero (vertical) files share an ``id`` column; the guest's has the label ``y``.

>>> split = stratified_split(np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1]), test_fraction=0.2, seed=42)
>>> len(split.test), sorted(np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])[split.test].tolist())
(2, [0, 1])
>>> auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
0.75
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from finchain.fl.errors import JobConfigError

#: ``data/fate`` of the source tree (the shipped FATE example files).
DATA_DIR = Path(__file__).resolve().parents[3] / "data" / "fate"


def resolve(path: str | Path, base: Path | None = None) -> Path:
    """A data path: as given, relative to ``base`` (the job file's folder), or a shipped name.

    ``.csv`` names also match the shipped ``.csv.gz`` copies.
    """
    p = Path(path)
    candidates = [p]
    if base is not None and not p.is_absolute():
        candidates.append(base / p)
    candidates.append(DATA_DIR / p.name)
    for c in list(candidates):
        candidates.append(c.with_name(c.name + ".gz"))
    for c in candidates:
        if c.is_file():
            return c
    raise JobConfigError(
        f"data file {path} not found (looked in {', '.join(str(c.parent) for c in candidates[:3])})"
    )


def read_table(path: str | Path, base: Path | None = None) -> pd.DataFrame:
    """Read a CSV (optionally gzip-compressed)."""
    p = resolve(path, base)
    try:
        return pd.read_csv(p)
    except (OSError, ValueError) as exc:
        raise JobConfigError(f"cannot read {p}: {exc}") from exc


@dataclass(frozen=True)
class Split:
    """Row positions of the train and test parts."""

    train: np.ndarray
    test: np.ndarray


def stratified_split(y: np.ndarray, *, test_fraction: float = 0.2, seed: int = 42) -> Split:
    """Per class, shuffle with ``random.Random(seed)`` and put ``round(fraction·count)`` in test."""
    rng = random.Random(seed)
    test: list[int] = []
    for cls in sorted(np.unique(y).tolist()):
        idx = np.flatnonzero(y == cls).tolist()
        rng.shuffle(idx)
        test.extend(idx[: round(test_fraction * len(idx))])
    test_arr = np.array(sorted(test), dtype=np.int64)
    mask = np.ones(len(y), dtype=bool)
    mask[test_arr] = False
    return Split(np.flatnonzero(mask), test_arr)


def split_ids(
    ids: np.ndarray, y: np.ndarray, *, test_fraction: float = 0.2, seed: int = 42
) -> tuple[set[int], set[int]]:
    """The stratified split expressed as sets of ids (what each party can apply to its rows)."""
    s = stratified_split(y, test_fraction=test_fraction, seed=seed)
    return {int(i) for i in ids[s.train]}, {int(i) for i in ids[s.test]}


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (Mann–Whitney, ties counted half)."""
    from scipy.stats import rankdata

    y = np.asarray(y)
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def feature_columns(df: pd.DataFrame) -> list[str]:
    """All columns except ``id``/``idx`` and the label ``y``."""
    return [c for c in df.columns if c not in ("id", "idx", "y")]
