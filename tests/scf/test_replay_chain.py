"""The SCMS replay on a real local network (4 validators + 1 observer, separate processes)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from finchain.chain import network
from finchain.chain.config import MempoolConfig
from finchain.crypto import get_suite
from finchain.scf.client import ScfChain
from finchain.scf.replay import keyring_for, run_replay
from finchain.scf.scms import load_deliveries, participants

pytestmark = [pytest.mark.xdist_group("chain-network"), pytest.mark.timeout(400)]


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    d = tmp_path_factory.mktemp("scfchain") / "net"
    specs = network.init_network(
        d,
        orgs=2,  # governance needs both organisations' admins to install SCF
        validators=4,
        observers=1,
        suite="gm",
        mempool=MempoolConfig(batch_interval_ms=10),
        consensus_options={"base_timeout_ms": 400, "max_timeout_ms": 3000},
    )
    try:
        network.up(d, timeout=90)
        yield d, specs[0].rpc_url
    finally:
        network.down(d)


def test_scms_replay_end_to_end(chain: tuple[Path, str], tmp_path: Path) -> None:
    directory, url = chain
    suite = get_suite("gm")
    admins = [
        suite.load_private_key((directory / "users" / name).read_bytes())
        for name in ("admin.key", "org2-admin.key")
    ]
    deliveries = load_deliveries(limit=24)
    stats = asyncio.run(
        run_replay(url, deliveries, suite="gm", admins=admins, store_dir=tmp_path / "iot", chunk=12)
    )
    assert stats.orders == 24
    # the only refusals are vouchers on orders that a proven cold-chain excursion flagged
    assert all("order is flagged: temperature" in r for r in stats.refusals)
    flagged = len(stats.refusals)
    assert flagged <= stats.excursions
    assert stats.deliveries_confirmed == 24
    assert stats.vouchers_issued + flagged == 24
    assert stats.financed + stats.declined + stats.blocked == stats.vouchers_issued

    async def check() -> None:
        ring = keyring_for("gm", participants(deliveries))
        async with ScfChain.connect(url, ring) as scf:
            financed = 0
            for d in deliveries:
                tree = await scf.view("scf_voucher", "tree", root_id=f"V-{d.line_id}")
                order = await scf.view("scf_trade", "order", order_id=d.order_id)
                if not tree:
                    assert order["flags"], d.order_id  # blocked by an excursion
                    continue
                root = tree[0]
                assert root["face"] == d.value_cents
                live = [v for v in tree if v["status"] not in ("RETURNED", "REJECTED")]
                assert sum(v["available"] + v["settled"] for v in live) == root["face"]
                financed += sum(1 for v in tree if v["status"] == "FINANCED")
                assert order["deliveries"][0]["source"] == "device"
            assert financed == stats.financed
        # resuming skips what is on chain already
        again = await run_replay(
            url, deliveries, suite="gm", admins=admins, store_dir=tmp_path / "iot2", chunk=12
        )
        assert again.skipped == 24 and again.orders == 0

    asyncio.run(check())


def test_rest_api_acts_with_member_keys(chain: tuple[Path, str], tmp_path: Path) -> None:
    import httpx

    from finchain.scf.api import create_app
    from finchain.scf.scms import REGULATOR

    directory, url = chain
    suite = get_suite("gm")
    admins = [
        suite.load_private_key(p.read_bytes()) for p in sorted((directory / "users").glob("*.key"))
    ]
    deliveries = load_deliveries(limit=30)[24:30]
    asyncio.run(
        run_replay(url, deliveries, suite="gm", admins=admins, store_dir=tmp_path / "iot", chunk=6)
    )
    ring = keyring_for("gm", participants(deliveries))
    d = deliveries[0]
    outsider = next(
        p.name
        for p in participants(deliveries)
        if p.tier == 1 and p.name != d.vendor and p.name != d.site
    )

    async def go() -> None:
        scf = ScfChain.connect(url, ring)
        app = create_app(scf)
        token = {name: t for t, name in app.state.tokens.items()}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://scf") as http:

            def auth(name: str) -> dict[str, str]:
                return {"Authorization": f"Bearer {token[name]}"}

            assert (await http.get(f"/v1/vouchers/V-{d.line_id}")).status_code == 401
            r = await http.get(f"/v1/vouchers/V-{d.line_id}", headers=auth(d.vendor))
            assert r.status_code == 200
            voucher = r.json()
            assert (
                await http.get(f"/v1/vouchers/V-{d.line_id}", headers=auth(outsider))
            ).status_code == 403
            assert (
                await http.get(f"/v1/vouchers/V-{d.line_id}", headers=auth(REGULATOR.name))
            ).status_code == 200
            too_much = voucher["available"] + 1
            r = await http.post(
                f"/v1/vouchers/V-{d.line_id}/split",
                json={"amounts": [too_much]},
                headers=auth(d.vendor),
            )
            assert r.status_code == 409 and "insufficient balance" in r.json()["detail"]
            r = await http.post(
                f"/v1/vouchers/V-{d.line_id}/split", json={"amounts": [-5]}, headers=auth(d.vendor)
            )
            assert r.status_code in (409, 422)
            after = (await http.get(f"/v1/vouchers/V-{d.line_id}", headers=auth(d.vendor))).json()
            assert after["available"] == voucher["available"]
            if voucher["available"] >= 2 and voucher["status"] == "HELD":
                r = await http.post(
                    f"/v1/vouchers/V-{d.line_id}/split",
                    json={"amounts": [1]},
                    headers=auth(d.vendor),
                )
                assert r.status_code == 200, r.text
                assert (
                    await http.get(f"/v1/vouchers/V-{d.line_id}", headers=auth(d.vendor))
                ).json()["available"] == voucher["available"] - 1
        await scf.client.close()

    asyncio.run(go())
