"""Cycle (round-tripping): funds return to where they started through a chain of accounts.

When a transfer ``x → u`` arrives, search backwards from ``x`` for an earlier, time-ordered path
``u → … → x`` whose amounts shrink by at most ``max_decay`` per hop (fees and skims) and never
grow by more than ``tolerance``. The amount constraint prunes the search hard; a visit budget
bounds it in the worst case.
"""

from __future__ import annotations

from finchain.regtech.chainwatch.detectors.base import DAY, Detector
from finchain.regtech.chainwatch.model import Alert, Edge
from finchain.regtech.chainwatch.window import GraphWindow, WindowEdge


class Cycle(Detector):
    """A directed, time-respecting cycle of ``min_length``..``max_length`` transfers in ``window``.

    Parameters: ``min_length`` (3: two-account back-and-forth is normal "mutual" traffic),
    ``max_length``, ``window`` (seconds), ``max_decay`` (per hop), ``tolerance`` (growth allowed
    per hop), ``max_visits`` (search budget per transfer).
    """

    typology = "cycle"

    def __init__(
        self,
        *,
        min_length: int = 3,
        max_length: int = 12,
        window: int = 21 * DAY,
        max_decay: float = 0.1,
        tolerance: float = 0.01,
        max_visits: int = 2_000,
    ) -> None:
        self.min_length = min_length
        self.max_length = max_length
        self.window = window
        self.max_decay = max_decay
        self.tolerance = tolerance
        self.max_visits = max_visits

    def _ok(self, earlier: int, later: int) -> bool:
        return (1 - self.max_decay) * earlier <= later <= (1 + self.tolerance) * earlier

    def on_edge(self, we: WindowEdge, g: GraphWindow) -> list[Alert]:
        closing = we.edge
        start = closing.dst
        if closing.src == start:
            return []
        cutoff = closing.timestamp - self.window
        budget = [self.max_visits]
        path = self._search(g, closing, start, cutoff, [closing], {closing.src}, budget)
        if path is None:
            return []
        ring = [e.src for e in reversed(path)]
        return [
            self.alert(
                ring,
                path,
                we=we,
                summary=f"funds went round a cycle of {len(path)} accounts back to {start}",
                length=len(path),
            )
        ]

    def _search(
        self,
        g: GraphWindow,
        last: Edge,
        start: str,
        cutoff: int,
        path: list[Edge],
        seen: set[str],
        budget: list[int],
    ) -> list[Edge] | None:
        # extend the path backwards from last.src: find edges p → last.src before last.
        if len(path) >= self.max_length:
            return None
        for we in g.incoming(last.src):
            e = we.edge
            if budget[0] <= 0:
                return None
            budget[0] -= 1
            if e.timestamp < cutoff or e.timestamp > last.timestamp or e.tx_id == last.tx_id:
                continue
            if not self._ok(e.amount, last.amount):
                continue
            if e.src == start:
                if len(path) + 1 >= self.min_length:
                    return [*path, e]
                continue
            if e.src in seen:
                continue
            seen.add(e.src)
            found = self._search(g, e, start, cutoff, [*path, e], seen, budget)
            seen.discard(e.src)
            if found is not None:
                return found
        return None
