"""Tumbling, hopping and session windows in event time, built from panes of mergeable partials.

A hopping window of ``size`` every ``slide`` (tumbling: ``slide == size``) is cut into panes
of ``gcd(size, slide)``; each event updates exactly one pane, and a window is the merge of its
panes when the watermark passes its end. Windows stay open for ``lateness`` more: a late event
updates its pane and the windows that already fired are fired again as ``update``. Windows are
aligned to multiples of ``slide`` from time 0 and only non-empty windows are emitted.

Two implementations share those semantics: :class:`ColumnarWindow` keeps the partials of the
moment statistics (count, sum, mean, var, std, min, max) in numpy arrays indexed by key and
updates and fires them a batch at a time; :class:`ObjectWindow` keeps one list of
:class:`~finchain.stream.stats.Statistic` partials per key and pane (any statistic, including
sketches). :class:`SessionWindow` closes a key's session after ``gap`` without events.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from finchain.stream.errors import StreamError
from finchain.stream.keyindex import KeyIndex
from finchain.stream.lookback import as_list
from finchain.stream.stats import Distinct, Max, Min, Quantile, Statistic, Sum, Var

__all__ = [
    "MOMENT_STATS",
    "ColumnarWindow",
    "ObjectWindow",
    "SessionWindow",
    "WindowOutput",
    "make_window",
    "parse_stat",
]

MOMENT_STATS = frozenset({"count", "sum", "mean", "var", "std", "min", "max"})


@dataclass(slots=True)
class WindowOutput:
    """Results of one firing, column by column (``kind``: final, update or retract)."""

    name: str
    kind: str
    keys: Any  # list or numpy array
    start: Any
    end: Any
    values: dict[str, Any] = field(default_factory=dict)
    offset: int = 0

    def __len__(self) -> int:
        return len(self.keys)

    def rows(self) -> list[tuple[Any, ...]]:
        cols = [as_list(c) for c in self.values.values()]
        keys, start, end = as_list(self.keys), as_list(self.start), as_list(self.end)
        return [
            (self.name, keys[i], start[i], end[i], *(c[i] for c in cols), self.kind)
            for i in range(len(keys))
        ]


def parse_stat(name: str) -> tuple[str, dict[str, Any]]:
    """A statistic spelling → (statistic, parameters): ``p99`` is the 0.99 quantile.

    >>> parse_stat("p99"), parse_stat("var")
    (('quantile', {'q': 0.99}), ('var', {}))
    """
    if len(name) > 1 and name[0] == "p" and name[1:].isdigit():
        digits = name[1:]
        return "quantile", {"q": float("0." + digits) if len(digits) > 1 else int(digits) / 10}
    if name in MOMENT_STATS or name == "distinct":
        return name, {}
    raise StreamError(
        f"unknown window statistic {name!r} (use count, sum, mean, var, std, min, max, "
        "distinct or pNN for a quantile)"
    )


class _Partial:
    """Factory of the partial aggregates a list of requested statistics needs."""

    __slots__ = ("need_minmax", "quantiles", "stats", "want_distinct")

    def __init__(self, stats: Sequence[str]) -> None:
        self.stats = tuple(stats)
        parsed = [parse_stat(s) for s in stats]
        self.quantiles = sorted({p["q"] for n, p in parsed if n == "quantile"})
        self.want_distinct = any(n == "distinct" for n, _ in parsed)
        self.need_minmax = any(n in ("min", "max") for n, _ in parsed)

    def new(self) -> list[Statistic]:
        parts: list[Statistic] = [Var(), Sum()]
        if self.need_minmax:
            parts += [Min(), Max()]
        parts += [Quantile(q) for q in self.quantiles]
        if self.want_distinct:
            parts.append(Distinct())
        return parts

    def values(self, parts: list[Statistic]) -> list[Any]:
        var = parts[0]
        assert isinstance(var, Var)
        out: list[Any] = []
        qi = 2 + (2 if self.need_minmax else 0)
        for s in self.stats:
            name, params = parse_stat(s)
            if name == "count":
                out.append(var.n)
            elif name == "sum":
                out.append(parts[1].get())
            elif name == "mean":
                out.append(var.mean)
            elif name == "var":
                out.append(var.get())
            elif name == "std":
                out.append(math.sqrt(var.get()))
            elif name == "min":
                out.append(parts[2].get())
            elif name == "max":
                out.append(parts[3].get())
            elif name == "quantile":
                out.append(parts[qi + self.quantiles.index(params["q"])].get())
            else:
                out.append(parts[-1].get())
        return out


class _PaneWindows:
    """Window bookkeeping shared by the two pane implementations."""

    def __init__(
        self,
        name: str,
        *,
        key: str,
        field: str | None,
        size: int,
        slide: int,
        stats: Sequence[str],
        lateness: int = 0,
    ) -> None:
        if size <= 0 or slide <= 0 or slide > size:
            raise StreamError(f"window {name!r}: need 0 < slide <= size")
        self.name = name
        self.key = key
        self.field = field
        self.size = size
        self.slide = slide
        self.pane = math.gcd(size, slide)
        self.stats = tuple(stats)
        self.lateness = lateness
        self.fired_end: int | None = None  # every window ending at or before this has fired
        self.dirty: dict[int, set[Hashable]] = {}

    def _window_starts(self, p: int) -> range:
        """Starts of the windows that contain pane ``p``."""
        first = (p - self.size) // self.slide * self.slide + self.slide
        last = p // self.slide * self.slide
        return range(first, last + 1, self.slide)

    def _mark_dirty(self, p: int, keys: Any) -> None:
        if self.fired_end is None:
            return
        for s in self._window_starts(p):
            if s + self.size <= self.fired_end:
                self.dirty.setdefault(s, set()).update(keys)

    def _ends_to_fire(
        self, watermark: int, first_pane: int | None, last_pane: int = 0
    ) -> list[int]:
        top = (watermark - self.size) // self.slide * self.slide + self.size
        if first_pane is None:
            if self.fired_end is None or top > self.fired_end:
                self.fired_end = top
            return []
        lo = self._window_starts(first_pane)[0] + self.size
        if self.fired_end is not None:
            lo = max(lo, self.fired_end + self.slide)
        hi = min(watermark, last_pane // self.slide * self.slide + self.size)
        ends = list(range(lo, hi + 1, self.slide)) if hi >= lo else []
        if self.fired_end is None or top > self.fired_end:
            self.fired_end = top
        return ends

    def _purge_before(self, watermark: int) -> int:
        """Panes starting before the returned time are no longer needed."""
        # pane p is needed while its last window (start p//slide*slide) is not purged
        return watermark - self.lateness - self.size + 1


class ObjectWindow(_PaneWindows):
    """Tumbling/hopping window over any statistics, one partial list per key and pane.

    >>> w = ObjectWindow("w", key="k", field="x", size=10, slide=5, stats=("count", "p50"))
    >>> w.add(["a", "a", "b"], [1, 6, 7], [1.0, 3.0, 5.0], None)
    >>> [(o.start[0], o.keys, o.values["count"]) for o in w.advance(10, 0)]
    [(-5, ['a'], [1]), (0, ['a', 'b'], [2, 1])]
    """

    def __init__(self, name: str, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.partial = _Partial(self.stats)
        self.panes: dict[int, dict[Hashable, list[Statistic]]] = {}

    def add(
        self,
        keys: Sequence[Hashable],
        ts: Sequence[int],
        xs: Sequence[Any] | None,
        late: Sequence[bool] | None,
    ) -> None:
        keys, ts, xs, late = as_list(keys), as_list(ts), as_list(xs), as_list(late)
        pane = self.pane
        panes = self.panes
        new = self.partial.new
        for i in range(len(ts)):
            t = ts[i]
            x = xs[i] if xs is not None else 1
            p = t - t % pane
            d = panes.get(p)
            if d is None:
                d = panes[p] = {}
            key = keys[i]
            parts = d.get(key)
            if parts is None:
                parts = d[key] = new()
            for st in parts:
                st.update(x)
            if late is not None and late[i]:
                self._mark_dirty(p, (key,))

    def _merged(self, start: int, keys: set[Hashable] | None) -> dict[Hashable, list[Statistic]]:
        acc: dict[Hashable, list[Statistic]] = {}
        for p in range(start, start + self.size, self.pane):
            d = self.panes.get(p)
            if not d:
                continue
            for key, parts in d.items():
                if keys is not None and key not in keys:
                    continue
                cur = acc.get(key)
                if cur is None:
                    acc[key] = [st.copy() for st in parts]
                else:
                    for a, b in zip(cur, parts, strict=True):
                        a.merge(b)
        return acc

    def _emit(
        self, start: int, kind: str, keys: set[Hashable] | None, offset: int
    ) -> WindowOutput | None:
        acc = self._merged(start, keys)
        if not acc:
            return None
        ordered = sorted(acc, key=repr)
        out = WindowOutput(
            self.name,
            kind,
            ordered,
            [start] * len(acc),
            [start + self.size] * len(acc),
            {s: [] for s in self.stats},
            offset,
        )
        cols = list(out.values.values())
        for key in ordered:
            for col, v in zip(cols, self.partial.values(acc[key]), strict=True):
                col.append(v)
        return out

    def advance(self, watermark: int, offset: int) -> list[WindowOutput]:
        outs: list[WindowOutput] = []
        for s, keys in sorted(self.dirty.items()):
            o = self._emit(s, "update", keys, offset)
            if o is not None:
                outs.append(o)
        self.dirty.clear()
        first = min(self.panes) if self.panes else None
        last = max(self.panes) if self.panes else 0
        for e in self._ends_to_fire(watermark, first, last):
            o = self._emit(e - self.size, "final", None, offset)
            if o is not None:
                outs.append(o)
        cut = self._purge_before(watermark)
        for p in [p for p in self.panes if p < cut]:
            del self.panes[p]
        return outs


class ColumnarWindow(_PaneWindows):
    """Tumbling/hopping window of moment statistics, a batch at a time with numpy.

    Each pane keeps the raw (key id, value) chunks that fell into it and, computed once when a
    window first needs it, its partial per key: ``n, Σx, mean, M2, min, max``. A window merges
    its panes' partials with the multi-group form of Chan's formula,
    ``M2 = Σ M2ᵢ + Σ nᵢ (meanᵢ − mean)²``. A late event appends to its pane and drops the
    pane's cached partial.

    >>> w = ColumnarWindow("w", key="k", field="x", size=10, slide=10, stats=("count", "sum"))
    >>> w.add(["a", "b", "a"], [1, 2, 3], [10, 20, 30], None)
    >>> [o.rows() for o in w.advance(10, 0)]
    [[('w', 'a', 0, 10, 2, 40.0, 'final'), ('w', 'b', 0, 10, 1, 20.0, 'final')]]
    """

    def __init__(self, name: str, **kw: Any) -> None:
        super().__init__(name, **kw)
        bad = [s for s in self.stats if s not in MOMENT_STATS]
        if bad:
            raise StreamError(f"columnar window {name!r} cannot compute {bad[0]!r}")
        self.index = KeyIndex()
        # pane start -> [list of key-id chunks, list of value chunks, cached partial or None]
        self.panes: dict[int, list[Any]] = {}

    def add(
        self,
        keys: Sequence[Hashable],
        ts: Sequence[int],
        xs: Sequence[Any] | None,
        late: Sequence[bool] | None,
    ) -> None:
        if len(ts) == 0:
            return
        k = self.index.lookup(keys)
        t = ts if isinstance(ts, np.ndarray) else np.asarray(ts, dtype=np.int64)
        x = np.ones(len(t)) if xs is None else np.asarray(xs, dtype=np.float64)
        p = t - t % self.pane
        lt = None if late is None else np.asarray(late, dtype=bool)
        if p[0] == p[-1] and (len(p) < 3 or bool((p == p[0]).all())):
            groups: list[tuple[int, Any]] = [(int(p[0]), None)]
        else:
            groups = [(int(v), p == v) for v in np.unique(p)]
        for pv, sel in groups:
            kk = k if sel is None else k[sel]
            xx = x if sel is None else x[sel]
            pane = self.panes.get(pv)
            if pane is None:
                pane = self.panes[pv] = [[], [], None]
            pane[0].append(kk)
            pane[1].append(xx)
            pane[2] = None
            if lt is not None:
                ll = lt if sel is None else lt[sel]
                if ll.any():
                    self._mark_dirty(pv, self.index.keys_of(np.unique(kk[ll])))

    def _partial(self, pane: list[Any]) -> tuple[np.ndarray, ...]:
        if pane[2] is None:
            if len(pane[0]) > 1:
                pane[0] = [np.concatenate(pane[0])]
                pane[1] = [np.concatenate(pane[1])]
            pane[2] = _group_moments(pane[0][0], pane[1][0])
        return pane[2]  # type: ignore[no-any-return]

    def _emit(
        self, start: int, kind: str, only: set[Hashable] | None, offset: int
    ) -> WindowOutput | None:
        parts = [
            self._partial(self.panes[p])
            for p in range(start, start + self.size, self.pane)
            if p in self.panes
        ]
        if not parts:
            return None
        if len(parts) == 1:
            uk, n, s, mean, m2, mn, mx = parts[0]
        else:
            cat = [np.concatenate([part[j] for part in parts]) for j in range(7)]
            uk, inv = np.unique(cat[0], return_inverse=True)
            n = np.bincount(inv, weights=cat[1]).astype(np.int64)
            s = np.bincount(inv, weights=cat[2])
            mean = s / n
            dev = cat[3] - mean[inv]
            m2 = np.bincount(inv, weights=cat[4] + cat[1] * dev * dev)
            mn = np.full(len(uk), np.inf)
            mx = np.full(len(uk), -np.inf)
            np.minimum.at(mn, inv, cat[5])
            np.maximum.at(mx, inv, cat[6])
        if only is not None:
            want = np.array(sorted(self.index.ids[k] for k in only), dtype=np.int64)
            sel = np.isin(uk, want)
            uk, n, s, mean, m2, mn, mx = (a[sel] for a in (uk, n, s, mean, m2, mn, mx))
        if len(uk) == 0:
            return None
        var = m2 / n
        cols = {
            "count": n,
            "sum": s,
            "mean": mean,
            "var": var,
            "std": np.sqrt(var),
            "min": mn,
            "max": mx,
        }
        m = len(uk)
        return WindowOutput(
            self.name,
            kind,
            self.index.key_array(uk),
            np.full(m, start, np.int64),
            np.full(m, start + self.size, np.int64),
            {st: cols[st] for st in self.stats},
            offset,
        )

    def advance(self, watermark: int, offset: int) -> list[WindowOutput]:
        outs: list[WindowOutput] = []
        for s, keys in sorted(self.dirty.items()):
            o = self._emit(s, "update", keys, offset)
            if o is not None:
                outs.append(o)
        self.dirty.clear()
        first = min(self.panes) if self.panes else None
        last = max(self.panes) if self.panes else 0
        for e in self._ends_to_fire(watermark, first, last):
            o = self._emit(e - self.size, "final", None, offset)
            if o is not None:
                outs.append(o)
        cut = self._purge_before(watermark)
        for p in [p for p in self.panes if p < cut]:
            del self.panes[p]
        return outs


def _group_moments(k: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per key: ids, n, Σx, mean, M2, min, max (ids sorted)."""
    uk, inv = np.unique(k, return_inverse=True)
    n = np.bincount(inv)
    s = np.bincount(inv, weights=x)
    mean = s / n
    d = x - mean[inv]
    m2 = np.bincount(inv, weights=d * d)
    order = np.argsort(inv, kind="stable")
    starts = np.searchsorted(inv[order], np.arange(len(uk)))
    xs = x[order]
    mn = np.minimum.reduceat(xs, starts)
    mx = np.maximum.reduceat(xs, starts)
    return uk, n, s, mean, m2, mn, mx


