"""The chain follower: reads every committed block once, in order, and turns its receipts'
events into the demo's state — and feeds the stream engine and the supervision watch.

Value movements of the SCF business become :class:`~finchain.regtech.chainwatch.model.Transfer`
records for the watch (voucher issue: core → vendor; accepted tier-2 transfer: vendor → site;
financing: bank → applicant, the proceeds). Financing requests become stream events keyed by
the applicant (per-party financing velocity and amount over a sliding window, with rules).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from finchain.demo.state import DemoState

log = logging.getLogger(__name__)

#: Stream rules over financing requests (keyed by applicant), in the stream engine's language.
STREAM_RULES = {
    "financing_velocity": 'WHEN count(10m) BY applicant >= 4 THEN review "financing velocity"',
    "financing_volume": 'WHEN sum(amount, 10m) BY applicant > 100000000 THEN review "volume"',
}


def make_stream_engine(state: DemoState) -> Any:
    """The stream engine with per-applicant indicators and :data:`STREAM_RULES`, or None."""
    try:
        from finchain.stream.engine import Engine
        from finchain.stream.rules import RuleSet

        eng = Engine()
        eng.add_lookback(
            "financing_10m", key="applicant", field="amount", span="10m", stats=("count", "sum")
        )
        eng.set_rules(RuleSet(dict(STREAM_RULES)))
        state.stream_rules = dict(STREAM_RULES)
        return eng
    except Exception as exc:
        log.warning("stream engine unavailable: %s", exc)
        return None


def make_watcher() -> Any:
    try:
        from finchain.regtech.chainwatch.engine import Watcher

        return Watcher()
    except Exception as exc:
        log.warning("supervision watch unavailable: %s", exc)
        return None


class ChainFollower:
    """Polls the node for new blocks and applies them to ``state``."""

    def __init__(self, state: DemoState, url: str, *, poll: float = 0.4) -> None:
        self.state = state
        self.url = url
        self.poll = poll
        self.next_height = 0
        self._pending_transfers: dict[str, dict[str, Any]] = {}
        self._lock = asyncio.Lock()

    async def catch_up(self, client: Any) -> int:
        """Apply every block up to the node's head, each exactly once; the number applied."""
        async with self._lock:
            head = await client.height()
            n = 0
            while self.next_height <= head:
                hi = min(head, self.next_height + 7)
                heights = list(range(self.next_height, hi + 1))
                blocks = await asyncio.gather(*(client.block(h, full=True) for h in heights))
                for b in blocks:
                    self.apply(b)
                    n += 1
                self.next_height = hi + 1
            return n

    async def run(self, stop: asyncio.Event) -> None:
        from finchain.chain.sdk import Client

        async with Client(self.url) as client:
            tick = 0
            while not stop.is_set():
                try:
                    await self.catch_up(client)
                    if tick % 5 == 0:  # node status every ~2 s
                        await self.refresh_nodes(client)
                    tick += 1
                except Exception as exc:  # node restarting; keep following
                    log.debug("follower: %s", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll)

    async def refresh_nodes(self, client: Any) -> None:
        """Each node's status (height, role, peers, mempool) for the network page."""
        import httpx

        st = self.state
        nodes = st.network.get("nodes", [])
        async with httpx.AsyncClient(timeout=5.0) as http:

            async def one(n: dict[str, Any]) -> None:
                url = f"http://{n['host']}:{n['rpc_port']}/"
                try:
                    r = await http.post(
                        url, json={"jsonrpc": "2.0", "id": 1, "method": "getStatus", "params": []}
                    )
                    res = r.json()["result"]
                    st.node_status[n["name"]] = {**res, "up": True, "seen": time.time()}
                except Exception:
                    prev = st.node_status.get(n["name"], {})
                    st.node_status[n["name"]] = {**prev, "up": False}

            await asyncio.gather(*(one(n) for n in nodes))
        st.hub.publish("nodes", st.node_status)

    # -- applying one block --------------------------------------------------------------------
    def apply(self, block: dict[str, Any]) -> None:
        st = self.state
        height = int(block["height"])
        ts = int(block["timestamp"])
        receipts = block.get("receipts", [])
        row = {
            "height": height,
            "hash": block["hash"],
            "timestamp": ts,
            "txCount": int(block["txCount"]),
            "proposer": block.get("proposer"),
            "txs": [r["txHash"] for r in receipts],
            "failed": sum(1 for r in receipts if not r["ok"]),
        }
        st.blocks.append(row)
        transfers: list[Any] = []
        fin_events: list[dict[str, Any]] = []
        for r in receipts:
            if not r["ok"]:
                continue
            for ev in r["events"]:
                self._event(ev["contract"], ev["event"], ev["data"], r, height, ts, transfers)
                if ev["event"] == "FinancingRequested":
                    d = ev["data"]
                    fin_events.append(
                        {"ts": ts, "applicant": d["applicant"], "amount": int(d["amount"])}
                    )
        if st.watcher is not None and transfers:
            from finchain.regtech.chainwatch.model import Transfer

            batch = [Transfer(*t) for t in transfers]
            for a in st.watcher.on_block(height, batch):
                st.alerts[a.alert_id] = self._alert_json(a)
            st.hub.publish("alerts", len(st.alerts))
        if st.stream is not None and fin_events:
            cols = {k: [e[k] for e in fin_events] for k in ("ts", "applicant", "amount")}
            res = st.stream.process(cols)
            for al in res.alerts:
                st.stream_alerts.append(
                    {
                        "rule": al.rule,
                        "action": al.action,
                        "message": al.message,
                        "key": str(al.key),
                        "name": st.name(str(al.key)),
                        "ts": al.ts,
                        "height": height,
                    }
                )
        st.hub.publish(
            "block",
            {k: row[k] for k in ("height", "hash", "timestamp", "txCount", "proposer")},
        )

    def _alert_json(self, a: Any) -> dict[str, Any]:
        st = self.state
        d: dict[str, Any] = a.to_dict()
        d["names"] = {acc: st.name(acc) for acc in d["accounts"]}
        summary = str(d.get("summary", ""))
        for acc in d["accounts"]:
            if acc in summary and acc in st.names:
                summary = summary.replace(acc, st.names[acc])
        d["summary"] = summary
        return d

    def _event(
        self,
        contract: str,
        name: str,
        data: dict[str, Any],
        receipt: dict[str, Any],
        height: int,
        ts: int,
        transfers: list[Any],
    ) -> None:
        st = self.state
        st.events[f"{contract}.{name}"] += 1
        ref = {"tx": receipt["txHash"], "height": height, "ts": ts}
        if contract == "scf_registry" and name == "ParticipantOnboarded":
            st.parties[data["address"]] = {**data, **ref}
            st.names.setdefault(data["address"], data["name"])
        elif contract == "scf_trade":
            oid = data.get("order")
            if oid is None:
                return
            o = st.orders.setdefault(oid, {"order": oid, "timeline": []})
            if name == "OrderCreated":
                o.update(
                    {"buyer": data["buyer"], "supplier": data["supplier"], "amount": data["amount"]}
                )
            o["timeline"].append({"event": name, **ref, "data": data})
        elif contract == "scf_voucher":
            self._voucher_event(name, data, ref, transfers)
        elif contract == "scf_iot":
            if name == "DeviceRegistered":
                st.devices[data["device"]] = {**data, **ref}
                kind, _, oid = str(data["subject"]).partition(":")
                if kind == "order" and oid in st.orders:
                    st.orders[oid]["timeline"].append({"event": name, **ref, "data": data})
            elif name == "DeviceEvent":
                kind, _, oid = str(data["subject"]).partition(":")
                if data["event"] in ("excursion", "geofence"):
                    st.excursions.append({**data, **ref, "order": oid})
                if kind == "order" and oid in st.orders:
                    st.orders[oid]["timeline"].append(
                        {"event": f"Device:{data['event']}", **ref, "data": data}
                    )

    def _voucher_event(
        self, name: str, data: dict[str, Any], ref: dict[str, Any], transfers: list[Any]
    ) -> None:
        st = self.state
        vid = str(data.get("voucher"))
        ts_s = ref["ts"] // 1000
        tx, height = ref["tx"], ref["height"]
        if name == "VoucherIssued":
            st.vouchers[vid] = {
                "id": vid,
                "parent": None,
                "root": vid,
                "holder": data["holder"],
                "face": data["amount"],
                "order": data.get("order"),
                "status": "ISSUED",
                "issued": ref,
                "children": [],
                "financing": None,
            }
            st.trees[vid] = [vid]
            order = st.orders.get(str(data.get("order")))
            if order is not None:
                order["voucher"] = vid
                order["timeline"].append({"event": name, **ref, "data": data})
            buyer = order.get("buyer") if order else None
            if buyer:
                transfers.append((tx, height, ts_s, buyer, data["holder"], data["amount"]))
        elif name == "VoucherAccepted":
            if vid in st.vouchers:
                st.vouchers[vid]["status"] = "HELD"
        elif name == "VoucherTransferRequested":
            child = str(data["child"])
            parent = st.vouchers.get(vid)
            st.vouchers[child] = {
                "id": child,
                "parent": vid,
                "root": parent["root"] if parent else vid,
                "holder": data["to"],
                "face": data["amount"],
                "order": parent.get("order") if parent else None,
                "status": "TRANSFER_PENDING",
                "issued": ref,
                "children": [],
                "financing": None,
            }
            if parent is not None:
                parent["children"].append(child)
                st.trees.setdefault(parent["root"], []).append(child)
            self._pending_transfers[child] = data
        elif name == "VoucherTransferred":
            v = st.vouchers.get(vid)
            req = self._pending_transfers.pop(vid, None)
            if v is not None:
                v["status"] = "HELD"
                self._order_event(v, name, ref, data)
            if req is not None:
                transfers.append((tx, height, ts_s, req["from"], req["to"], req["amount"]))
        elif name == "FinancingRequested":
            v = st.vouchers.get(vid)
            if v is not None:
                v["status"] = "FINANCING_PENDING"
                v["financing"] = {
                    "funder": data["funder"],
                    "applicant": data["applicant"],
                    "amount": data["amount"],
                    "discount_bps": data["discount_bps"],
                    "requested": ref,
                }
                self._order_event(v, name, ref, data)
        elif name in ("VoucherFinanced", "FinancingRejected"):
            v = st.vouchers.get(vid)
            if v is not None:
                v["status"] = "FINANCED" if name == "VoucherFinanced" else "HELD"
                if name == "VoucherFinanced":
                    v["holder"] = data["funder"]  # the bank now holds the financed piece
                fin = v.get("financing") or {}
                fin["outcome"] = {"event": name, **ref, "data": data}
                v["financing"] = fin
                self._order_event(v, name, ref, data)
            if name == "VoucherFinanced":
                transfers.append(
                    (tx, height, ts_s, data["funder"], data["applicant"], data["proceeds"])
                )

    def _order_event(
        self, v: dict[str, Any], name: str, ref: dict[str, Any], data: dict[str, Any]
    ) -> None:
        order = self.state.orders.get(str(v.get("order")))
        if order is not None:
            order["timeline"].append({"event": name, **ref, "data": data})
