"""The keyed event-time engine: watermarks, ordered release, late side output, windows, rules.

Events arrive in columnar batches (``{"ts": [...], "card": [...], "amount": [...]}``; ``ts`` in
integer milliseconds). The watermark is ``max(ts seen) - out_of_orderness``. An event at or
ahead of the watermark waits in a reorder buffer until the watermark reaches it and is then
*released* in time order, so results do not depend on arrival order within the bound. An event
behind the watermark is *late*: within ``allowed_lateness`` it is released at once (lookbacks
insert it in time order, windows that already fired fire again as ``update``); beyond it, it goes
to the late side output (:attr:`BatchResult.late`, and the ``on_late`` hook), never dropped
silently. With ``out_of_orderness = 0`` and in-order input the buffer is bypassed entirely.

Each released event gets one value per lookback statistic; rules are then evaluated on it, in
release order. Windows fire when the watermark passes their end, at batch boundaries.

>>> eng = Engine()
>>> _ = eng.add_lookback("spend", key="card", field="amount", span="5m")
>>> r = eng.process({"ts": [0, 1000], "card": ["c1", "c1"], "amount": [500, 700]})
>>> r.values["spend.sum"].tolist(), r.values["spend.count"].tolist()
([500, 1200], [1, 2])
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from finchain.stream.errors import StreamError
from finchain.stream.lookback import Lookback
from finchain.stream.timeutil import parse_duration
from finchain.stream.vlookback import VECTOR_STATS, VectorLookback
from finchain.stream.windows import (
    ColumnarWindow,
    ObjectWindow,
    SessionWindow,
    WindowOutput,
    make_window,
)

__all__ = ["Alert", "BatchResult", "Engine"]

WindowAgg = ObjectWindow | ColumnarWindow | SessionWindow


@dataclass(slots=True, frozen=True)
class Alert:
    """A rule that held for one event (``offset``: the event's position in the input)."""

    rule: str
    action: str
    message: str
    key: Hashable
    ts: int
    offset: int


@dataclass(slots=True)
class BatchResult:
    """What one call to :meth:`Engine.process` produced."""

    #: released events, columns in release order, with ``_offset`` (input position)
    released: dict[str, list[Any]]
    #: lookback values per released event: ``"name.stat"`` → column
    values: dict[str, list[Any]]
    windows: list[WindowOutput] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    #: late events beyond the allowed lateness (side output), as row dicts
    late: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.released.get("ts", ()))


