"""Fund tracing forward and backward over N hops under poison, haircut and FIFO taint.

Transfers are replayed in time order (backward tracing replays the reversed graph in reverse
time). Each account holds the value it was seen to receive; value it spends beyond that is
treated as clean own funds. Taint flows from the seed:

* **poison** — once an account holds any tainted value, everything it sends is tainted
  (maximal, over-inclusive; what sanctions screening assumes);
* **haircut** — every transfer carries the sender's tainted share of its balance at the time
  (proportional mixing);
* **FIFO** — the account's holdings are a queue of lots; a transfer spends the oldest lots
  first, carrying their taint (Möser, Böhme & Breuker, "Towards Risk Scoring of Bitcoin
  Transactions", FC 2014 — haircut, poison and FIFO compared).

Accounts up to ``hops`` away are followed; taint reaching them is reported, but their own
outflows are not traced further. Forward, a seed *address* taints all it sends from the start
time; a seed *transaction* taints the amount it delivers. Backward, the same rules run on the
reversed flow graph and answer "where did the seed's funds come from, and how much of them".

>>> from finchain.regtech.chainwatch.model import Transfer
>>> txs = [Transfer("1", 1, 1, "s", "m", 100), Transfer("2", 2, 2, "c", "m", 100),
...        Transfer("3", 3, 3, "m", "d", 100)]
>>> trace(txs, seed_address="s", method="haircut").nodes["d"].tainted
50
>>> trace(txs, seed_address="s", method="poison").nodes["d"].tainted
100
>>> trace(txs, seed_address="s", method="fifo").nodes["d"].tainted
100
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from finchain.regtech.chainwatch.labels import LabelIndex
from finchain.regtech.chainwatch.model import Transfer
from finchain.regtech.errors import BadInput

Method = Literal["poison", "haircut", "fifo"]
Direction = Literal["forward", "backward"]


@dataclass(slots=True)
class TraceNode:
    """An account reached by the trace."""

    address: str
    hops: int
    tainted: int = 0
    received: int = 0
    labels: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        share = self.tainted / self.received if self.received else 1.0
        return {
            "address": self.address,
            "hops": self.hops,
            "tainted": self.tainted,
            "received": self.received,
            "taint_share": round(min(share, 1.0), 6),
            "labels": self.labels,
        }


@dataclass(frozen=True, slots=True)
class TraceEdge:
    """A transfer that carried taint (in the direction of the trace)."""

    tx_id: str
    src: str
    dst: str
    amount: int
    tainted: int
    timestamp: int


@dataclass(slots=True)
class TraceResult:
    """What a trace found: nodes, tainted edges and exposure to labelled addresses."""

    seed: str
    direction: Direction
    method: Method
    hops: int
    nodes: dict[str, TraceNode]
    edges: list[TraceEdge]
    exposure: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "seed": self.seed,
            "direction": self.direction,
            "method": self.method,
            "hops": self.hops,
            "nodes": [n.to_dict() for n in sorted(self.nodes.values(), key=_node_order)],
            "edges": [
                {
                    "tx_id": e.tx_id,
                    "src": e.src,
                    "dst": e.dst,
                    "amount": e.amount,
                    "tainted": e.tainted,
                    "timestamp": e.timestamp,
                }
                for e in self.edges
            ],
            "exposure": self.exposure,
            "summary": {
                "accounts": len(self.nodes),
                "tainted_edges": len(self.edges),
                "labelled_accounts": sum(1 for n in self.nodes.values() if n.labels),
                "illicit_exposure": sum(
                    x["tainted"] for x in self.exposure if x.get("illicit") is True
                ),
            },
        }


def _node_order(n: TraceNode) -> tuple[int, int, str]:
    return (n.hops, -n.tainted, n.address)


class _Holdings:
    """One account's holdings under a taint method (amounts in integer minor units)."""

    __slots__ = ("balance", "lots", "poisoned", "tainted")

    def __init__(self) -> None:
        self.balance = 0
        self.tainted = Fraction(0)
        self.lots: deque[list[Fraction]] = deque()  # [amount, tainted amount]
        self.poisoned = False

    def receive(self, amount: int, tainted: Fraction) -> None:
        self.balance += amount
        self.tainted += tainted
        self.lots.append([Fraction(amount), tainted])
        if tainted > 0:
            self.poisoned = True

    def spend(self, amount: int, method: Method) -> Fraction:
        if amount > self.balance:  # clean own funds we never saw arrive
            extra = amount - self.balance
            self.balance += extra
            self.lots.appendleft([Fraction(extra), Fraction(0)])
        if method == "poison":
            out = Fraction(amount) if self.poisoned else Fraction(0)
            share = self.tainted / self.balance if self.balance else Fraction(0)
            self.tainted -= share * amount
        elif method == "haircut":
            out = self.tainted * amount / self.balance if self.balance else Fraction(0)
            self.tainted -= out
        else:
            out = Fraction(0)
            need = Fraction(amount)
            while need > 0 and self.lots:
                lot = self.lots[0]
                take = min(need, lot[0])
                part = lot[1] * take / lot[0] if lot[0] else Fraction(0)
                out += part
                lot[0] -= take
                lot[1] -= part
                need -= take
                if lot[0] == 0:
                    self.lots.popleft()
            self.tainted -= out
        self.balance -= amount
        return out


