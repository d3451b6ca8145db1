"""The console's server: JSON over the running demo's state and the chain, live updates as
server-sent events, and the static pages.

Everything shown comes from the running platform — the follower's view of the chain
(:class:`~finchain.demo.state.DemoState`), views and proofs fetched from a node, the gateway's
reading store, the risk model, the supervision watch and the stream engine. The chart library
(uPlot) is served from ``console/web/node_modules`` (installed by ``scripts/console-setup.sh``);
nothing is fetched from the internet.

Endpoints (all ``GET``)::

    /api/overview            steps, replay progress, chain figures, summary
    /api/network             nodes (role, org, height, peers, mempool), TPS and latency series
    /api/blocks?limit=&before=   recent blocks
    /api/block/{height}      one block with its transactions and receipts
    /api/tx/{hash}           transaction, receipt and raw inclusion proofs
    /api/tx/{hash}/verify    light-client check: commit proof, header certificate, Merkle proofs
    /api/scf/parties         enterprises with their vouchers and financing
    /api/scf/orders?q=&limit=   SCMS orders with their voucher and financing outcome
    /api/scf/order/{id}      one order end to end (chain views, timeline, readings, decision)
    /api/iot                 devices, excursions, the corridor and recent tracks, temperatures
    /api/risk                model report, drift, decisions with reason codes
    /api/alerts              supervision alerts; /api/alerts/{id} with its fund-flow graph
    /api/stream              stream indicators per party, rules, rule hits
    /api/events              server-sent events (block, nodes, replay, decisions, alerts, ...)
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles

from finchain.apidocs import local_docs
from finchain.demo.state import DemoState

STATIC = Path(__file__).resolve().parent / "static"
WEB = Path(__file__).resolve().parent / "web"
GPS_PATH = Path(__file__).resolve().parents[3] / "data" / "iot" / "bus_route14_gps.csv"


def _json(data: Any) -> JSONResponse:
    return JSONResponse(json.loads(json.dumps(data, default=str)))


def _address_of(sender: str, suite_name: str | None) -> str:
    """The account address (hex) of a transaction's sender public key ("" when unknown)."""
    from finchain.crypto import get_suite

    try:
        suite = get_suite(suite_name or "gm")
        return suite.address(suite.load_public_key(bytes.fromhex(sender.removeprefix("0x")))).hex()
    except Exception:
        return ""


