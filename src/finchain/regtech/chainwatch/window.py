"""Bounded, time-windowed state shared by the detectors.

:class:`GraphWindow` holds the recent transfer graph: for each account the transfers it sent and
received within the last ``horizon`` seconds of event time (at most ``max_degree`` each, oldest
dropped first), plus two expiring maps — the pairs of accounts that have dealt with each other
and the time each account was first seen — forgotten ``history`` seconds after last use. Memory
is therefore bounded by the traffic of one history span, not by the length of the stream.

>>> from finchain.regtech.chainwatch.model import Transfer
>>> w = GraphWindow(horizon=100, history=1_000)
>>> we = w.add(Transfer("t1", 1, 10, "a", "b", 5))
>>> we.new_pair, w.add(Transfer("t2", 1, 20, "a", "b", 6)).new_pair
(True, False)
>>> [e.edge.tx_id for e in w.outgoing("a", now=20)]
['t1', 't2']
>>> [e.edge.tx_id for e in w.outgoing("a", now=115)]
['t2']
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from finchain.regtech.chainwatch.model import Address, Edge, Transfer

DAY = 86_400


@dataclass(frozen=True, slots=True)
class WindowEdge:
    """An edge in the window, with what was known when it arrived.

    ``new_pair``: first transfer between these two accounts within the history span;
    ``dst_new``: the destination had never been seen before this transfer.
    """

    edge: Edge
    new_pair: bool
    dst_new: bool


class ExpiringMap:
    """A dict whose entries expire ``ttl`` seconds after their last update (swept lazily).

    >>> m = ExpiringMap(ttl=10)
    >>> m.touch("k", 0, 0)
    >>> m.get("k")
    0
    >>> m.sweep(now=11)
    1
    >>> m.get("k") is None
    True
    """

    def __init__(self, ttl: int) -> None:
        self.ttl = ttl
        self._data: dict[object, tuple[int, int]] = {}

    def get(self, key: object) -> int | None:
        """The value stored for ``key`` (None if absent or swept)."""
        hit = self._data.get(key)
        return None if hit is None else hit[0]

    def touch(self, key: object, value: int, now: int) -> None:
        """Store ``value`` (or keep the existing one) and refresh the key's last use to ``now``."""
        hit = self._data.get(key)
        self._data[key] = (value if hit is None else hit[0], now)

    def sweep(self, now: int) -> int:
        """Drop entries unused for more than ``ttl``; returns how many were dropped."""
        cutoff = now - self.ttl
        stale = [k for k, (_, last) in self._data.items() if last < cutoff]
        for k in stale:
            del self._data[k]
        return len(stale)

    def __len__(self) -> int:
        return len(self._data)


class GraphWindow:
    """The recent transfer graph, bounded in time and per-account degree."""

    def __init__(
        self,
        *,
        horizon: int = 21 * DAY,
        history: int = 90 * DAY,
        max_degree: int = 256,
        sweep_every: int = 50_000,
    ) -> None:
        self.horizon = horizon
        self.max_degree = max_degree
        self.out_edges: dict[Address, deque[WindowEdge]] = {}
        self.in_edges: dict[Address, deque[WindowEdge]] = {}
        self.pairs = ExpiringMap(history)
        self.first_seen = ExpiringMap(history)
        self.now = 0
        self._since_sweep = 0
        self._sweep_every = sweep_every

    def add(self, t: Transfer) -> WindowEdge:
        """Record transfer ``t``; returns it as a window edge with its novelty flags."""
        self.now = max(self.now, t.timestamp)
        pair = (t.src, t.dst)
        new_pair = self.pairs.get(pair) is None
        dst_new = self.first_seen.get(t.dst) is None
        self.pairs.touch(pair, t.timestamp, t.timestamp)
        self.first_seen.touch(t.src, t.timestamp, t.timestamp)
        self.first_seen.touch(t.dst, t.timestamp, t.timestamp)
        we = WindowEdge(Edge.of(t), new_pair, dst_new)
        self._push(self.out_edges, t.src, we)
        self._push(self.in_edges, t.dst, we)
        self._since_sweep += 1
        if self._since_sweep >= self._sweep_every:
            self.sweep()
        return we

    def _push(self, index: dict[Address, deque[WindowEdge]], key: Address, we: WindowEdge) -> None:
        dq = index.get(key)
        if dq is None:
            dq = index[key] = deque(maxlen=self.max_degree)
        dq.append(we)
        self._evict(dq)

    def _evict(self, dq: deque[WindowEdge]) -> None:
        cutoff = self.now - self.horizon
        while dq and dq[0].edge.timestamp < cutoff:
            dq.popleft()

    def outgoing(self, account: Address, *, now: int | None = None) -> Iterator[WindowEdge]:
        """Transfers sent by ``account`` within the horizon before ``now`` (oldest first)."""
        return self._live(self.out_edges.get(account), now)

    def incoming(self, account: Address, *, now: int | None = None) -> Iterator[WindowEdge]:
        """Transfers received by ``account`` within the horizon before ``now`` (oldest first)."""
        return self._live(self.in_edges.get(account), now)

    def _live(self, dq: deque[WindowEdge] | None, now: int | None) -> Iterator[WindowEdge]:
        if not dq:
            return iter(())
        cutoff = (self.now if now is None else now) - self.horizon
        return (we for we in dq if we.edge.timestamp >= cutoff)

    def sweep(self) -> None:
        """Drop expired edges, empty accounts and forgotten pairs (bounded-state housekeeping)."""
        self._since_sweep = 0
        for index in (self.out_edges, self.in_edges):
            for key in list(index):
                dq = index[key]
                self._evict(dq)
                if not dq:
                    del index[key]
        self.pairs.sweep(self.now)
        self.first_seen.sweep(self.now)

    def size(self) -> int:
        """Number of edge records held (each transfer counts twice: out and in)."""
        return sum(len(d) for d in self.out_edges.values()) + sum(
            len(d) for d in self.in_edges.values()
        )