def trace(
    transfers: Sequence[Transfer],
    *,
    seed_address: str | None = None,
    seed_tx: str | None = None,
    direction: Direction = "forward",
    hops: int = 3,
    method: Method = "haircut",
    labels: LabelIndex | None = None,
    since: int | None = None,
) -> TraceResult:
    """Trace funds from ``seed_address`` or ``seed_tx`` (exactly one) over ``hops`` hops."""
    if (seed_address is None) == (seed_tx is None):
        raise BadInput("give exactly one of a seed address or a seed transaction")
    if method not in ("poison", "haircut", "fifo"):
        raise BadInput(f"unknown taint method {method!r}: use poison, haircut or fifo")
    if direction not in ("forward", "backward"):
        raise BadInput(f"unknown direction {direction!r}: use forward or backward")
    if hops < 1:
        raise BadInput("hops must be at least 1")
    ordered = sorted(transfers, key=lambda t: (t.timestamp, t.block, t.tx_id))
    if direction == "backward":
        ordered = [
            Transfer(t.tx_id, t.block, -t.timestamp, t.dst, t.src, t.amount, t.token)
            for t in reversed(ordered)
        ]
    seed = seed_address.lower() if seed_address else ""
    seed_edge: Transfer | None = None
    if seed_tx is not None:
        seed_edge = next((t for t in ordered if t.tx_id == seed_tx), None)
        if seed_edge is None:
            raise BadInput(f"transaction {seed_tx} is not in the data")
    start = seed_edge.timestamp if seed_edge else None
    if since is not None and start is None:
        start = since if direction == "forward" else -since
    hold: dict[str, _Holdings] = {}
    nodes: dict[str, TraceNode] = {}
    edges: list[TraceEdge] = []
    if seed:
        nodes[seed] = TraceNode(seed, 0)
    for t in ordered:
        src, dst = t.src.lower(), t.dst.lower()
        hs = hold.get(src)
        if hs is None:
            hs = hold[src] = _Holdings()
        if start is not None and t.timestamp < start:
            hs.spend(t.amount, method)
            hold.setdefault(dst, _Holdings()).receive(t.amount, Fraction(0))
            continue
        if seed_edge is not None and t.tx_id == seed_edge.tx_id:
            hs.spend(t.amount, method)
            tainted = Fraction(t.amount)
            nodes.setdefault(src, TraceNode(src, 0))
        elif src == seed:
            hs.spend(t.amount, method)
            tainted = Fraction(t.amount)
        else:
            out = hs.spend(t.amount, method)
            node = nodes.get(src)
            tainted = out if node is not None and node.hops < hops else Fraction(0)
        hd = hold.get(dst)
        if hd is None:
            hd = hold[dst] = _Holdings()
        hd.receive(t.amount, tainted)
        if tainted > 0:
            h = nodes[src].hops + 1
            node = nodes.get(dst)
            if node is None:
                node = nodes[dst] = TraceNode(dst, h)
            node.hops = min(node.hops, h)
            node.tainted += round(tainted)
            node.received += t.amount
            ts = -t.timestamp if direction == "backward" else t.timestamp
            s, d = (dst, src) if direction == "backward" else (src, dst)
            edges.append(TraceEdge(t.tx_id, s, d, t.amount, round(tainted), ts))
    result = TraceResult(seed or (seed_tx or ""), direction, method, hops, nodes, edges)
    if labels is not None:
        result.exposure = exposure(result, labels)
    return result