class SessionWindow:
    """Per-key sessions: events closer than ``gap`` share a window ``[first, last + gap)``.

    >>> w = SessionWindow("s", key="k", field="x", gap=5, stats=("count", "sum"))
    >>> w.add(["a", "a", "a"], [0, 3, 20], [1, 2, 4], None)
    >>> [o.rows() for o in w.advance(30, 0)]
    [[('s', 'a', 0, 8, 2, 3, 'final')], [('s', 'a', 20, 25, 1, 4, 'final')]]
    """

    def __init__(
        self,
        name: str,
        *,
        key: str,
        field: str | None,
        gap: int,
        stats: Sequence[str],
        lateness: int = 0,
    ) -> None:
        if gap <= 0:
            raise StreamError(f"session window {name!r}: gap must be positive")
        self.name = name
        self.key = key
        self.field = field
        self.gap = gap
        self.stats = tuple(stats)
        self.lateness = lateness
        self.partial = _Partial(self.stats)
        # key -> list of [start, last, parts, fired] sorted by start
        self.sessions: dict[Hashable, list[list[Any]]] = {}
        self.pending: list[tuple[str, Hashable, list[Any]]] = []

    def add(
        self,
        keys: Sequence[Hashable],
        ts: Sequence[int],
        xs: Sequence[Any] | None,
        late: Sequence[bool] | None,
    ) -> None:
        keys, ts, xs = as_list(keys), as_list(ts), as_list(xs)
        gap = self.gap
        for i in range(len(ts)):
            t = ts[i]
            x = xs[i] if xs is not None else 1
            key = keys[i]
            lst = self.sessions.setdefault(key, [])
            if lst and lst[-1][0] - gap < t and t < lst[-1][1] + gap and t >= lst[-1][0]:
                sess = lst[-1]
                if t > sess[1]:
                    sess[1] = t
                for st in sess[2]:
                    st.update(x)
                if sess[3]:
                    sess[3] = 2  # fired, now updated
                continue
            hit = [s for s in lst if s[0] - gap < t < s[1] + gap]
            parts = self.partial.new()
            for st in parts:
                st.update(x)
            merged: list[Any] = [t, t, parts, 0]
            for s in hit:
                lst.remove(s)
                if s[3]:
                    self.pending.append(("retract", key, s))
                    merged[3] = 2
                merged[0] = min(merged[0], s[0])
                merged[1] = max(merged[1], s[1])
                for a, b in zip(merged[2], s[2], strict=True):
                    a.merge(b)
            lst.append(merged)
            lst.sort(key=lambda s: s[0])

    def advance(self, watermark: int, offset: int) -> list[WindowOutput]:
        outs: list[WindowOutput] = []
        for kind, key, s in self.pending:
            outs.append(self._out(kind, key, s, offset))
        self.pending.clear()
        empty: list[Hashable] = []
        for key, lst in self.sessions.items():
            keep: list[list[Any]] = []
            for s in lst:
                end = s[1] + self.gap
                if end <= watermark and s[3] != 1:
                    outs.append(self._out("final" if s[3] == 0 else "update", key, s, offset))
                    s[3] = 1
                if end + self.lateness > watermark:
                    keep.append(s)
            if keep:
                self.sessions[key] = keep
            else:
                empty.append(key)
        for key in empty:
            del self.sessions[key]
        return outs

    def _out(self, kind: str, key: Hashable, s: list[Any], offset: int) -> WindowOutput:
        vals = self.partial.values(s[2])
        return WindowOutput(
            self.name,
            kind,
            [key],
            [s[0]],
            [s[1] + self.gap],
            {st: [v] for st, v in zip(self.stats, vals, strict=True)},
            offset,
        )


def make_window(
    name: str,
    *,
    kind: str,
    key: str,
    field: str | None,
    stats: Sequence[str],
    size: int = 0,
    slide: int = 0,
    gap: int = 0,
    lateness: int = 0,
    columnar: bool | None = None,
) -> ObjectWindow | ColumnarWindow | SessionWindow:
    """Build a window aggregator; ``columnar`` defaults to "when every statistic allows it"."""
    if kind == "session":
        return SessionWindow(name, key=key, field=field, gap=gap, stats=stats, lateness=lateness)
    if kind == "tumbling":
        slide = size
    elif kind != "hopping":
        raise StreamError(f"unknown window kind {kind!r} (tumbling, hopping, session, lookback)")
    if columnar is None:
        columnar = set(stats) <= MOMENT_STATS
    cls = ColumnarWindow if columnar else ObjectWindow
    return cls(name, key=key, field=field, size=size, slide=slide, stats=stats, lateness=lateness)
