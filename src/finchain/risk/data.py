"""Schema-checked loading of tabular credit data.

:func:`load_credit_table` reads any delimited credit table (comma, semicolon, tab or pipe), infers
each column's type, drops leakage-prone identifier columns (with a warning), maps a binary target
of any spelling to 0/1 and returns a :class:`CreditTable` whose :class:`TableSchema` can later turn
plain request dictionaries into the same numeric matrix without pandas.

Example:
    >>> import io
    >>> csv = io.StringIO("id,income,city,bad\\n1,10,A,0\\n2,20,B,1\\n3,,A,0\\n4,40,C,1\\n")
    >>> table = load_credit_table(csv, target="bad", min_rows=1)
    >>> table.schema.names
    ('income', 'city')
    >>> sorted(table.dropped)
    ['id']
    >>> table.schema.encode_records([{"income": 15, "city": "B"}]).tolist()
    [[15.0, 1.0]]
"""

from __future__ import annotations

import difflib
import hashlib
import io
import logging
import math
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import pandas as pd

from finchain.risk.errors import SchemaError, ScoringInputError

log = logging.getLogger(__name__)

Kind = Literal["numeric", "categorical"]

#: target values read as "bad" (1) when the target is not already 0/1.
POSITIVE_TOKENS = frozenset(
    {"1", "true", "yes", "y", "bad", "default", "defaulted", "charged off", "fraud", "t"}
)
_ID_NAME = re.compile(
    r"(^id$|^id[_\W]|[_\W]id$|^sk_id|^unnamed|^index$|uuid|guid|^row_?num|^customer_?no|_key$)",
    re.IGNORECASE,
)
OTHER = "__other__"


class LeakageWarning(UserWarning):
    """A column was dropped because it identifies rows or reveals the target."""


