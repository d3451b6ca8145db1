"""Layered flows: scatter-gather, gather-scatter, bipartite and stack.

All four look at the first-time transfers (``new_pair``) around the arriving edge:

* scatter-gather — one source → ``k`` intermediaries → one sink, each intermediary passing on
  what it got (AMLSim ``scatter_gather``);
* gather-scatter — ``k`` sources → one hub → ``k'`` destinations, the hub keeping little
  (AMLSim ``gather_scatter``);
* bipartite — two disjoint sets with dense transfers from one to the other (AMLSim
  ``bipartite``);
* stack — three or more dense layers, i.e. bipartite flows chained (AMLSim ``stack``).
"""

from __future__ import annotations

from collections import defaultdict

from finchain.regtech.chainwatch.detectors.base import DAY, Detector, best_band
from finchain.regtech.chainwatch.model import Address, Alert, Edge
from finchain.regtech.chainwatch.window import GraphWindow, WindowEdge


def _fresh(g: GraphWindow, account: Address, cutoff: int, *, out: bool) -> list[WindowEdge]:
    edges = g.outgoing(account) if out else g.incoming(account)
    return [e for e in edges if e.new_pair and e.edge.timestamp >= cutoff]


class ScatterGather(Detector):
    """Source → at least ``min_intermediaries`` accounts → one sink, within ``window``.

    Each intermediary must forward between ``1 - max_skim`` and ``1 + tolerance`` of what it
    received from the source, after receiving it.
    """

    typology = "scatter_gather"

    def __init__(
        self,
        *,
        min_intermediaries: int = 3,
        window: int = 21 * DAY,
        max_skim: float = 0.2,
        tolerance: float = 0.01,
    ) -> None:
        self.min_intermediaries = min_intermediaries
        self.window = window
        self.max_skim = max_skim
        self.tolerance = tolerance

    def _forwards(self, got: Edge, sent: Edge) -> bool:
        return (
            got.timestamp <= sent.timestamp
            and (1 - self.max_skim) * got.amount <= sent.amount <= (1 + self.tolerance) * got.amount
        )

    def on_edge(self, we: WindowEdge, g: GraphWindow) -> list[Alert]:
        sent = we.edge
        mid, sink = sent.src, sent.dst
        cutoff = sent.timestamp - self.window
        sources = {e.edge.src for e in g.incoming(mid) if self._forwards(e.edge, sent)}
        sources.discard(sink)
        if not sources:
            return []
        into_sink: dict[Address, list[Edge]] = defaultdict(list)
        for e in g.incoming(sink):
            if e.edge.timestamp >= cutoff:
                into_sink[e.edge.src].append(e.edge)
        alerts = []
        for source in sorted(sources):
            evidence: list[Edge] = []
            mids = set()
            for e in g.outgoing(source):
                got = e.edge
                if got.timestamp < cutoff or got.dst in (source, sink):
                    continue
                for out in into_sink.get(got.dst, ()):
                    if self._forwards(got, out):
                        evidence += [got, out]
                        mids.add(got.dst)
                        break
            if len(mids) >= self.min_intermediaries and mid in mids:
                alerts.append(
                    self.alert(
                        [source, sink],
                        evidence,
                        we=we,
                        summary=f"{source} scattered to {len(mids)} accounts gathering at {sink}",
                        intermediaries=len(mids),
                    )
                )
        return alerts


class GatherScatter(Detector):
    """At least ``min_in`` new sources pay a hub, which pays at least ``min_out`` new destinations.

    What the hub sends on lies between ``min_passed`` and ``1 + tolerance`` times what it
    gathered, within ``window``; incoming and outgoing amounts each lie within a factor
    ``max_ratio`` (AMLSim's hub splits what it gathered evenly).
    """

    typology = "gather_scatter"

    def __init__(
        self,
        *,
        min_in: int = 4,
        min_out: int = 4,
        window: int = 21 * DAY,
        min_passed: float = 0.7,
        tolerance: float = 0.05,
        max_ratio: float = 2.0,
    ) -> None:
        self.max_ratio = max_ratio
        self.min_in = min_in
        self.min_out = min_out
        self.window = window
        self.min_passed = min_passed
        self.tolerance = tolerance

    def on_edge(self, we: WindowEdge, g: GraphWindow) -> list[Alert]:
        if not we.new_pair:
            return []
        hub = we.edge.src
        cutoff = we.edge.timestamp - self.window
        firsts: dict[Address, WindowEdge] = {}
        for e in _fresh(g, hub, cutoff, out=False):
            firsts.setdefault(e.edge.src, e)
        ins = {e.edge.src: e.edge for e in best_band(list(firsts.values()), self.max_ratio)}
        if len(ins) < self.min_in:
            return []
        first_in = min(e.timestamp for e in ins.values())
        later = [
            e
            for e in _fresh(g, hub, cutoff, out=True)
            if e.edge.timestamp >= first_in and e.edge.dst not in ins
        ]
        outs = {e.edge.dst: e.edge for e in best_band(later, self.max_ratio)}
        if len(outs) < self.min_out:
            return []
        got = sum(e.amount for e in ins.values())
        sent = sum(e.amount for e in outs.values())
        if not self.min_passed * got <= sent <= (1 + self.tolerance) * got:
            return []
        return [
            self.alert(
                [hub],
                [*ins.values(), *outs.values()],
                we=we,
                summary=f"{hub} gathered from {len(ins)} and scattered to {len(outs)} accounts",
                sources=len(ins),
                destinations=len(outs),
            )
        ]


