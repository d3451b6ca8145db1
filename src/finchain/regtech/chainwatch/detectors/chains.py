"""Peel chains and rapid pass-through: funds that barely stop.

* rapid pass-through (快进快出) — an account receives funds and sends (nearly) all of them on
  within ``max_dwell``, with little other activity;
* peel chain — each hop receives a lump, peels a small payment off to one address and sends
  the large remainder to a fresh "change" address, which repeats (Elliptic, *Typologies*
  2024, "chain peeling").
"""

from __future__ import annotations

from dataclasses import dataclass

from finchain.regtech.chainwatch.detectors.base import DAY, Detector
from finchain.regtech.chainwatch.model import Address, Alert, Edge
from finchain.regtech.chainwatch.window import ExpiringMap, GraphWindow, WindowEdge

HOUR = 3_600


class RapidPassThrough(Detector):
    """Funds in, then at least ``min_passed`` of them out within ``max_dwell`` seconds.

    Only quiet, young accounts count — mule accounts are typically opened for the purpose: at
    most ``max_transfers`` in and out each within the dwell span, first seen at most
    ``max_age`` seconds before the inflow (None = any age) — and inflows of at least
    ``min_amount``.
    """

    typology = "rapid_pass_through"

    def __init__(
        self,
        *,
        max_dwell: int = 24 * HOUR,
        min_passed: float = 0.9,
        tolerance: float = 0.01,
        max_transfers: int = 3,
        min_amount: int = 1,
        max_age: int | None = 7 * DAY,
    ) -> None:
        self.max_dwell = max_dwell
        self.max_age = max_age
        self.window = max_dwell
        self.min_passed = min_passed
        self.tolerance = tolerance
        self.max_transfers = max_transfers
        self.min_amount = min_amount

    def on_edge(self, we: WindowEdge, g: GraphWindow) -> list[Alert]:
        acct = we.edge.src
        now = we.edge.timestamp
        ins = [e.edge for e in g.incoming(acct) if now - self.max_dwell <= e.edge.timestamp <= now]
        if not ins or len(ins) > self.max_transfers:
            return []
        first_in = min(e.timestamp for e in ins)
        if self.max_age is not None:
            born = g.first_seen.get(acct)
            if born is None or first_in - born > self.max_age:
                return []
        outs = [e.edge for e in g.outgoing(acct) if first_in <= e.edge.timestamp <= now]
        if len(outs) > self.max_transfers:
            return []
        got = sum(e.amount for e in ins)
        sent = sum(e.amount for e in outs)
        if got < self.min_amount or not self.min_passed * got <= sent <= (1 + self.tolerance) * got:
            return []
        dwell = now - first_in
        return [
            self.alert(
                [acct],
                [*ins, *outs],
                we=we,
                summary=f"{acct} passed {sent} of {got} on within {dwell} s",
                dwell_s=dwell,
            )
        ]


@dataclass(slots=True)
class _Chain:
    root: Address
    depth: int
    edges: list[Edge]


class PeelChain(Detector):
    """``min_hops`` or more successive peels: lump in, small out, large remainder to a new address.

    Per hop: the account got a lump ``R`` within ``max_dwell``; it sends exactly two transfers,
    the larger (≥ ``min_change`` of ``R``) to an address never seen before, and the two together
    carry at least ``min_passed`` of ``R``. Chains are remembered for ``memory`` seconds.
    """

    typology = "peel_chain"

    def __init__(
        self,
        *,
        min_hops: int = 4,
        max_dwell: int = 3 * DAY,
        min_change: float = 0.6,
        min_passed: float = 0.9,
        tolerance: float = 0.01,
        memory: int = 30 * DAY,
        max_chain: int = 64,
    ) -> None:
        self.min_hops = min_hops
        self.max_dwell = max_dwell
        self.window = max_dwell
        self.min_change = min_change
        self.min_passed = min_passed
        self.tolerance = tolerance
        self.max_chain = max_chain
        self._chains: dict[Address, _Chain] = {}
        self._touched = ExpiringMap(memory)
        self._seen = 0

    def on_edge(self, we: WindowEdge, g: GraphWindow) -> list[Alert]:
        acct = we.edge.src
        now = we.edge.timestamp
        ins = [e for e in g.incoming(acct) if now - self.max_dwell <= e.edge.timestamp <= now]
        if len(ins) != 1:
            return []
        lump = ins[0]
        outs = [e for e in g.outgoing(acct) if e.edge.timestamp >= lump.edge.timestamp]
        if len(outs) != 2:
            return []
        change, peel = sorted(outs, key=lambda e: -e.edge.amount)
        got = lump.edge.amount
        total = change.edge.amount + peel.edge.amount
        if not change.dst_new or change.edge.amount < self.min_change * got:
            return []
        if not self.min_passed * got <= total <= (1 + self.tolerance) * got:
            return []
        prev = self._chains.pop(acct, None)
        if prev is None:
            prev = _Chain(root=acct, depth=0, edges=[lump.edge])
        chain = _Chain(
            prev.root, prev.depth + 1, [*prev.edges, change.edge, peel.edge][-self.max_chain :]
        )
        nxt = change.edge.dst
        self._chains[nxt] = chain
        self._touched.touch(nxt, 0, now)
        self._housekeep(now)
        if chain.depth < self.min_hops:
            return []
        return [
            self.alert(
                [chain.root],
                chain.edges,
                we=we,
                summary=f"peel chain from {chain.root}: {chain.depth} hops so far",
                hops=chain.depth,
            )
        ]

    def _housekeep(self, now: int) -> None:
        self._seen += 1
        if self._seen % 10_000 == 0:
            self._touched.sweep(now)
            for k in [k for k in self._chains if self._touched.get(k) is None]:
                del self._chains[k]


class Structuring(Detector):
    """At least ``min_count`` transfers just below the reporting threshold from one account.

    "Just below" is ``[threshold · (1 - band), threshold)``; counted within ``window``.
    """

    typology = "structuring"

    def __init__(
        self,
        *,
        threshold: int = 1_000_000,
        band: float = 0.1,
        min_count: int = 3,
        window: int = 7 * DAY,
    ) -> None:
        self.threshold = threshold
        self.band = band
        self.min_count = min_count
        self.window = window

    def _near(self, amount: int) -> bool:
        return self.threshold * (1 - self.band) <= amount < self.threshold

    def on_edge(self, we: WindowEdge, g: GraphWindow) -> list[Alert]:
        if not self._near(we.edge.amount):
            return []
        acct = we.edge.src
        cutoff = we.edge.timestamp - self.window
        near = [
            e.edge
            for e in g.outgoing(acct)
            if e.edge.timestamp >= cutoff and self._near(e.edge.amount)
        ]
        if len(near) < self.min_count:
            return []
        return [
            self.alert(
                [acct],
                near,
                we=we,
                summary=f"{acct} made {len(near)} transfers just below {self.threshold}",
                count=len(near),
                total=sum(e.amount for e in near),
            )
        ]
