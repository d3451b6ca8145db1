"""What the running demo knows, shared by the runner, the chain follower and the console.

Everything here is derived from the running platform: blocks and events read from the chain,
decisions made by the risk engine, alerts raised by the supervision watch, indicators computed
by the stream engine, round latencies measured by the replay's client. The console reads it;
:class:`Hub` pushes each change to the browsers (server-sent events).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class Hub:
    """Fan-out of live updates to every connected console (one bounded queue each)."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[tuple[str, Any]]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def subscribe(self) -> asyncio.Queue[tuple[str, Any]]:
        q: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize=256)
        self._queues.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[tuple[str, Any]]) -> None:
        self._queues.discard(q)

    def publish(self, kind: str, data: Any) -> None:
        """Queue ``data`` for every subscriber; a slow subscriber loses its oldest update.
        Safe from any thread (hands over to the console's loop)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not loop:
            loop.call_soon_threadsafe(self._publish, kind, data)
        else:
            self._publish(kind, data)

    def _publish(self, kind: str, data: Any) -> None:
        for q in list(self._queues):
            if q.full():
                q.get_nowait()
            q.put_nowait((kind, data))


@dataclass
class Step:
    name: str
    status: str = "pending"  # pending | running | done | skipped | failed
    detail: str = ""
    seconds: float = 0.0


@dataclass
class DemoState:
    """The demo's shared state (mutated only on the event loop's thread)."""

    root: Path
    quick: bool = False
    started_at: float = field(default_factory=time.time)
    steps: list[Step] = field(default_factory=list)
    network: dict[str, Any] = field(default_factory=dict)  # chain id, suite, consensus, nodes
    node_status: dict[str, dict[str, Any]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # address hex → participant name
    parties: dict[str, dict[str, Any]] = field(default_factory=dict)  # address → onboarding
    blocks: list[dict[str, Any]] = field(default_factory=list)  # in height order
    events: Counter[str] = field(default_factory=Counter)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    vouchers: dict[str, dict[str, Any]] = field(default_factory=dict)
    trees: dict[str, list[str]] = field(default_factory=dict)  # root voucher → member ids
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    excursions: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)
    stream_alerts: list[dict[str, Any]] = field(default_factory=list)
    rounds: list[tuple[float, float, int]] = field(default_factory=list)  # (t, ms, actions)
    replay: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    scorer_kind: str = "rules"
    risk: Any = None  # TaiwanScorer or None
    stream: Any = None  # finchain.stream Engine or None
    stream_rules: dict[str, str] = field(default_factory=dict)
    watcher: Any = None  # finchain.regtech Watcher or None
    reading_store: Any = None  # ReadingStore of the IoT gateway
    genesis_path: Path | None = None
    rpc_url: str = ""
    hub: Hub = field(default_factory=Hub)

    # -- steps ---------------------------------------------------------------------------------
    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        s = Step(name)
        self.steps.append(s)
        return s

    def set_step(self, name: str, status: str, detail: str = "", seconds: float = 0.0) -> None:
        s = self.step(name)
        s.status, s.detail = status, detail
        if seconds:
            s.seconds = round(seconds, 1)
        self.hub.publish("steps", [vars(x) for x in self.steps])

    # -- decisions (persisted so a resumed run shows them all) ---------------------------------
    @property
    def decisions_path(self) -> Path:
        return self.root / "state" / "decisions.jsonl"

    def load_decisions(self) -> None:
        if self.decisions_path.exists():
            for line in self.decisions_path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    self.decisions.append(json.loads(line))

    def add_decisions(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        self.decisions_path.parent.mkdir(parents=True, exist_ok=True)
        with self.decisions_path.open("a", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r, default=str) + "\n")
        self.decisions.extend(rows)
        self.hub.publish("decisions", rows[-20:])

    def name(self, address: str | None) -> str:
        if not address:
            return ""
        return self.names.get(address, address[:12] + "…")

    # -- figures ---------------------------------------------------------------------------------
    def chain_figures(self) -> dict[str, Any]:
        """Counts read from the chain's events (what the summary and the console agree on)."""
        ev = self.events
        txs = sum(b["txCount"] for b in self.blocks)
        return {
            "height": self.blocks[-1]["height"] if self.blocks else 0,
            "transactions": txs,
            "orders": ev["scf_trade.OrderCreated"],
            "deliveries_confirmed": ev["scf_trade.DeliveryConfirmed"],
            "invoices": ev["scf_trade.InvoiceRegistered"],
            "devices": ev["scf_iot.DeviceRegistered"],
            "anchored_batches": ev["scf_iot.ReadingsAnchored"],
            "excursions": len(self.excursions),
            "vouchers_issued": ev["scf_voucher.VoucherIssued"],
            "vouchers_split": ev["scf_voucher.VoucherTransferred"],
            "financing_requests": ev["scf_voucher.FinancingRequested"],
            "financed": ev["scf_voucher.VoucherFinanced"],
            "declined": ev["scf_voucher.FinancingRejected"],
            "financed_amount": sum(
                v["financing"]["amount"]
                for v in self.vouchers.values()
                if v.get("status") == "FINANCED" and v.get("financing")
            ),
            "alerts": len(self.alerts),
            "stream_alerts": len(self.stream_alerts),
        }

    def tps_series(self, bucket_s: float = 5.0) -> list[dict[str, Any]]:
        """Committed transactions per second, per ``bucket_s`` of block time."""
        if not self.blocks:
            return []
        out: dict[int, int] = {}
        for b in self.blocks:
            if b["height"] == 0:
                continue
            k = int(b["timestamp"] / 1000 // bucket_s)
            out[k] = out.get(k, 0) + b["txCount"]
        if not out:
            return []
        lo, hi = min(out), max(out)
        return [
            {"t": k * bucket_s, "tps": round(out.get(k, 0) / bucket_s, 2)}
            for k in range(lo, hi + 1)
        ]

    def latency_series(self) -> list[dict[str, Any]]:
        return [{"t": round(t, 2), "ms": round(ms, 1), "n": n} for t, ms, n in self.rounds]