def exposure(result: TraceResult, labels: LabelIndex) -> list[dict[str, Any]]:
    """Tainted value reaching (forward) or coming from (backward) labelled accounts.

    One row per labelled account: direct when one hop from the seed, indirect otherwise.
    """
    rows = []
    for n in result.nodes.values():
        found = labels.get(n.address)
        if not found:
            continue
        n.labels = [{"name": lb.name, "category": lb.category, "source": lb.source} for lb in found]
        rows.append(
            {
                "address": n.address,
                "hops": n.hops,
                "kind": "seed" if n.hops == 0 else "direct" if n.hops == 1 else "indirect",
                "tainted": n.tainted,
                "categories": sorted({lb.category for lb in found}),
                "illicit": any(lb.illicit for lb in found),
            }
        )
    rows.sort(key=lambda r: (n_of(r, "hops"), -n_of(r, "tainted"), str(r["address"])))
    return rows


def draw(result: TraceResult, path: Path, *, max_nodes: int = 200) -> Path:
    """Draw the traced flow graph to a PNG: layers by hop, illicit labels in red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    keep = sorted(result.nodes.values(), key=_node_order)[:max_nodes]
    names = {n.address for n in keep}
    g = nx.DiGraph()
    for n in keep:
        g.add_node(n.address, layer=n.hops)
    for e in result.edges:
        if e.src in names and e.dst in names:
            w = g.get_edge_data(e.src, e.dst, {"tainted": 0})["tainted"]
            g.add_edge(e.src, e.dst, tainted=w + e.tainted)
    pos = nx.multipartite_layout(g, subset_key="layer") if len(g) else {}
    colours = []
    for a in g.nodes:
        node = result.nodes[a]
        if node.hops == 0:
            colours.append("#1f77b4")
        elif any(_illicit(lb) for lb in node.labels):
            colours.append("#d62728")
        elif node.labels:
            colours.append("#ff7f0e")
        else:
            colours.append("#bbbbbb")
    top = max((d["tainted"] for *_, d in g.edges(data=True)), default=1) or 1
    widths = [0.5 + 4 * d["tainted"] / top for *_, d in g.edges(data=True)]
    fig, ax = plt.subplots(figsize=(12, 7))
    short = {a: (a[:8] + "…" if len(a) > 10 else a) for a in g.nodes}
    nx.draw_networkx(
        g,
        pos,
        ax=ax,
        node_color=colours,
        width=widths,
        labels=short,
        font_size=6,
        node_size=220,
        arrowsize=8,
        edge_color="#555555",
    )
    ax.set_title(
        f"{result.direction} trace from {result.seed[:14]} — {result.method}, "
        f"{result.hops} hops ({len(result.nodes)} accounts; red = illicit label)"
    )
    ax.axis("off")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _illicit(lb: dict[str, Any]) -> bool:
    from finchain.regtech.chainwatch.labels import Label

    return Label("", "", str(lb.get("category", "")), "").illicit


def n_of(row: dict[str, Any], key: str) -> int:
    """``row[key]`` as an int (for sorting exposure rows)."""
    value = row[key]
    return int(value) if isinstance(value, int | float | str) else 0