@dataclass(frozen=True)
class ColumnSpec:
    """One feature: its name, kind and, for categories, the known levels (code = position)."""

    name: str
    kind: Kind
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableSchema:
    """The feature columns of a table, in model order, and how to encode them."""

    columns: tuple[ColumnSpec, ...]
    _lookup: dict[str, dict[str, float]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for spec in self.columns:
            if spec.kind == "categorical":
                codes = {c: float(i) for i, c in enumerate(spec.categories)}
                self._lookup[spec.name] = codes

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def categorical_indices(self) -> list[int]:
        return [i for i, c in enumerate(self.columns) if c.kind == "categorical"]

    def encode_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """Encode a typed frame (as :func:`load_credit_table` returns) into a float matrix."""
        out = np.full((len(frame), len(self.columns)), np.nan)
        for j, spec in enumerate(self.columns):
            if spec.name not in frame.columns:
                continue
            col = frame[spec.name]
            if spec.kind == "numeric":
                out[:, j] = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
            else:
                codes = self._lookup[spec.name]
                other = codes.get(OTHER, math.nan)
                out[:, j] = [
                    math.nan if _is_missing(v) else codes.get(_norm_cat(v), other) for v in col
                ]
        return out

    def encode_records(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Encode request dictionaries (the scoring hot path: no pandas).

        Missing or ``None`` values become NaN (the models handle them); unknown categories fall
        into the "other" level when the training data had one, else NaN. A value that cannot be
        read as a number raises :class:`ScoringInputError` naming the field.
        """
        out = np.full((len(records), len(self.columns)), np.nan)
        for i, rec in enumerate(records):
            for j, spec in enumerate(self.columns):
                v = rec.get(spec.name)
                if v is None:
                    continue
                if spec.kind == "numeric":
                    if isinstance(v, bool) or not isinstance(v, int | float | str):
                        raise ScoringInputError(
                            f"field {spec.name!r} must be a number, got {type(v).__name__}"
                        )
                    try:
                        out[i, j] = float(v)
                    except ValueError:
                        raise ScoringInputError(
                            f"field {spec.name!r} must be a number, got {v!r}"
                        ) from None
                else:
                    codes = self._lookup[spec.name]
                    out[i, j] = codes.get(_norm_cat(v), codes.get(OTHER, math.nan))
        return out

    def to_json(self) -> list[dict[str, Any]]:
        return [
            {"name": c.name, "kind": c.kind, "categories": list(c.categories)} for c in self.columns
        ]


@dataclass
class CreditTable:
    """A loaded credit table: typed features, a 0/1 target and the schema that encodes them."""

    features: pd.DataFrame
    y: np.ndarray
    schema: TableSchema
    target: str
    dropped: dict[str, str]
    sha256: str
    positive_label: str

    @property
    def bad_rate(self) -> float:
        return float(self.y.mean())

    def matrix(self) -> np.ndarray:
        return self.schema.encode_frame(self.features)


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA


def _norm_cat(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file's bytes, the data fingerprint stored in the model registry."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sniff_separator(first_line: str) -> str:
    """The most frequent of ``, ; TAB |`` in a header line.

    >>> sniff_separator("a;b;c")
    ';'
    """
    counts = {sep: first_line.count(sep) for sep in (",", ";", "\t", "|")}
    return max(counts, key=lambda s: counts[s])


def read_table(source: str | Path | IO[str], *, sep: str | None = None) -> pd.DataFrame:
    """Read a delimited file, sniffing the separator; errors become :class:`SchemaError`."""
    try:
        if isinstance(source, str | Path):
            path = Path(source)
            if not path.is_file():
                raise SchemaError(f"no such data file: {path}")
            with open(path, encoding="utf-8", errors="replace") as fh:
                head = fh.readline()
            sep = sep or sniff_separator(head)
            return pd.read_csv(path, sep=sep, low_memory=False)
        text = source.read()
        sep = sep or sniff_separator(text.split("\n", 1)[0])
        return pd.read_csv(io.StringIO(text), sep=sep, low_memory=False)
    except SchemaError:
        raise
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise SchemaError(f"cannot parse {source}: {exc}") from exc


def encode_target(values: pd.Series, target: str) -> tuple[np.ndarray, str]:
    """Map a two-valued target to 0/1 (1 = bad/default/fraud); returns codes and the bad label.

    >>> encode_target(pd.Series(["no", "yes", "no"]), "t")[0].tolist()
    [0, 1, 0]
    """
    levels = sorted({_norm_cat(v) for v in values})
    if len(levels) == 1:
        raise SchemaError(f"target {target!r} has one value only ({levels[0]!r}); need two classes")
    if len(levels) != 2:
        shown = ", ".join(levels[:6]) + (" …" if len(levels) > 6 else "")
        raise SchemaError(
            f"target {target!r} must be binary but has {len(levels)} values ({shown})"
        )
    if set(levels) == {"0", "1"}:
        positive = "1"
    else:
        hits = [lv for lv in levels if lv.lower() in POSITIVE_TOKENS]
        if len(hits) == 1:
            positive = hits[0]
        else:
            positive = levels[1]
            warnings.warn(
                f"target {target!r}: taking {positive!r} as the bad class (values {levels})",
                stacklevel=3,
            )
    y = np.fromiter((_norm_cat(v) == positive for v in values), dtype=np.int8, count=len(values))
    return y, positive


def _looks_like_id(name: str, col: pd.Series) -> bool:
    n = len(col)
    if n == 0:
        return False
    nunique = col.nunique(dropna=True)
    if _ID_NAME.search(name) and nunique >= 0.95 * n:
        return True
    if pd.api.types.is_integer_dtype(col) and nunique == n and n > 20:
        arr = col.to_numpy()
        diffs = np.diff(arr)
        if (diffs > 0).all() or (diffs < 0).all():
            return True  # a running row number
    return bool(col.dtype == object and nunique == n and n > 20)


def _infer_column(col: pd.Series, max_categories: int) -> tuple[pd.Series, ColumnSpec]:
    name = str(col.name)
    if pd.api.types.is_bool_dtype(col):
        col = col.astype(float)
    if pd.api.types.is_numeric_dtype(col):
        return col.astype(float), ColumnSpec(name, "numeric")
    as_text = col.astype("string").str.strip().str.rstrip("%")
    as_num = pd.to_numeric(as_text, errors="coerce")
    present = col.notna().sum()
    if present and as_num.notna().sum() >= 0.98 * present:
        return as_num.astype(float), ColumnSpec(name, "numeric")
    cats = col.map(lambda v: None if _is_missing(v) else _norm_cat(v))
    counts = cats.value_counts()
    keep = list(counts.index[:max_categories])
    if len(counts) > max_categories:
        cats = cats.where(cats.isin(keep) | cats.isna(), OTHER)
        keep.append(OTHER)
    return cats, ColumnSpec(name, "categorical", tuple(sorted(keep)))


def load_credit_table(
    source: str | Path | IO[str],
    *,
    target: str,
    sep: str | None = None,
    drop: Iterable[str] = (),
    max_categories: int = 50,
    min_rows: int = 50,
) -> CreditTable:
    """Load a credit table and check it can train a binary model.

    Raises :class:`SchemaError` with one clear line when the target column is absent (naming the
    closest columns), not binary, single-class, or the table is too small. Identifier columns
    (unique per row, id-like names or running row numbers) and columns that reproduce the target
    are dropped with a :class:`LeakageWarning`; constant and empty columns are dropped silently.
    """
    frame = read_table(source, sep=sep)
    frame.columns = [str(c).strip() for c in frame.columns]
    if target not in frame.columns:
        near = difflib.get_close_matches(target, frame.columns, n=3, cutoff=0.4)
        hint = f"; did you mean {', '.join(repr(c) for c in near)}?" if near else ""
        cols = ", ".join(frame.columns[:12]) + (" …" if len(frame.columns) > 12 else "")
        raise SchemaError(f"target column {target!r} not in the data (columns: {cols}){hint}")
    labelled = frame[frame[target].notna()]
    if len(labelled) < len(frame):
        log.warning("dropped %d rows without a target", len(frame) - len(labelled))
    if len(labelled) < min_rows:
        raise SchemaError(f"only {len(labelled)} labelled rows; need at least {min_rows}")
    y, positive = encode_target(labelled[target], target)
    if min(int(y.sum()), len(y) - int(y.sum())) < 2:
        raise SchemaError(f"target {target!r} needs at least 2 rows of each class")
    dropped: dict[str, str] = {}
    for name in drop:
        if name not in labelled.columns:
            raise SchemaError(f"--drop column {name!r} not in the data")
        dropped[name] = "dropped on request"
    features: dict[str, pd.Series] = {}
    specs: list[ColumnSpec] = []
    for name in labelled.columns:
        if name == target or name in dropped:
            continue
        col = labelled[name].reset_index(drop=True)
        if col.isna().all() or col.nunique(dropna=True) <= 1:
            dropped[name] = "constant or empty"
            continue
        if _looks_like_id(name, col):
            dropped[name] = "identifier (unique per row): leakage-prone"
            warnings.warn(f"dropping identifier column {name!r}", LeakageWarning, stacklevel=2)
            continue
        series, spec = _infer_column(col, max_categories)
        if _reveals_target(series, y):
            dropped[name] = "reproduces the target: leakage"
            warnings.warn(f"dropping column {name!r}: it reproduces the target", LeakageWarning, 2)
            continue
        features[name] = series
        specs.append(spec)
    if not specs:
        raise SchemaError("no usable feature columns left after dropping ids and constants")
    fingerprint = (
        sha256_file(source)
        if isinstance(source, str | Path)
        else hashlib.sha256(pd.util.hash_pandas_object(frame).to_numpy().tobytes()).hexdigest()
    )
    return CreditTable(
        features=pd.DataFrame(features),
        y=y,
        schema=TableSchema(tuple(specs)),
        target=target,
        dropped=dropped,
        sha256=fingerprint,
        positive_label=positive,
    )


def load_labelled_matrix(
    source: str | Path | IO[str], schema: TableSchema, *, target: str, sep: str | None = None
) -> tuple[np.ndarray, np.ndarray, str]:
    """Read a labelled file with a trained model's schema: (encoded matrix, 0/1 target, sha256).

    Unlike :func:`load_credit_table` nothing is inferred or dropped: columns are taken by name,
    missing ones become NaN, so new batches score exactly as the model expects.
    """
    frame = read_table(source, sep=sep)
    frame.columns = [str(c).strip() for c in frame.columns]
    if target not in frame.columns:
        raise SchemaError(f"target column {target!r} not in the data")
    frame = frame[frame[target].notna()].reset_index(drop=True)
    missing = [n for n in schema.names if n not in frame.columns]
    if len(missing) == len(schema.names):
        raise SchemaError("none of the model's feature columns are in the data")
    if missing:
        log.warning("columns missing from the data (scored as missing): %s", missing)
    y, _ = encode_target(frame[target], target)
    sha = sha256_file(source) if isinstance(source, str | Path) else ""
    return schema.encode_frame(frame), y, sha


def _reveals_target(series: pd.Series, y: np.ndarray) -> bool:
    """True when the column alone separates the classes perfectly (a copy or recoding)."""
    values = series.astype("string").fillna("<NA>").to_numpy()
    if len(set(values)) > 50:
        return False
    frame = pd.DataFrame({"v": values, "y": y})
    purity = frame.groupby("v")["y"].agg(["min", "max"])
    return bool((purity["min"] == purity["max"]).all() and len(purity) <= 50 and len(y) > 20)
