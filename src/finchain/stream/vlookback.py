"""Per-event lookback of count/sum/mean/var/std, a batch at a time with numpy.

Same results as :class:`~finchain.stream.lookback.Lookback`, computed without a Python loop
over events. State: a time-ordered ring of recent events (time, key id, value) and, per key,
the power sums ``n, Σx, Σx²`` of its window as of the last processed event. For an in-order
batch the per-event values are

    window(i) = totals[key_i] + Σ (batch events j ≤ i of key_i) − Σ (events of key_i evicted by t_i)

where an event at ``t_e`` is evicted for a query at ``t`` when ``t_e + span <= t``. Evictions
(time ``t_e + span``, negative) and batch events (time ``t``, positive) are sorted together by
(key, time, evictions first, position) and one segmented cumulative sum gives every event's
window. Integer values (money in minor units) keep exact ``int64`` sums; the variance
``(Σx² - (Σx)²/n)/n`` is then computed in float64 from exact sums. Float values use float64
sums (use the per-event :class:`Lookback` for floats whose mean dwarfs their spread).

Late events (behind the newest event, inside the allowed lateness) are rare and take a slow path
that scans the ring.

>>> lb = VectorLookback("spend", key="card", field="amount", span=300_000)
>>> out = lb.new_output(3)
>>> lb.run(["a", "a", "a"], [0, 200_000, 400_000], [100, 300, 500], None, out, 0)
>>> out["count"].tolist(), out["sum"].tolist(), out["mean"].tolist()
([1, 2, 2], [100, 400, 800], [100.0, 200.0, 400.0])
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from finchain.stream.errors import StreamError
from finchain.stream.keyindex import KeyIndex

__all__ = ["VECTOR_STATS", "VectorLookback"]

VECTOR_STATS = frozenset({"count", "sum", "mean", "var", "std"})
_INT_LIMIT = 1 << 26  # |x| below this keeps Σx² of 10,000 events inside int64


class VectorLookback:
    """Numpy lookback over ``(t - span, t]`` per key; see the module docstring."""

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
        bad = [s for s in stats if s not in VECTOR_STATS]
        if bad:
            raise StreamError(f"vector lookback {name!r} cannot compute {bad[0]!r}")
        if span <= 0:
            raise StreamError(f"lookback {name!r}: span must be positive")
        self.name = name
        self.key = key
        self.field = field
        self.span = span
        self.stats = tuple(stats)
        self.retain = retain
        self.index = KeyIndex()
        self.exact = True  # int64 sums while every value is a small integer
        cap = 1024
        self.tot_n = np.zeros(cap, np.int64)
        self.tot_s: np.ndarray = np.zeros(cap, np.int64)
        self.tot_q: np.ndarray = np.zeros(cap, np.int64)
        # ring of recent events in time order: [head, size) live; ``ev`` = first not evicted
        self.rt = np.zeros(4096, np.int64)
        self.rk = np.zeros(4096, np.int64)
        self.rx: np.ndarray = np.zeros(4096, np.int64)
        self.head = 0
        self.size = 0
        self.ev = 0
        self.now = -(2**62)  # newest time processed

    # -- helpers ----------------------------------------------------------------------------
    def new_output(self, n: int) -> dict[str, Any]:
        return {s: np.zeros(n, np.int64 if s == "count" else np.float64) for s in self.stats}

    @property
    def state(self) -> dict[Hashable, int]:
        return self.index.ids

    def _grow_keys(self, need: int) -> None:
        cap = len(self.tot_n)
        if need <= cap:
            return
        while cap < need:
            cap *= 2

        def grow(a: np.ndarray, fill: int) -> np.ndarray:
            out = np.full(cap, fill, a.dtype)
            out[: len(a)] = a
            return out

        self.tot_n = grow(self.tot_n, 0)
        self.tot_s = grow(self.tot_s, 0)
        self.tot_q = grow(self.tot_q, 0)

    def _to_float(self) -> None:
        self.exact = False
        self.tot_s = self.tot_s.astype(np.float64)
        self.tot_q = self.tot_q.astype(np.float64)
        self.rx = self.rx.astype(np.float64)

    def _values(self, xs: Sequence[Any] | None, n: int) -> np.ndarray:
        if xs is None:
            return np.ones(n, np.int64 if self.exact else np.float64)
        x = xs if isinstance(xs, np.ndarray) else np.asarray(xs)
        if self.exact:
            if x.dtype.kind in "iu" and (n == 0 or (int(np.abs(x).max()) < _INT_LIMIT)):
                return x.astype(np.int64, copy=False)
            self._to_float()
        return x.astype(np.float64, copy=False)

    def _append(self, t: np.ndarray, k: np.ndarray, x: np.ndarray) -> None:
        m = len(t)
        if self.size + m > len(self.rt):
            live = self.size - self.head
            cap = len(self.rt)
            while live + m > cap // 2:
                cap *= 2
            for name in ("rt", "rk", "rx"):
                old = getattr(self, name)
                new = np.zeros(cap, old.dtype)
                new[:live] = old[self.head : self.size]
                setattr(self, name, new)
            self.ev -= self.head
            self.size = live
            self.head = 0
        self.rt[self.size : self.size + m] = t
        self.rk[self.size : self.size + m] = k
        self.rx[self.size : self.size + m] = x
        self.size += m

    # -- processing -------------------------------------------------------------------------
    def run(
        self,
        keys: Sequence[Hashable],
        ts: Sequence[int],
        xs: Sequence[Any] | None,
        late: Sequence[bool] | None,
        out: dict[str, Any],
        base: int,
    ) -> None:
        t = ts if isinstance(ts, np.ndarray) else np.asarray(ts, dtype=np.int64)
        t = t.astype(np.int64, copy=False)
        n = len(t)
        k = self.index.lookup(keys)
        self._grow_keys(len(self.index))
        x = self._values(xs, n)
        cnt = np.zeros(n, np.int64)
        sm = np.zeros(n, x.dtype)
        sq = np.zeros(n, x.dtype)
        # split into in-order runs and single out-of-order events
        behind = np.zeros(n, bool)
        if n:
            prev_max = np.maximum.accumulate(np.concatenate([[self.now], t[:-1]]))
            behind = t < prev_max
        if not behind.any():
            self._run_in_order(t, k, x, cnt, sm, sq, 0, n)
        else:
            start = 0
            for i in np.flatnonzero(behind).tolist():
                if i > start:
                    self._run_in_order(t, k, x, cnt, sm, sq, start, i)
                self._one_late(int(t[i]), int(k[i]), x[i], cnt, sm, sq, i)
                start = i + 1
            if start < n:
                self._run_in_order(t, k, x, cnt, sm, sq, start, n)
        self._write(out, cnt, sm, sq)

    def _write(self, out: dict[str, Any], cnt: np.ndarray, sm: np.ndarray, sq: np.ndarray) -> None:
        safe = np.maximum(cnt, 1)
        mean = sm / safe
        var = None
        if "var" in out or "std" in out:
            var = (sq - sm.astype(np.float64) * mean) / safe
            np.maximum(var, 0.0, out=var)
        for s in self.stats:
            if s == "count":
                out[s] = cnt
            elif s == "sum":
                out[s] = sm
            elif s == "mean":
                out[s] = mean
            elif s == "var":
                out[s] = var
            elif s == "std":
                assert var is not None
                out[s] = np.sqrt(var)

    def _run_in_order(
        self,
        t: np.ndarray,
        k: np.ndarray,
        x: np.ndarray,
        cnt: np.ndarray,
        sm: np.ndarray,
        sq: np.ndarray,
        a: int,
        b: int,
    ) -> None:
        bt, bk, bx = t[a:b], k[a:b], x[a:b]
        m = b - a
        self._append(bt, bk, bx)
        t_end = int(bt[-1])
        # evictions: live ring events (not yet evicted) with time + span <= t_end
        stop = self.ev + int(
            np.searchsorted(self.rt[self.ev : self.size], t_end - self.span, side="right")
        )
        et = self.rt[self.ev : stop] + self.span
        ek = self.rk[self.ev : stop]
        ex = self.rx[self.ev : stop]
        e = stop - self.ev
        self.ev = stop
        keys = np.concatenate([ek, bk])
        times = np.concatenate([et, bt])
        kind = np.concatenate([np.zeros(e, np.int8), np.ones(m, np.int8)])
        order = np.lexsort((kind, times, keys))
        sk = keys[order]
        vx = np.concatenate([-ex, bx])[order]
        vn = np.concatenate([np.full(e, -1, np.int64), np.ones(m, np.int64)])[order]
        vq = vx * vx
        vq[vn < 0] *= -1
        change = np.empty(len(sk), bool)
        change[0] = True
        change[1:] = sk[1:] != sk[:-1]
        starts = np.flatnonzero(change)
        seg = np.cumsum(change) - 1
        cn = np.cumsum(vn)
        cs = np.cumsum(vx)
        cq = np.cumsum(vq)
        cn -= (cn - vn)[starts][seg]
        cs -= (cs - vx)[starts][seg]
        cq -= (cq - vq)[starts][seg]
        first = sk[starts]
        add = kind[order] == 1
        pos = order[add] - e  # batch position of each addition, in sorted order
        kk = sk[add]
        cnt[a + pos] = self.tot_n[kk] + cn[add]
        sm[a + pos] = self.tot_s[kk] + cs[add]
        sq[a + pos] = self.tot_q[kk] + cq[add]
        # totals move to the end of each key's segment
        ends = np.append(starts[1:], len(sk)) - 1
        self.tot_n[first] += cn[ends]
        self.tot_s[first] += cs[ends]
        self.tot_q[first] += cq[ends]
        empty = first[self.tot_n[first] == 0]
        if len(empty):
            self.tot_s[empty] = 0
            self.tot_q[empty] = 0
        self.now = max(self.now, t_end)
        # forget events older than the lateness retention
        keep_from = t_end - self.span - self.retain
        drop = int(np.searchsorted(self.rt[self.head : self.ev], keep_from, side="right"))
        self.head += drop

    def _one_late(
        self, t: int, k: int, x: Any, cnt: np.ndarray, sm: np.ndarray, sq: np.ndarray, i: int
    ) -> None:
        """An event behind the newest one: insert it in time order; scan for its window."""
        live_t = self.rt[self.head : self.size]
        pos = self.head + int(np.searchsorted(live_t, t, side="right"))
        for name, v in (("rt", t), ("rk", k), ("rx", x)):
            arr = getattr(self, name)
            live = arr[self.head : self.size]
            new = np.insert(live, pos - self.head, v)
            buf = np.zeros(max(len(arr), len(new) * 2), arr.dtype)
            buf[: len(new)] = new
            setattr(self, name, buf)
        self.ev -= self.head
        pos -= self.head
        self.size = self.size - self.head + 1
        self.head = 0
        if t > self.now - self.span:
            # inside the window of future events: joins the running totals of its key
            self.tot_n[k] += 1
            self.tot_s[k] += x
            self.tot_q[k] += x * x
        else:  # already outside every future window: it sits in the evicted prefix
            self.ev += 1
        lo = int(np.searchsorted(self.rt[: self.size], t - self.span, side="right"))
        sel = self.rk[lo : pos + 1] == k
        vals = self.rx[lo : pos + 1][sel]
        cnt[i] = len(vals)
        sm[i] = vals.sum()
        sq[i] = (vals * vals).sum()

    # -- queries ----------------------------------------------------------------------------
    def current(self, key: Hashable) -> dict[str, Any] | None:
        """The key's window as of the newest processed event time (O(1), for serving)."""
        kid = self.index.get(key)
        if kid is None:
            return None
        n = int(self.tot_n[kid])
        s = self.tot_s[kid].item()
        q = self.tot_q[kid].item()
        if n == 0:
            return {st: 0 if st in ("count", "sum") else math.nan for st in self.stats}
        mean = s / n
        var = max((q - s * mean) / n, 0.0)
        values = {"count": n, "sum": s, "mean": mean, "var": var, "std": math.sqrt(var)}
        return {st: values[st] for st in self.stats}

    def value(self, key: Hashable, stat: str) -> Any:
        """One statistic of the key's current window (O(1); None for an unknown key)."""
        kid = self.index.get(key)
        if kid is None:
            return None
        n = int(self.tot_n[kid])
        if stat == "count":
            return n
        s = self.tot_s[kid].item()
        if stat == "sum":
            return s
        if n == 0:
            return math.nan
        mean = s / n
        if stat == "mean":
            return mean
        var = max((self.tot_q[kid].item() - s * mean) / n, 0.0)
        return var if stat == "var" else math.sqrt(var)

    def peek(self, key: Hashable, t: int, x: Any | None = None) -> dict[str, Any]:
        kid = self.index.get(key)
        if t == self.now:
            # the window as of the newest event time is the running totals: O(1)
            n = 0 if kid is None else int(self.tot_n[kid])
            s_ = 0 if kid is None else self.tot_s[kid].item()
            q_ = 0 if kid is None else self.tot_q[kid].item()
            if x is not None:
                n, s_, q_ = n + 1, s_ + x, q_ + x * x
            if n == 0:
                return {s: 0 if s in ("count", "sum") else math.nan for s in self.stats}
            mean = s_ / n
            var = max((q_ - s_ * mean) / n, 0.0)
            got = {"count": n, "sum": s_, "mean": mean, "var": var, "std": math.sqrt(var)}
            return {s: got[s] for s in self.stats}
        vals: list[Any] = []
        if kid is not None:
            lo = self.head + int(
                np.searchsorted(self.rt[self.head : self.size], t - self.span, side="right")
            )
            hi = self.head + int(np.searchsorted(self.rt[self.head : self.size], t, side="right"))
            sel = self.rk[lo:hi] == kid
            vals = self.rx[lo:hi][sel].tolist()
        if x is not None:
            vals.append(x)
        n = len(vals)
        if n == 0:
            return {s: 0 if s in ("count", "sum") else math.nan for s in self.stats}
        s_ = sum(vals)
        mean = s_ / n
        var = float(sum((v - mean) ** 2 for v in vals) / n)
        values = {"count": n, "sum": s_, "mean": mean, "var": var, "std": math.sqrt(var)}
        return {s: values[s] for s in self.stats}

    def keys(self) -> list[Hashable]:
        return list(self.index.keys)
