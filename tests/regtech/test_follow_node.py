"""The watcher following a real finchain node (one validator process on loopback)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from finchain.chain import network
from finchain.chain.sdk import Client
from finchain.crypto import get_suite
from finchain.regtech.chainwatch.engine import Watcher
from finchain.regtech.chainwatch.follow import follow

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("chain-network"), pytest.mark.timeout(240)]
SUITE = get_suite("gm")


def test_fan_out_on_a_live_node_is_alerted(tmp_path: Path) -> None:
    d = tmp_path / "net"
    specs = network.init_network(d, orgs=1, validators=1, observers=0, suite="gm")
    admin = SUITE.load_private_key((d / "users" / "admin.key").read_bytes())
    network.up(d, timeout=60)
    try:
        url = specs[0].rpc_url
        found: list = []

        async def go() -> None:
            done = asyncio.Event()
            w = Watcher()

            def on_alerts(alerts: list) -> None:
                found.extend(alerts)
                done.set()

            task = asyncio.create_task(follow(url, w, on_alerts=on_alerts))
            await asyncio.sleep(1.0)
            payees = [SUITE.address(SUITE.generate_key().public_key()) for _ in range(5)]
            async with Client(url) as c:
                txs = await c.account(admin).transactions(
                    [
                        ("transfer", "transfer", {"to": p, "amount": 15_000 + i})
                        for i, p in enumerate(payees)
                    ]
                )
                receipts = await c.submit_and_wait(txs, timeout=60)
                assert all(r["ok"] for r in receipts)
            await asyncio.wait_for(done.wait(), timeout=60)
            task.cancel()
            assert w.transfers == 5

        asyncio.run(go())
        assert {a.typology for a in found} == {"fan_out"}
        assert len(found[0].edges) == 5
        assert found[0].latency_ms is not None
    finally:
        network.down(d)