def create_app(state: DemoState) -> FastAPI:
    """The console app bound to a running demo's ``state``."""
    app = FastAPI(
        title="finchain console", docs_url=None, redoc_url=None, openapi_url="/api/openapi.json"
    )
    local_docs(app, "/api/docs")
    app.state.demo = state
    st = state

    uplot = WEB / "node_modules" / "uplot" / "dist"
    if uplot.is_dir():
        app.mount("/vendor/uplot", StaticFiles(directory=uplot), name="uplot")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    # -- overview and network ----------------------------------------------------------------
    @app.get("/api/overview")
    async def overview() -> JSONResponse:
        return _json(
            {
                "steps": [vars(s) for s in st.steps],
                "replay": st.replay,
                "chain": st.chain_figures(),
                "summary": st.summary,
                "scorer": st.scorer_kind,
                "quick": st.quick,
                "chain_id": st.network.get("chain_id"),
                "uplot": uplot.is_dir(),
            }
        )

    @app.get("/api/network")
    async def network_page() -> JSONResponse:
        nodes = []
        for n in st.network.get("nodes", []):
            s = st.node_status.get(n["name"], {})
            nodes.append(
                {
                    **n,
                    "up": s.get("up", False),
                    "height": s.get("height"),
                    "peers": s.get("peers"),
                    "mempool": s.get("mempool"),
                    "round": s.get("round"),
                    "uptime_s": s.get("uptimeS"),
                }
            )
        intervals = [
            (b["timestamp"] - a["timestamp"])
            for a, b in zip(st.blocks, st.blocks[1:], strict=False)
        ][-200:]
        return _json(
            {
                "chain_id": st.network.get("chain_id"),
                "suite": st.network.get("suite"),
                "consensus": st.network.get("consensus"),
                "nodes": nodes,
                "height": st.blocks[-1]["height"] if st.blocks else 0,
                "transactions": sum(b["txCount"] for b in st.blocks),
                "tps": st.tps_series(),
                "latency": st.latency_series(),
                "block_interval_ms": sorted(intervals)[len(intervals) // 2] if intervals else None,
            }
        )

    # -- explorer ----------------------------------------------------------------------------
    @app.get("/api/blocks")
    async def blocks(limit: int = 25, before: int | None = None) -> JSONResponse:
        rows = st.blocks if before is None else [b for b in st.blocks if b["height"] < before]
        out = [
            {k: b[k] for k in ("height", "hash", "timestamp", "txCount", "proposer", "failed")}
            for b in rows[-max(1, min(limit, 200)) :]
        ]
        return _json(list(reversed(out)))

    async def rpc(method: str, *params: Any) -> Any:
        from finchain.chain.sdk import Client

        async with Client(st.rpc_url, timeout=10) as c:
            return await c.request(method, *params)

    @app.get("/api/block/{height}")
    async def block(height: int) -> JSONResponse:
        from finchain.chain.rpc.jsonrpc import RpcError

        try:
            b = await rpc("getBlockByHeight", height, True)
        except RpcError as exc:
            raise HTTPException(404, exc.message) from None
        txs = []
        for r in b.get("receipts", [])[:200]:
            txs.append(
                {
                    "hash": r["txHash"],
                    "ok": r["ok"],
                    "error": r["error"],
                    "events": [f"{e['contract']}.{e['event']}" for e in r["events"]],
                }
            )
        b.pop("transactions", None)
        b.pop("receipts", None)
        b.pop("raw", None)
        b["txs"] = txs
        return _json(b)

    @app.get("/api/tx/{tx_hash}")
    async def tx(tx_hash: str) -> JSONResponse:
        from finchain.chain.rpc.jsonrpc import RpcError

        try:
            t = await rpc("getTransaction", tx_hash)
            if t is None:
                raise HTTPException(404, f"no transaction {tx_hash}")
            r = await rpc("getTransactionReceipt", tx_hash)
            proof = await rpc("getTransactionProof", tx_hash)
        except RpcError as exc:
            raise HTTPException(404, exc.message) from None
        t.pop("raw", None)
        if r is not None:
            r.pop("raw", None)
        t["sender_name"] = st.name(_address_of(str(t.get("sender", "")), st.network.get("suite")))
        return _json({"transaction": t, "receipt": r, "proof": proof})

    @app.get("/api/tx/{tx_hash}/verify")
    async def verify(tx_hash: str) -> JSONResponse:
        """Prove the transaction with the light client (trusting only the genesis validators)."""
        from finchain.chain.light import LightClient
        from finchain.chain.sdk import Client

        if st.genesis_path is None:
            raise HTTPException(503, "network not up yet")
        light = LightClient.from_genesis_file(st.genesis_path)
        try:
            async with Client(st.rpc_url, timeout=10) as c:
                proof = await c.tx_proof(tx_hash)
                proved = await light.prove(c, tx_hash)
        except Exception as exc:
            return _json({"verified": False, "error": f"{type(exc).__name__}: {exc}"})
        header = proved.header
        return _json(
            {
                "verified": True,
                "height": header.height,
                "tx_root": header.tx_root.hex(),
                "receipt_root": header.receipt_root.hex(),
                "validators": len(light.keys),
                "receipt_ok": proved.receipt.ok,
                "contract": proved.transaction.contract,
                "method": proved.transaction.method,
                "proof": proof,
                "checks": [
                    "commit proof of the block verified against the genesis validators",
                    "header certificate (n − f validator signatures over the executed header)",
                    "transaction Merkle proof against tx_root (SM3)",
                    "receipt Merkle proof against receipt_root (SM3)",
                ],
            }
        )

    # -- supply-chain finance ----------------------------------------------------------------
    def decision_for(voucher_ids: set[str], line: str | None = None) -> dict[str, Any] | None:
        for d in reversed(st.decisions):
            if d.get("voucher") in voucher_ids or (line and d.get("line") == line):
                return d
        return None

    @app.get("/api/scf/parties")
    async def parties() -> JSONResponse:
        held: Counter[str] = Counter()
        financed: Counter[str] = Counter()
        for v in st.vouchers.values():
            fin = v.get("financing") or {}
            who = fin.get("applicant") or v["holder"]
            held[v["holder"]] += 1
            if v.get("status") == "FINANCED":
                financed[who] += 1
        out = []
        for addr, p in st.parties.items():
            out.append(
                {
                    "address": addr,
                    "name": p["name"],
                    "role": p["role"],
                    "vouchers": held[addr],
                    "financed": financed[addr],
                    "height": p["height"],
                }
            )
        out.sort(key=lambda r: (r["role"], -r["vouchers"], r["name"]))
        return _json(out)

    def order_row(o: dict[str, Any]) -> dict[str, Any]:
        vid = o.get("voucher")
        tree = [st.vouchers[m] for m in st.trees.get(vid, [])] if vid else []
        fin = next((v for v in tree if v.get("financing")), None)
        outcome = None
        if fin is not None:
            out = (fin["financing"] or {}).get("outcome")
            outcome = (
                "financed"
                if out and out["event"] == "VoucherFinanced"
                else ("declined" if out else "pending")
            )
        return {
            "order": o["order"],
            "supplier": st.name(o.get("supplier")),
            "amount": o.get("amount"),
            "voucher": vid,
            "pieces": len(tree),
            "financing": outcome,
            "height": o["timeline"][0]["height"] if o["timeline"] else None,
            "flagged": any(e["event"] == "Device:excursion" for e in o["timeline"]),
        }

    @app.get("/api/scf/orders")
    async def orders(q: str = "", limit: int = 50, status: str = "") -> JSONResponse:
        rows = [order_row(o) for o in st.orders.values() if "amount" in o]
        if q:
            ql = q.lower()
            rows = [r for r in rows if ql in r["order"].lower() or ql in r["supplier"].lower()]
        if status:
            rows = [r for r in rows if r["financing"] == status]
        return _json({"total": len(rows), "orders": list(reversed(rows))[: max(1, limit)]})

    @app.get("/api/scf/order/{order_id}")
    async def order(order_id: str) -> JSONResponse:
        o = st.orders.get(order_id)
        if o is None:
            raise HTTPException(404, f"no order {order_id}")
        from finchain.chain.sdk import Client

        async with Client(st.rpc_url, timeout=10) as c:
            on_chain = await c.call("scf_trade", "order", {"order_id": order_id})
            tree = (
                await c.call("scf_voucher", "tree", {"root_id": o["voucher"]})
                if o.get("voucher")
                else []
            )
        for v in tree:
            v["holder_name"] = st.name(v.get("holder"))
            if v.get("funder"):
                v["funder_name"] = st.name(v.get("funder"))
        ids = {v["id"] for v in tree}
        line = order_id.removeprefix("SCMS-")
        readings = readings_of(order_id)
        timeline = [
            {
                **e,
                "data": {
                    k: (st.name(v) if isinstance(v, str) and len(v) == 40 else v)
                    for k, v in e["data"].items()
                },
            }
            for e in o["timeline"]
        ]
        return _json(
            {
                "order": order_id,
                "on_chain": on_chain,
                "supplier": st.name(o.get("supplier")),
                "buyer": st.name(o.get("buyer")),
                "timeline": timeline,
                "tree": tree,
                "decision": decision_for(ids, line),
                "readings": readings,
            }
        )

    def readings_of(order_id: str) -> list[dict[str, Any]]:
        store = st.reading_store
        if store is None:
            return []
        out = []
        for dev, info in st.devices.items():
            if info["subject"] != f"order:{order_id}":
                continue
            for counter in range(1, 40):
                rec = store.reading(f"{dev}:{counter}")
                if rec is None:
                    break
                r = rec["reading"]
                out.append(
                    {
                        "device": dev,
                        "kind": r["kind"],
                        "counter": r["counter"],
                        "ts": r["ts"],
                        "value": r["value"],
                        "batch": rec["batch"],
                    }
                )
        return out

    # -- IoT -----------------------------------------------------------------------------------
    corridor_cache: list[list[float]] = []

    def corridor() -> list[list[float]]:
        if not corridor_cache and GPS_PATH.exists():
            from finchain.scf.iot.device import replay_gps

            pts = [(v["lat_e6"] / 1e6, v["lon_e6"] / 1e6) for _, v in replay_gps(GPS_PATH)]
            corridor_cache.extend([[a, b] for a, b in pts[::2]])
        return corridor_cache

    @app.get("/api/iot")
    async def iot(orders_n: int = 12) -> JSONResponse:
        kinds = Counter(d["kind"] for d in st.devices.values())
        recent = [o for o in st.orders.values() if "amount" in o][-orders_n:]
        tracks = []
        temps = []
        for o in recent:
            rs = readings_of(o["order"])
            gps = [
                [r["value"]["lat_e6"] / 1e6, r["value"]["lon_e6"] / 1e6, r["ts"]]
                for r in rs
                if r["kind"] == "gnss"
            ]
            if gps:
                tracks.append({"order": o["order"], "points": gps})
            t = [
                [r["ts"], r["value"]["celsius_milli"] / 1000]
                for r in rs
                if r["kind"] == "temperature"
            ]
            if t:
                temps.append({"order": o["order"], "points": t})
        return _json(
            {
                "devices": dict(kinds),
                "anchored_batches": st.events["scf_iot.ReadingsAnchored"],
                "deliveries_confirmed": st.events["scf_trade.DeliveryConfirmed"],
                "excursions": [
                    {**e, "supplier": st.name(st.orders.get(e["order"], {}).get("supplier"))}
                    for e in st.excursions[-100:]
                ],
                "excursion_count": len(st.excursions),
                "corridor": corridor(),
                "tracks": tracks,
                "temperatures": temps,
            }
        )

    # -- risk ----------------------------------------------------------------------------------
    @app.get("/api/risk")
    async def risk(limit: int = 60) -> JSONResponse:
        model: dict[str, Any] | None = None
        drift: dict[str, Any] | None = None
        if st.risk is not None:
            model = st.risk.model_report()
            drift = st.risk.drift()
        counts = Counter(str(d.get("decision")) for d in st.decisions)
        reasons: Counter[str] = Counter()
        for d in st.decisions:
            for r in d.get("reasons") or []:
                reasons[str(r.get("feature", r))] += 1
        return _json(
            {
                "scorer": st.scorer_kind,
                "model": model,
                "drift": drift,
                "counts": dict(counts),
                "total": len(st.decisions),
                "approved": sum(1 for d in st.decisions if d.get("approved")),
                "reason_counts": dict(reasons.most_common(10)),
                "decisions": list(reversed(st.decisions[-limit:])),
            }
        )

    # -- supervision -----------------------------------------------------------------------------
    @app.get("/api/alerts")
    async def alerts() -> JSONResponse:
        rows = sorted(st.alerts.values(), key=lambda a: (-a["block"], a["id"]))
        return _json(
            {
                "watch": st.watcher is not None,
                "transfers_seen": getattr(st.watcher, "transfers", 0),
                "alerts": [
                    {k: a[k] for k in ("id", "typology", "block", "score", "summary", "accounts")}
                    | {"edges": len(a["edges"]), "superseded_by": a.get("superseded_by")}
                    for a in rows
                ],
            }
        )

    @app.get("/api/alerts/{alert_id}")
    async def alert(alert_id: str) -> JSONResponse:
        a = st.alerts.get(alert_id)
        if a is None:
            raise HTTPException(404, f"no alert {alert_id}")
        nodes: dict[str, dict[str, Any]] = {}
        for e in a["edges"]:
            for acc in (e["src"], e["dst"]):
                p = st.parties.get(acc, {})
                nodes.setdefault(acc, {"id": acc, "name": st.name(acc), "role": p.get("role", "?")})
        focus = set(a.get("details", {}).get("focus", []))
        for n in nodes.values():
            n["focus"] = n["id"] in focus
        edges = [
            {**e, "src_name": st.name(e["src"]), "dst_name": st.name(e["dst"])} for e in a["edges"]
        ]
        return _json({**a, "graph": {"nodes": list(nodes.values()), "edges": edges}})

    # -- stream ----------------------------------------------------------------------------------
    @app.get("/api/stream")
    async def stream() -> JSONResponse:
        eng = st.stream
        rows = []
        if eng is not None:
            keys = eng.keys()  # the engine's keys (not a dict)
            for key in keys:
                vals = eng.query(key)
                rows.append({"key": str(key), "name": st.name(str(key)), **vals})
            rows.sort(key=lambda r: -float(r.get("financing_10m.count") or 0))
        return _json(
            {
                "engine": eng is not None,
                "events": getattr(eng, "offset", 0),
                "watermark": getattr(eng, "max_ts", None),
                "rules": st.stream_rules,
                "indicators": rows[:40],
                "hits": list(reversed(st.stream_alerts[-100:])),
                "hit_count": len(st.stream_alerts),
            }
        )

    # -- live updates ------------------------------------------------------------------------------
    @app.get("/api/events")
    async def events(request: Request) -> StreamingResponse:
        q = st.hub.subscribe()

        async def gen() -> Any:
            try:
                yield "retry: 2000\n\n"
                while True:
                    try:
                        kind, data = await asyncio.wait_for(q.get(), 15)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    if await request.is_disconnected():
                        break
                    yield f"event: {kind}\ndata: {json.dumps(data, default=str)}\n\n"
            finally:
                st.hub.unsubscribe(q)

        return StreamingResponse(
            gen(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    return app
