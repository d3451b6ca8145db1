"""The detector interface: one typology, fed one window edge at a time."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import ClassVar

from finchain.regtech.chainwatch.model import Address, Alert, Edge
from finchain.regtech.chainwatch.window import DAY, GraphWindow, WindowEdge

__all__ = ["DAY", "Detector", "best_band"]


class Detector(ABC):
    """A typology detector: ``on_edge`` is called after each transfer enters the window.

    It returns the alerts the new edge completes (usually none). Detectors keep no state of
    their own beyond small bounded maps; the graph lives in the shared :class:`GraphWindow`.
    ``window`` (seconds) is how far back the detector looks; the engine sizes the shared
    window to the largest of its detectors'.
    """

    typology: ClassVar[str]
    window: int = 21 * DAY

    @abstractmethod
    def on_edge(self, we: WindowEdge, g: GraphWindow) -> list[Alert]:
        """Alerts completed by the arrival of ``we``."""

    def alert(
        self,
        focus: Iterable[Address],
        edges: Iterable[Edge],
        *,
        we: WindowEdge,
        summary: str,
        score: float = 1.0,
        **details: object,
    ) -> Alert:
        """Build an alert of this detector's typology; ``focus`` is the case's key accounts."""
        focus_sorted = sorted(set(focus))
        uniq: dict[str, Edge] = {}
        for e in edges:
            uniq.setdefault(e.tx_id, e)
        accounts = sorted({a for e in uniq.values() for a in (e.src, e.dst)} | set(focus_sorted))
        return Alert(
            typology=self.typology,
            key=f"{self.typology}|{','.join(focus_sorted)}",
            block=we.edge.block,
            timestamp=we.edge.timestamp,
            accounts=accounts,
            edges=sorted(uniq.values(), key=lambda e: (e.timestamp, e.tx_id)),
            score=score,
            summary=summary,
            details={"focus": focus_sorted, **details},
        )

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in sorted(vars(self).items()))
        return f"{type(self).__name__}({params})"


def best_band(edges: list[WindowEdge], max_ratio: float) -> list[WindowEdge]:
    """The largest subset of ``edges`` whose amounts lie within a factor ``max_ratio``.

    >>> from finchain.regtech.chainwatch.model import Edge
    >>> mk = lambda a: WindowEdge(Edge("t", "s", "d", a, 0, 0), True, True)
    >>> [w.edge.amount for w in best_band([mk(100), mk(5000), mk(150), mk(120)], 2.0)]
    [100, 120, 150]
    """
    if not edges:
        return []
    ordered = sorted(edges, key=lambda w: w.edge.amount)
    best = (0, 0)
    lo = 0
    for hi in range(len(ordered)):
        while ordered[hi].edge.amount > max_ratio * max(ordered[lo].edge.amount, 1):
            lo += 1
        if hi - lo > best[1] - best[0]:
            best = (lo, hi)
    return ordered[best[0] : best[1] + 1]