def _dense_block(
    left: set[Address], right: set[Address], edges: dict[tuple[Address, Address], Edge]
) -> tuple[set[Address], set[Address]]:
    """Peel nodes with fewer than two links into the other side until the block is stable."""
    left, right = set(left), set(right)
    changed = True
    while changed:
        changed = False
        for a in list(left):
            if sum((a, b) in edges for b in right) < 2:
                left.discard(a)
                changed = True
        for b in list(right):
            if sum((a, b) in edges for a in left) < min(2, len(left)):
                right.discard(b)
                changed = True
    return left, right


class Bipartite(Detector):
    """Two disjoint sets, each of at least two accounts, with dense new transfers between them.

    Parameters: ``min_accounts`` (both sides together), ``min_density`` (links present over
    ``|A|·|B|``), ``window``.
    """

    typology = "bipartite"

    def __init__(
        self, *, min_accounts: int = 4, min_density: float = 0.75, window: int = 21 * DAY
    ) -> None:
        self.min_accounts = min_accounts
        self.min_density = min_density
        self.window = window

    def on_edge(self, we: WindowEdge, g: GraphWindow) -> list[Alert]:
        if not we.new_pair:
            return []
        a0, b0 = we.edge.src, we.edge.dst
        cutoff = we.edge.timestamp - self.window
        lefts = {e.edge.src for e in _fresh(g, b0, cutoff, out=False)}
        rights = {e.edge.dst for e in _fresh(g, a0, cutoff, out=True)}
        if len(lefts) < 2 or len(rights) < 2 or lefts & rights:
            return []
        edges: dict[tuple[Address, Address], Edge] = {}
        for a in lefts:
            for e in _fresh(g, a, cutoff, out=True):
                if e.edge.dst in rights:
                    edges[(a, e.edge.dst)] = e.edge
        left, right = _dense_block(lefts, rights, edges)
        if len(left) < 2 or len(right) < 2 or len(left) + len(right) < self.min_accounts:
            return []
        if a0 not in left or b0 not in right:
            return []
        links = [e for (a, b), e in edges.items() if a in left and b in right]
        density = len(links) / (len(left) * len(right))
        if density < self.min_density:
            return []
        return [
            self.alert(
                left | right,
                links,
                we=we,
                summary=f"dense flows from {len(left)} to {len(right)} accounts",
                left=sorted(left),
                right=sorted(right),
                density=round(density, 3),
            )
        ]


class Stack(Detector):
    """Three dense layers L1 → L2 → L3 (a bipartite flow feeding another).

    ``L2`` has at least two accounts and ``L1``/``L3`` together at least three (so a
    scatter-gather, 1 → k → 1, is not a stack); each layer pair has density ≥ ``min_density``;
    an L2 account sends on only after it received.
    """

    typology = "stack"

    def __init__(
        self, *, min_accounts: int = 5, min_density: float = 0.75, window: int = 21 * DAY
    ) -> None:
        self.min_accounts = min_accounts
        self.min_density = min_density
        self.window = window

    def on_edge(self, we: WindowEdge, g: GraphWindow) -> list[Alert]:
        if not we.new_pair:
            return []
        sink = we.edge.dst
        cutoff = we.edge.timestamp - self.window
        # L2 candidates: fresh payers of the sink that themselves had fresh payers before.
        l2_in: dict[Address, list[Edge]] = {}
        for e in _fresh(g, sink, cutoff, out=False):
            ins = [
                x.edge
                for x in _fresh(g, e.edge.src, cutoff, out=False)
                if x.edge.timestamp <= e.edge.timestamp
            ]
            if ins:
                l2_in[e.edge.src] = ins
        if we.edge.src not in l2_in or len(l2_in) < 2:
            return []
        # L1: accounts paying at least two L2 candidates (or all of them when only two).
        l1_edges: dict[tuple[Address, Address], Edge] = {}
        for m, ins in l2_in.items():
            for x in ins:
                l1_edges[(x.src, m)] = x
        l1, l2 = _dense_block({a for a, _ in l1_edges}, set(l2_in), l1_edges)
        if len(l2) < 2 or not l1 or we.edge.src not in l2:
            return []
        # L3: accounts paid by the L2 layer after it was funded.
        l3_edges: dict[tuple[Address, Address], Edge] = {}
        for m in l2:
            for e in _fresh(g, m, cutoff, out=True):
                if e.edge.dst not in l1 and e.edge.dst not in l2:
                    l3_edges[(m, e.edge.dst)] = e.edge
        l3 = {b for (a, b) in l3_edges if sum((m, b) in l3_edges for m in l2) >= 2}
        if not l3 or len(l1) + len(l3) < 3 or len(l1) + len(l2) + len(l3) < self.min_accounts:
            return []
        up = [e for (a, b), e in l1_edges.items() if a in l1 and b in l2]
        down = [e for (a, b), e in l3_edges.items() if a in l2 and b in l3]
        d1 = len(up) / (len(l1) * len(l2))
        d2 = len(down) / (len(l2) * len(l3))
        if min(d1, d2) < self.min_density:
            return []
        return [
            self.alert(
                l1 | l2 | l3,
                [*up, *down],
                we=we,
                summary=f"layered flows {len(l1)} → {len(l2)} → {len(l3)} accounts",
                layers=[sorted(l1), sorted(l2), sorted(l3)],
            )
        ]
