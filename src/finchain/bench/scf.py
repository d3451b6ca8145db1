"""``finchain bench scf``: the SCF transaction mix on a 10-node network of three node types.

Nodes (each its own OS process on 127.0.0.1): 4 validators, 4 observers and 2 light nodes that
verify every header's commit proof and validator certificate (the SME-gateway node type).

1. **Set-up** — the real SCMS replay for a slice of deliveries (participants onboarded, SCF
   installed by governance, orders, device-proven deliveries, vouchers, tier-2 transfers,
   financing): gives the vouchers the load acts on.
2. **Load** — pre-signed, valid SCF transactions submitted from the benchmark process at a steady
   rate: voucher splits and transfers down the tiers by the vendors, new purchase orders by the
   core enterprise, IoT batch anchors by the logistics gateway. Latency is submit → the commit of
   the block holding it (block times from the node's ``newBlocks`` subscription).
3. **IoT** — signed readings through the gateway: signature check, LMDB store, Merkle anchor on
   chain; ``readings_per_s``.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import typer


def command(
    quick: bool = typer.Option(False, "--quick", help="about a minute or two"),
    json_path: Path | None = typer.Option(None, "--json", help="write figures here"),
    rate: int = typer.Option(0, "--rate", help="target tx/s for the load (0 = auto)"),
) -> None:
    """SCF mix on 4 validators + 4 observers + 2 light nodes: tps, latency, IoT readings/s."""
    from finchain.bench.report import report

    figures = asyncio.run(_run(quick=quick, rate=rate))
    report("SCF on 10 nodes (3 types)", figures, json_path=json_path)


async def _run(*, quick: bool, rate: int) -> dict[str, Any]:
    from finchain.chain import network
    from finchain.chain.config import MempoolConfig
    from finchain.crypto import get_suite

    deliveries_n = 24 if quick else 96
    load_n = 3_000 if quick else 24_000
    rate = rate or (600 if quick else 1_500)
    suite = get_suite("gm")
    with tempfile.TemporaryDirectory(prefix="finchain-bench-scf-") as tmp:
        d = Path(tmp) / "net"
        specs = network.init_network(
            d,
            orgs=1,
            validators=4,
            observers=4,
            suite="gm",
            mempool=MempoolConfig(  # as `bench chain`: large batches, deep pool
                capacity=100_000,
                block_limit_window=1_000_000,
                batch_size=500,
                batch_interval_ms=20,
                max_block_batches=32,
            ),
        )
        network.up(d, timeout=120)
        lights: list[subprocess.Popen[bytes]] = []
        try:
            observers = [s for s in specs if s.role == "observer"]
            for i in range(2):
                lights.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "finchain.scf.lightnode",
                            "--genesis",
                            str(d / "genesis.json"),
                            "--url",
                            observers[i].rpc_url,
                            "--status",
                            str(d / f"light{i}.json"),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            admin = suite.load_private_key((d / "users" / "admin.key").read_bytes())
            validators = [s.rpc_url for s in specs if s.role == "validator"]
            figures = await _bench(d, validators, admin, deliveries_n, load_n, rate)
            await asyncio.sleep(2.0)
            heights = [_light_height(d / f"light{i}.json") for i in range(2)]
            figures["light_verified_height_min"] = min(heights)
            figures["nodes"] = len(specs) + len(lights)
            figures["node_types"] = 3
            from finchain.chain.network import read_pids

            figures["peak_rss_mb"] = max(_rss_mb(pid) for pid in read_pids(d).values())
            return figures
        finally:
            for p in lights:
                p.terminate()
            for p in lights:
                p.wait(10)
            network.down(d)


def _light_height(path: Path) -> int:
    import json

    try:
        return int(json.loads(path.read_text())["verified_height"])
    except (OSError, ValueError, KeyError):
        return 0


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


async def _bench(
    d: Path, urls: list[str], admin: Any, deliveries_n: int, load_n: int, rate: int
) -> dict[str, Any]:
    from finchain.chain.sdk import Client
    from finchain.scf.replay import keyring_for, run_replay
    from finchain.scf.scms import CORE, LOGISTICS, load_deliveries, participants

    url = urls[0]
    deliveries = load_deliveries(limit=deliveries_n)
    t0 = time.perf_counter()
    stats = await run_replay(
        url, deliveries, suite="gm", admins=[admin], store_dir=d / "iot", chunk=24, parallel=4
    )
    setup_s = time.perf_counter() - t0
    ring = keyring_for("gm", participants(deliveries))
    names = {p.name for p in participants(deliveries)}
    movers = [x for x in deliveries if x.site in names and x.site != x.vendor]

    # -- pre-sign the load -------------------------------------------------------------------------
    async with Client(url, timeout=120) as client:
        status = await client.status()
        plan: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
        call: tuple[str, str, dict[str, Any]]
        for i in range(load_n):
            kind = i % 10
            if kind < 5 and movers:
                x = movers[i % len(movers)]
                call = ("scf_voucher", "split", {"voucher_id": f"V-{x.line_id}", "amounts": [1]})
                plan.setdefault(x.vendor, []).append(call)
            elif kind < 8 and movers:
                x = movers[i % len(movers)]
                call = (
                    "scf_voucher",
                    "transfer",
                    {"voucher_id": f"V-{x.line_id}", "to": ring[x.site].address, "amount": 1},
                )
                plan.setdefault(x.vendor, []).append(call)
            elif kind == 8:
                x = deliveries[i % len(deliveries)]
                call = (
                    "scf_trade",
                    "create_order",
                    {
                        "order_id": f"LOAD-{status['height']}-{i}",
                        "supplier": ring[x.vendor].address,
                        "amount": 100 + i,
                        "goods": "load",
                    },
                )
                plan.setdefault(CORE.name, []).append(call)
            else:
                call = (
                    "scf_iot",
                    "anchor",
                    {
                        "batch_id": f"LOAD-B-{status['height']}-{i}",
                        "root": os.urandom(32).hex(),
                        "count": 1,
                        "counters": {},
                    },
                )
                plan.setdefault(LOGISTICS.name, []).append(call)
        signed = []
        for party, calls in plan.items():
            signed.extend(await client.account(ring[party].key).transactions(calls, valid_for=900))
        # interleave parties so every block carries the mix
        signed.sort(key=lambda t: t.hash)

        block_seen: dict[int, float] = {}
        tx_height: dict[str, int] = {}

        async def watch() -> None:
            async for blk in client.subscribe("newBlocks", {"txHashes": True}):
                now = time.perf_counter()
                h = int(blk["height"])
                block_seen[h] = now
                for th in blk.get("txHashes", []):
                    tx_height[th] = h

        watcher = asyncio.create_task(watch())
        await asyncio.sleep(0.5)
        sent_at: dict[str, float] = {}
        refused = 0
        chunk = max(50, rate // 10)
        # each chunk goes to the next validator in turn, as clients spread over a consortium
        senders = [Client(u, timeout=120) for u in urls]
        for c in senders:
            await c.__aenter__()
        start = time.perf_counter()
        try:
            for n, i in enumerate(range(0, len(signed), chunk)):
                part = signed[i : i + chunk]
                target = start + i / rate
                delay = target - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                now = time.perf_counter()
                for r in await senders[n % len(senders)].submit(part, chunk=chunk):
                    if "error" in r:
                        refused += 1
                    else:
                        sent_at[r["hash"]] = now
        finally:
            for c in senders:
                await c.__aexit__(None, None, None)
        deadline = time.perf_counter() + 120
        while len([h for h in sent_at if h in tx_height]) < len(sent_at):
            if time.perf_counter() > deadline:
                break
            await asyncio.sleep(0.2)
        watcher.cancel()
        committed = [h for h in sent_at if h in tx_height]
        last = max((block_seen[tx_height[h]] for h in committed), default=start)
        lat = sorted((block_seen[tx_height[h]] - sent_at[h]) * 1000 for h in committed)
        receipts = await client.receipts(committed[:2000])
        ok = sum(1 for r in receipts if r is not None and r["ok"])

    # -- IoT readings through the gateway --
    readings_per_s = await _iot(d, url, ring, 400 if load_n < 10_000 else 2_000)

    return {
        "tps": round(len(committed) / max(1e-9, last - start), 1),
        "latency_avg_ms": round(statistics.fmean(lat), 1) if lat else None,
        "latency_p50_ms": round(lat[len(lat) // 2], 1) if lat else None,
        "latency_p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 1) if lat else None,
        "offered_rate": rate,
        "load_txs": len(signed),
        "committed": len(committed),
        "refused_at_submit": refused,
        "success_rate": round(len(committed) / max(1, len(signed)), 4),
        "receipt_ok_share": round(ok / max(1, len(receipts)), 4),
        "readings_per_s": readings_per_s,
        "setup_deliveries": len(deliveries),
        "setup_s": round(setup_s, 1),
        "setup_vouchers": stats.vouchers_issued,
        "setup_financed": stats.financed,
    }


async def _iot(d: Path, url: str, ring: Any, n: int) -> float:
    from finchain.scf.client import Action, ScfChain
    from finchain.scf.iot.device import Device
    from finchain.scf.iot.gateway import DeviceInfo, Gateway, MemoryDirectory
    from finchain.scf.iot.store import ReadingStore
    from finchain.scf.scms import LOGISTICS
    from finchain.scf.sink import ChainSink

    async with ScfChain.connect(url, ring) as scf:
        devices = [Device.new(f"order:BENCH-{i}", "temperature") for i in range(20)]
        await scf.act_many(
            [
                Action(
                    LOGISTICS.name,
                    "scf_iot",
                    "register_device",
                    {
                        "public_key": dv.public_key.hex(),
                        "kind": dv.kind,
                        "site": "bench",
                        "subject": dv.subject,
                    },
                )
                for dv in devices
            ]
        )
        directory = MemoryDirectory(
            [DeviceInfo(dv.id, dv.public_key, dv.subject) for dv in devices]
        )
        gw = Gateway(
            name="bench",
            directory=directory,
            sink=ChainSink(scf, LOGISTICS.name),
            store=ReadingStore(d / "bench-iot"),
            batch_size=500,
        )
        payloads = [
            devices[i % 20].payload(1_700_000_000_000 + i, {"celsius_milli": -18_000})
            for i in range(n)
        ]
        t0 = time.perf_counter()
        for p in payloads:
            await gw.ingest(p)
        await gw.flush()
        dt = time.perf_counter() - t0
        gw.store.close()
        return round(gw.stats.accepted / dt, 1)
