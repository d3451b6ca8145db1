"""Fan-out (smurfing) and fan-in (gathering): one account dealing with many new counterparties.

AMLSim's ``fan_out``/``fan_in`` patterns: a main account sends to (or receives from) several
accounts within a period, each amount in a narrow band. The benign models of the same shape
(payroll, a merchant's customers) deal with *established* counterparties, so only first-time
pairs count here, and their amounts must lie within a factor ``max_ratio`` of each other.
"""

from __future__ import annotations

from finchain.regtech.chainwatch.detectors.base import DAY, Detector, best_band
from finchain.regtech.chainwatch.model import Alert
from finchain.regtech.chainwatch.window import GraphWindow, WindowEdge


class FanOut(Detector):
    """One source pays ``min_counterparties`` or more new destinations within ``window``.

    Parameters: ``min_counterparties`` (k), ``window`` (seconds), ``max_ratio`` (largest over
    smallest amount among the counted transfers, AMLSim's ``amount_difference``),
    ``max_amount`` (ignore transfers at or above this size: smurfing stays small; None = any).
    """

    typology = "fan_out"

    def __init__(
        self,
        *,
        min_counterparties: int = 4,
        window: int = 21 * DAY,
        max_ratio: float = 2.0,
        max_amount: int | None = None,
    ) -> None:
        self.min_counterparties = min_counterparties
        self.window = window
        self.max_ratio = max_ratio
        self.max_amount = max_amount

    def on_edge(self, we: WindowEdge, g: GraphWindow) -> list[Alert]:
        if not we.new_pair:
            return []
        hub = we.edge.src
        cutoff = we.edge.timestamp - self.window
        firsts: dict[str, WindowEdge] = {}
        for e in g.outgoing(hub):
            if e.new_pair and e.edge.timestamp >= cutoff and self._small(e):
                firsts.setdefault(e.edge.dst, e)
        if len(firsts) < self.min_counterparties:
            return []
        band = best_band(list(firsts.values()), self.max_ratio)
        if len(band) < self.min_counterparties or we not in band:
            return []
        return [
            self.alert(
                [hub],
                [e.edge for e in band],
                we=we,
                summary=f"{hub} paid {len(band)} new counterparties in a narrow amount band",
                counterparties=len(band),
            )
        ]

    def _small(self, e: WindowEdge) -> bool:
        return self.max_amount is None or e.edge.amount < self.max_amount


class FanIn(Detector):
    """One sink is paid by ``min_counterparties`` or more new sources within ``window``.

    Parameters as :class:`FanOut`, mirrored.
    """

    typology = "fan_in"

    def __init__(
        self,
        *,
        min_counterparties: int = 4,
        window: int = 21 * DAY,
        max_ratio: float = 2.0,
        max_amount: int | None = None,
    ) -> None:
        self.min_counterparties = min_counterparties
        self.window = window
        self.max_ratio = max_ratio
        self.max_amount = max_amount

    def on_edge(self, we: WindowEdge, g: GraphWindow) -> list[Alert]:
        if not we.new_pair:
            return []
        hub = we.edge.dst
        cutoff = we.edge.timestamp - self.window
        firsts: dict[str, WindowEdge] = {}
        for e in g.incoming(hub):
            if (
                e.new_pair
                and e.edge.timestamp >= cutoff
                and (self.max_amount is None or e.edge.amount < self.max_amount)
            ):
                firsts.setdefault(e.edge.src, e)
        if len(firsts) < self.min_counterparties:
            return []
        band = best_band(list(firsts.values()), self.max_ratio)
        if len(band) < self.min_counterparties or we not in band:
            return []
        return [
            self.alert(
                [hub],
                [e.edge for e in band],
                we=we,
                summary=f"{hub} was paid by {len(band)} new counterparties in a narrow band",
                counterparties=len(band),
            )
        ]