class Engine:
    """A single-threaded keyed stream processor; one per partition of the keys."""

    def __init__(
        self,
        *,
        out_of_orderness: int | str = 0,
        allowed_lateness: int | str = 0,
        time_field: str = "ts",
        vectorized: bool = True,
    ) -> None:
        self.ooo = parse_duration(out_of_orderness)
        self.lateness = parse_duration(allowed_lateness)
        self.time_field = time_field
        self.vectorized = vectorized
        self.lookbacks: list[Lookback | VectorLookback] = []
        self.windows: list[WindowAgg] = []
        self.max_ts: int | None = None
        self.offset = 0  # events consumed from the source so far
        self.buffer: list[tuple[int, int, dict[str, Any]]] = []  # (ts, offset, row)
        self.late_count = 0
        self.rules: Any = None  # finchain.stream.rules.RuleSet, set by set_rules
        self.on_late: Callable[[dict[str, Any]], None] | None = None
        self._by_indicator: dict[str, Lookback | VectorLookback] = {}
        self._by_signature: dict[tuple[Any, ...], Lookback | VectorLookback] = {}

    # -- checkpoints ------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["on_late"] = None
        state["_by_signature"] = {}
        state["_by_indicator"] = {}
        rules = state.pop("rules")
        state["_rule_sources"] = None if rules is None else rules.sources()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        sources = state.pop("_rule_sources", None)
        self.__dict__.update(state)
        self.rules = None
        if sources is not None:
            from finchain.stream.rules import RuleSet

            self.set_rules(RuleSet(sources))

    # -- configuration ----------------------------------------------------------------------
    @property
    def watermark(self) -> int | None:
        return None if self.max_ts is None else self.max_ts - self.ooo

    def add_lookback(
        self,
        name: str,
        *,
        key: str,
        field: str | None,
        span: int | str,
        stats: Sequence[str] = ("count", "sum", "mean", "var"),
    ) -> Lookback | VectorLookback:
        if any(lb.name == name for lb in self.lookbacks):
            raise StreamError(f"indicator {name!r} already defined")
        cls = VectorLookback if self.vectorized and set(stats) <= VECTOR_STATS else Lookback
        lb = cls(
            name, key=key, field=field, span=parse_duration(span), stats=stats, retain=self.lateness
        )
        self.lookbacks.append(lb)
        return lb

    def lookback_for(self, key: str, field: str | None, span: int, stat: str) -> tuple[str, str]:
        """The lookback that serves ``stat`` of ``field`` over ``span`` by ``key`` (made if new)."""
        minmax = stat in ("min", "max")
        sig = (key, field, span, minmax)
        lb = self._by_signature.get(sig)
        if lb is None:
            for cand in self.lookbacks:
                if (cand.key, cand.field, cand.span, "min" in cand.stats) == sig:
                    lb = cand
                    break
        if lb is None:
            from finchain.stream.timeutil import format_duration

            name = f"{field or 'events'}_{format_duration(span)}_by_{key}"
            if minmax:
                name += "_range"
            stats = ("min", "max") if minmax else ("count", "sum", "mean", "var", "std")
            lb = self.add_lookback(name, key=key, field=field, span=span, stats=stats)
        self._by_signature[sig] = lb
        if stat not in lb.stats:
            raise StreamError(f"indicator {lb.name!r} does not compute {stat!r}")
        return lb.name, stat

    def add_window(
        self,
        name: str,
        *,
        kind: str,
        key: str,
        field: str | None,
        stats: Sequence[str],
        size: int | str = 0,
        slide: int | str = 0,
        gap: int | str = 0,
        columnar: bool | None = None,
    ) -> WindowAgg:
        w = make_window(
            name,
            kind=kind,
            key=key,
            field=field,
            stats=stats,
            size=parse_duration(size),
            slide=parse_duration(slide or size),
            gap=parse_duration(gap),
            lateness=self.lateness,
            columnar=columnar,
        )
        self.windows.append(w)
        return w

    def set_rules(self, rules: Any) -> None:
        """Install a :class:`~finchain.stream.rules.RuleSet`; hot reload is calling this again."""
        rules.bind(self)
        self.rules = rules

    # -- processing -------------------------------------------------------------------------
    def process(self, cols: Mapping[str, Sequence[Any]]) -> BatchResult:
        """Consume one columnar batch; return what it released, computed and fired."""
        ts = cols[self.time_field]
        n = len(ts)
        base = self.offset
        self.offset += n
        late_out: list[dict[str, Any]] = []
        if n == 0:
            rel: dict[str, list[Any]] = {k: [] for k in cols}
            rel["_offset"] = []
            late_flags = None
        elif (
            self.ooo == 0
            and not self.buffer
            and (self.max_ts is None or ts[0] >= self.max_ts)
            and _nondecreasing(ts)
        ):
            rel = dict(cols)  # type: ignore[arg-type]
            rel["_offset"] = np.arange(base, base + n)  # type: ignore[assignment]
            self.max_ts = ts[n - 1]
            late_flags = None
        else:
            rel, late_flags = self._release(cols, base, late_out)
        return self._run(rel, late_flags, late_out)

    def flush(self) -> BatchResult:
        """End of input: release everything buffered and fire every open window."""
        rows = [heapq.heappop(self.buffer) for _ in range(len(self.buffer))]
        keys = list(rows[0][2]) if rows else [self.time_field]
        rel: dict[str, list[Any]] = {k: [r[2][k] for r in rows] for k in keys}
        rel["_offset"] = [r[1] for r in rows]
        res = self._run(rel, None, [], final_watermark=2**62)
        return res

    def _release(
        self, cols: Mapping[str, Sequence[Any]], base: int, late_out: list[dict[str, Any]]
    ) -> tuple[dict[str, list[Any]], list[bool]]:
        names = list(cols)
        ts = cols[self.time_field]
        out: list[tuple[dict[str, Any], int, bool]] = []
        buf = self.buffer
        for i in range(len(ts)):
            t = ts[i]
            row = {k: cols[k][i] for k in names}
            wm = None if self.max_ts is None else self.max_ts - self.ooo
            if wm is not None and t < wm:
                if t < wm - self.lateness:
                    self.late_count += 1
                    late_row = dict(row)
                    late_row["_offset"] = base + i
                    late_row["_watermark"] = wm
                    late_out.append(late_row)
                    if self.on_late is not None:
                        self.on_late(late_row)
                else:
                    out.append((row, base + i, True))
                continue
            if self.max_ts is None or t > self.max_ts:
                self.max_ts = t
            heapq.heappush(buf, (t, base + i, row))
            wm = self.max_ts - self.ooo
            while buf and buf[0][0] <= wm:
                _, off, r = heapq.heappop(buf)
                out.append((r, off, False))
        rel: dict[str, list[Any]] = {k: [r[0][k] for r in out] for k in names}
        rel["_offset"] = [r[1] for r in out]
        return rel, [r[2] for r in out]

    def _run(
        self,
        rel: dict[str, list[Any]],
        late_flags: list[bool] | None,
        late_out: list[dict[str, Any]],
        final_watermark: int | None = None,
    ) -> BatchResult:
        ts = rel.get(self.time_field, [])
        m = len(ts)
        values: dict[str, list[Any]] = {}
        for lb in self.lookbacks:
            out = lb.new_output(m)
            if m:
                lb.run(
                    rel[lb.key], ts, None if lb.field is None else rel[lb.field], late_flags, out, 0
                )
            for stat, col in out.items():
                values[f"{lb.name}.{stat}"] = col
        for w in self.windows:
            if m:
                w.add(rel[w.key], ts, None if w.field is None else rel[w.field], late_flags)
        wm = final_watermark if final_watermark is not None else self.watermark
        fired: list[WindowOutput] = []
        if wm is not None:
            for w in self.windows:
                fired.extend(w.advance(wm, self.offset))
        alerts: list[Alert] = []
        if self.rules is not None and m:
            alerts = self.rules.evaluate(rel, values, self.time_field)
        return BatchResult(rel, values, fired, alerts, late_out)

    # -- queries ----------------------------------------------------------------------------
    def query(self, key: Hashable, at: int | None = None) -> dict[str, Any]:
        """Every lookback indicator of ``key``: as of time ``at``, or by default as of the newest
        event time the engine has processed (``name.stat`` → value; empty for unknown keys)."""
        out: dict[str, Any] = {}
        for lb in self.lookbacks:
            vals = (
                lb.current(key) if at is None else (lb.peek(key, at) if key in lb.state else None)
            )
            if vals is not None:
                for stat, v in vals.items():
                    out[f"{lb.name}.{stat}"] = v
        return out

    def indicator(self, key: Hashable, name: str) -> Any:
        """One value, ``name`` = ``indicator.stat`` (None when unknown)."""
        lb = self._by_indicator.get(name)
        if lb is None:
            ind, _, stat = name.rpartition(".")
            for cand in self.lookbacks:
                if cand.name == ind and stat in cand.stats:
                    lb = self._by_indicator[name] = cand
                    break
            else:
                return None
        stat = name.rpartition(".")[2]
        if isinstance(lb, VectorLookback):
            return lb.value(key, stat)
        vals = lb.current(key)
        return None if vals is None else vals[stat]

    def indicator_names(self) -> list[str]:
        return [f"{lb.name}.{s}" for lb in self.lookbacks for s in lb.stats]

    def keys(self) -> list[Hashable]:
        seen: dict[Hashable, None] = {}
        for lb in self.lookbacks:
            for k in lb.state:
                seen[k] = None
        return list(seen)

    def check(self, event: Mapping[str, Any]) -> list[Alert]:
        """Risk check: the alerts ``event`` would raise now, without changing any state."""
        if self.rules is None:
            return []
        t = event.get(self.time_field)
        if t is None:
            t = self.max_ts if self.max_ts is not None else 0
        values: dict[str, list[Any]] = {}
        for lb in self.lookbacks:
            key = event.get(lb.key)
            x = 1 if lb.field is None else event.get(lb.field)
            if x is None:
                continue
            for stat, v in lb.peek(key, t, x).items():
                values[f"{lb.name}.{stat}"] = [v]
        row = {k: [v] for k, v in event.items()}
        row[self.time_field] = [t]
        row["_offset"] = [-1]
        result: list[Alert] = self.rules.evaluate(row, values, self.time_field)
        return result


def _as_list(col: Sequence[Any]) -> list[Any]:
    tolist = getattr(col, "tolist", None)
    return tolist() if tolist is not None else list(col)  # type: ignore[no-any-return]


def _nondecreasing(ts: Sequence[int]) -> bool:
    if hasattr(ts, "dtype"):
        import numpy as np

        arr = np.asarray(ts)
        return bool((arr[1:] >= arr[:-1]).all())
    prev = -math.inf
    for t in ts:
        if t < prev:
            return False
        prev = t
    return True
