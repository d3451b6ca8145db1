"""Per-event lookback windows: "the last 5 minutes for this key, as of this event".

For each released event at time ``t`` the window is ``(t - span, t]`` over the events of the
same key released so far (Flink's ``OVER ... RANGE``, Kafka Streams' sliding windows). The hot
loop keeps, per key, two parallel lists of times and values and *shifted power sums*
``n, Σ(x-k), Σ(x-k)²`` with ``k`` the first value of the current run: adding and removing an
event is a few integer or float operations, integers stay exact (money in minor units) and
the shift keeps float variance stable. When a key's window empties the sums reset to exact
zeros, so float drift cannot build up across runs. Minimum and maximum use monotonic deques.

Late events (behind the watermark but within the allowed lateness) take a slow path: they are
inserted at their place in time order and their own window is computed by a scan.

>>> lb = Lookback("spend", key="card", field="amount", span=300_000)
>>> out = lb.new_output(3)
>>> lb.run(["a", "a", "a"], [0, 200_000, 400_000], [100, 300, 500], None, out, 0)
>>> out["count"], out["sum"], out["mean"]
([1, 2, 2], [100, 400, 800], [100.0, 200.0, 400.0])
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Hashable, Sequence
from typing import Any

from finchain.stream.errors import StreamError
from finchain.stream.stats import SlidingMax, SlidingMin

__all__ = ["LOOKBACK_STATS", "KeyWindow", "Lookback", "as_list"]


def as_list(col: Any) -> Any:
    """A plain list for a numpy column (indexing lists is faster in Python loops)."""
    tolist = getattr(col, "tolist", None)
    return tolist() if tolist is not None else col


#: statistics a lookback window can produce per event.
LOOKBACK_STATS = ("count", "sum", "mean", "var", "std", "min", "max")


class KeyWindow:
    """The lookback state of one key (plain lists and numbers; ``__slots__`` keeps it small)."""

    __slots__ = ("h", "k", "maxs", "maxts", "mins", "n", "q", "s", "ts", "xs")

    def __init__(self, minmax: bool) -> None:
        self.ts: list[int] = []
        self.xs: list[Any] = []
        self.h = 0  # index of the first event inside the window of the newest event
        self.n = 0
        self.s: Any = 0
        self.q: Any = 0
        self.k: Any = 0
        self.maxts = -(2**62)
        self.mins: SlidingMin | None = SlidingMin() if minmax else None
        self.maxs: SlidingMax | None = SlidingMax() if minmax else None

    def __getstate__(self) -> tuple[Any, ...]:
        return tuple(getattr(self, s) for s in KeyWindow.__slots__)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        for name, value in zip(KeyWindow.__slots__, state, strict=True):
            setattr(self, name, value)


class Lookback:
    """Per-event lookback aggregate of ``field`` (or of events when ``field`` is None) by ``key``.

    ``retain`` is extra history kept behind the window for late events (the engine passes its
    allowed lateness).
    """

    __slots__ = ("field", "key", "minmax", "name", "now", "retain", "span", "state", "stats")

    def __init__(
        self,
        name: str,
        *,
        key: str,
        field: str | None,
        span: int,
        stats: Sequence[str] = ("count", "sum", "mean", "var"),
        retain: int = 0,
    ) -> None:
        bad = [s for s in stats if s not in LOOKBACK_STATS]
        if bad:
            raise StreamError(
                f"lookback {name!r}: unsupported statistic {bad[0]!r} "
                f"(per-event lookback supports {', '.join(LOOKBACK_STATS)})"
            )
        if span <= 0:
            raise StreamError(f"lookback {name!r}: span must be positive")
        self.name = name
        self.key = key
        self.field = field
        self.span = span
        self.stats = tuple(stats)
        self.retain = retain
        self.minmax = "min" in stats or "max" in stats
        self.state: dict[Hashable, KeyWindow] = {}
        self.now = -(2**62)

    # -- output columns ---------------------------------------------------------------------
    def new_output(self, n: int) -> dict[str, list[Any]]:
        return {s: [0] * n for s in self.stats}

    # -- the hot loop -------------------------------------------------------------------------
    def run(
        self,
        keys: Sequence[Hashable],
        ts: Sequence[int],
        xs: Sequence[Any] | None,
        late: Sequence[bool] | None,
        out: dict[str, list[Any]],
        base: int,
    ) -> None:
        """Process released events in order; write each event's values at ``out[stat][base+i]``."""
        keys, ts, xs = as_list(keys), as_list(ts), as_list(xs)
        state = self.state
        span = self.span
        keep = span + self.retain
        minmax = self.minmax
        o_count = out.get("count")
        o_sum = out.get("sum")
        o_mean = out.get("mean")
        o_var = out.get("var")
        o_std = out.get("std")
        o_min = out.get("min")
        o_max = out.get("max")
        sqrt = math.sqrt
        j = base
        for i in range(len(ts)):
            key = keys[i]
            t = ts[i]
            x = xs[i] if xs is not None else 1
            w = state.get(key)
            if w is None:
                w = KeyWindow(minmax)
                state[key] = w
            if t < w.maxts:
                n, sm, var, mn, mx = self._insert_late(w, t, x)
            else:
                w.maxts = t
                if t > self.now:
                    self.now = t
                tl = w.ts
                xl = w.xs
                h = w.h
                n = w.n
                s = w.s
                q = w.q
                k = w.k
                cut = t - span
                end = len(tl)
                while h < end and tl[h] <= cut:
                    d = xl[h] - k
                    s -= d
                    q -= d * d
                    n -= 1
                    h += 1
                if n == 0:
                    k = x
                    s = 0 * x
                    q = s
                    w.k = k
                tl.append(t)
                xl.append(x)
                d = x - k
                n += 1
                s += d
                q += d * d
                if h > 64:
                    r = h if keep == span else bisect_right(tl, t - keep, 0, h)
                    if r * 2 > len(tl):
                        del tl[:r]
                        del xl[:r]
                        h -= r
                w.h = h
                w.n = n
                w.s = s
                w.q = q
                sm = s + n * k
                var = (n * q - s * s) / (n * n)
                if var < 0:
                    var = 0.0
                if minmax:
                    mins = w.mins
                    maxs = w.maxs
                    assert mins is not None and maxs is not None
                    mins.evict_through(cut)
                    maxs.evict_through(cut)
                    mins.push(t, x)
                    maxs.push(t, x)
                    mn = mins.q[0][1]
                    mx = maxs.q[0][1]
                else:
                    mn = mx = 0
            if o_count is not None:
                o_count[j] = n
            if o_sum is not None:
                o_sum[j] = sm
            if o_mean is not None:
                o_mean[j] = sm / n
            if o_var is not None:
                o_var[j] = var
            if o_std is not None:
                o_std[j] = sqrt(var)
            if o_min is not None:
                o_min[j] = mn
            if o_max is not None:
                o_max[j] = mx
            j += 1

    def _insert_late(self, w: KeyWindow, t: int, x: Any) -> tuple[int, Any, float, Any, Any]:
        """Slow path: insert an event behind this key's newest one; compute its own window."""
        tl, xl = w.ts, w.xs
        pos = bisect_right(tl, t)
        tl.insert(pos, t)
        xl.insert(pos, x)
        if t > w.maxts - self.span:
            # inside the newest event's window too: it joins the running sums
            if w.n == 0:
                w.k = x
                w.s = 0 * x
                w.q = w.s
            d = x - w.k
            w.n += 1
            w.s += d
            w.q += d * d
            if pos < w.h:  # cannot happen (all before h are older than the window) but be safe
                w.h = pos
            if self.minmax:
                assert w.mins is not None and w.maxs is not None
                items = list(zip(tl[w.h :], xl[w.h :], strict=True))
                w.mins.rebuild(items)
                w.maxs.rebuild(items)
        else:
            w.h += 1
        lo = bisect_right(tl, t - self.span)
        window = xl[lo : pos + 1]
        n = len(window)
        sm = sum(window[1:], window[0])
        mean = sm / n
        var = sum((v - mean) ** 2 for v in window) / n
        return n, sm, float(var), min(window), max(window)

    # -- queries and risk checks --------------------------------------------------------------
    def peek(self, key: Hashable, t: int, x: Any | None = None) -> dict[str, Any]:
        """The values this key's window holds at time ``t`` (with ``x`` added when given).

        Read-only: a risk check asks "what if this payment happened now" without changing state.
        """
        w = self.state.get(key)
        if w is None:
            vals: list[Any] = []
        else:
            lo = bisect_right(w.ts, t - self.span, w.h)
            hi = bisect_right(w.ts, t)
            vals = w.xs[lo:hi]
        if x is not None:
            vals = [*vals, x]
        n = len(vals)
        out: dict[str, Any] = {}
        if n == 0:
            for s in self.stats:
                out[s] = 0 if s in ("count", "sum") else math.nan
            return out
        sm = sum(vals[1:], vals[0])
        mean = sm / n
        var = float(sum((v - mean) ** 2 for v in vals) / n)
        values = {
            "count": n,
            "sum": sm,
            "mean": mean,
            "var": var,
            "std": math.sqrt(var),
            "min": min(vals),
            "max": max(vals),
        }
        return {s: values[s] for s in self.stats}

    def current(self, key: Hashable) -> dict[str, Any] | None:
        """The key's window as of the newest event time this indicator has seen."""
        if key not in self.state:
            return None
        return self.peek(key, self.now)

    def keys(self) -> list[Hashable]:
        return list(self.state)
