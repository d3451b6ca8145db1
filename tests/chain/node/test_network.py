"""A real local network: 4 validators and an observer as separate processes on loopback.

Covers the issue's "done when": transfers through the SDK commit, the light client proves them,
killing a validator leaves the chain committing, the restarted validator catches up without
losing a committed transaction, a peer without a consortium certificate is refused, and a full
mempool answers with a clear error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from finchain.chain import network
from finchain.chain.config import MempoolConfig
from finchain.chain.light import LightClient
from finchain.chain.rpc.jsonrpc import MEMPOOL_FULL, RpcError
from finchain.chain.sdk import Client
from finchain.crypto import get_suite

pytestmark = [pytest.mark.xdist_group("chain-network"), pytest.mark.timeout(240)]

SUITE = get_suite("gm")


class Net:
    def __init__(self, directory: Path, specs: list[network.NodeSpec]) -> None:
        self.dir = directory
        self.specs = {s.name: s for s in specs}
        self.validators = [s for s in specs if s.role == "validator"]
        self.observer = next(s for s in specs if s.role == "observer")
        self.admin = SUITE.load_private_key((directory / "users" / "admin.key").read_bytes())

    def url(self, name: str) -> str:
        return self.specs[name].rpc_url


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    d = tmp_path_factory.mktemp("chain") / "net"
    specs = network.init_network(
        d,
        orgs=2,
        validators=4,
        observers=1,
        suite="gm",
        mempool=MempoolConfig(capacity=600, batch_interval_ms=10),
        consensus_options={"base_timeout_ms": 400, "max_timeout_ms": 3000},
    )
    try:
        network.up(d, timeout=60)
        yield Net(d, specs)
    finally:
        network.down(d)


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


async def _transfers(c: Client, key, n: int, to: bytes, amount: int = 3):  # type: ignore[no-untyped-def]
    return await c.account(key).transactions(
        [("transfer", "transfer", {"to": to, "amount": amount})] * n
    )


def test_transfers_commit_and_light_client_proves(net: Net) -> None:
    bob = SUITE.address(SUITE.generate_key().public_key())

    async def go() -> None:
        v0 = net.validators[0]
        async with Client(v0.rpc_url) as c:
            txs = await _transfers(c, net.admin, 12, bob)
            receipts = await c.submit_and_wait(txs, timeout=60)
            assert all(r["ok"] for r in receipts)
            assert await c.call("transfer", "balance", {"account": bob}) == 36
        # the observer follows by block sync and serves reads and proofs
        async with Client(net.observer.rpc_url) as o:
            await o.wait_receipts([t.hash for t in txs], timeout=60)
            assert await o.call("transfer", "balance", {"account": bob}) == 36
            light = LightClient.from_genesis_file(net.dir / "genesis.json")
            for tx in txs[:3]:
                proved = await light.prove(o, tx.hash)
                assert proved.transaction.hash == tx.hash and proved.receipt.ok
            # a header whose receipt root was tampered with is refused
            header = next(iter(light.trusted.values()))
            from dataclasses import replace

            from finchain.chain.light import LightClientError
            from finchain.chain.proofs import HeaderCertificate
            from finchain.chain.rpc.methods import unhex

            raw = await o.header_certificate(header.height)
            cert = HeaderCertificate(tuple((int(i), unhex(s)) for i, s in raw["signatures"]))
            with pytest.raises(LightClientError):
                LightClient.from_genesis_file(net.dir / "genesis.json").verify_header(
                    replace(header, receipt_root=b"\x00" * 32), cert
                )

    run(go())


def test_metrics_health_and_block_subscription(net: Net) -> None:
    async def go() -> None:
        v1 = net.validators[1]
        async with Client(v1.rpc_url) as c:
            start = await c.height()
            seen = []
            async for block in c.subscribe("newBlocks"):
                seen.append(block["height"])
                if len(seen) == 2:
                    break
            assert seen[1] == seen[0] + 1 and seen[0] > start - 5
            # contract events with a filter, delivered once the block commits
            bob = SUITE.address(SUITE.generate_key().public_key())

            async def first_event() -> dict:  # type: ignore[type-arg]
                async for ev in c.subscribe(
                    "events", {"contract": "transfer", "event": "Transfer"}
                ):
                    if ev["data"]["to"] == {"$hex": bob.hex()}:
                        return ev
                raise AssertionError("subscription ended")

            waiter = asyncio.ensure_future(first_event())
            await asyncio.sleep(0.5)
            (tx,) = await _transfers(c, net.admin, 1, bob, 4)
            await c.submit_and_wait([tx], timeout=60)
            ev = await asyncio.wait_for(waiter, 30)
            assert ev["txHash"] == "0x" + tx.hash.hex() and ev["data"]["amount"] == 4
            proved = await c.prove(tx.hash, genesis=net.dir / "genesis.json")
            assert proved.receipt.ok
            block = await c.block(seen[0])
            assert block["hash"].startswith("0x") and block["height"] == seen[0]
            with pytest.raises(RpcError, match="no block at height"):
                await c.block(10**9)
        async with httpx.AsyncClient() as h:
            text = (await h.get(v1.rpc_url + "/metrics")).text
            for name in (
                "finchain_height",
                "finchain_committed_tps",
                "finchain_mempool_size",
                "finchain_view_changes_total",
                "finchain_peers",
                "finchain_commit_latency_seconds_bucket",
            ):
                assert name in text
            assert (await h.get(v1.rpc_url + "/health")).json()["ok"] is True

    run(go())


def test_peer_without_consortium_certificate_is_refused(net: Net, tmp_path: Path) -> None:
    from finchain.chain.net import PeerAddress, PeerNetwork
    from finchain.chain.net.handshake import Credentials
    from finchain.chain.net.identity import ConsortiumVerifier, encode_bundle
    from finchain.crypto.ca import CertificateAuthority, TrustStore

    rogue_ca = CertificateAuthority.create(tmp_path / "rogue", org="org1", suite="gm")
    key = SUITE.generate_key()
    cert = rogue_ca.issue(org="org1", role="node", name="org1-v0", public_key=key.public_key())
    target = net.validators[2]

    def refused() -> float:
        text = httpx.get(target.rpc_url + "/metrics").text
        line = next(x for x in text.splitlines() if x.startswith("finchain_peers_refused "))
        return float(line.split()[1])

    before = refused()

    async def go() -> list[str]:
        rogue = PeerNetwork(
            host="127.0.0.1",
            port=0,
            credentials=Credentials("org1-v0", encode_bundle(cert), key, SUITE),
            verifier=ConsortiumVerifier(TrustStore([rogue_ca.certificate]), suite="gm"),
            chain_id="finchain-local",
            dial={target.name: PeerAddress("127.0.0.1", target.p2p_port)},
            on_message=lambda p, d: None,
        )
        await rogue.start()
        deadline = time.monotonic() + 20
        while refused() <= before and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        connected = rogue.connected()
        await rogue.stop()
        return connected

    assert run(go()) == []
    assert refused() > before
    log = (net.dir / "nodes" / target.name / "data" / "node.log").read_text()
    assert "refused peer" in log and "not trusted" in log


def test_full_mempool_answers_with_a_clear_error(net: Net) -> None:
    async def go() -> None:
        async with Client(net.validators[0].rpc_url) as c:
            txs = await _transfers(c, net.admin, 3000, b"\x05" * 20, 1)
            chunks = [txs[i : i + 250] for i in range(0, len(txs), 250)]
            answers = await asyncio.gather(*(c.submit(ch) for ch in chunks), return_exceptions=True)
            accepted = [
                r["hash"] for a in answers if isinstance(a, list) for r in a if "error" not in r
            ]
            errors = [a for a in answers if isinstance(a, BaseException)]
            assert errors, "the mempool never filled"
            error = errors[0]
            assert isinstance(error, RpcError), error
            assert error.code == MEMPOOL_FULL
            assert "mempool full" in error.message and "retry later" in error.message
            # nothing accepted is dropped: every admitted transaction commits
            receipts = await c.wait_receipts(accepted, timeout=120)
            assert all(r["ok"] for r in receipts)

    run(go())


def test_killed_validator_chain_continues_then_catches_up(net: Net) -> None:
    victim = net.validators[3]
    v0 = net.validators[0]

    async def submit(n: int) -> list[str]:
        async with Client(v0.rpc_url) as c:
            txs = await _transfers(c, net.admin, n, b"\x07" * 20, 2)
            receipts = await c.submit_and_wait(txs, timeout=90)
            assert all(r["ok"] for r in receipts)
            return [r["txHash"] for r in receipts]

    before = run(submit(20))
    assert network.stop_node(net.dir, victim.name, kill=True)
    during = run(submit(20))  # three of four validators keep committing
    network.start_node(net.dir, victim.name)
    network.wait_healthy([victim], timeout=60)

    async def caught_up() -> None:
        async with Client(v0.rpc_url) as c0, Client(victim.rpc_url) as cv:
            target = await c0.height()
            deadline = time.monotonic() + 90
            while await cv.height() < target:
                assert time.monotonic() < deadline, "restarted validator did not catch up"
                await asyncio.sleep(0.2)
            for h in before + during:  # no committed transaction lost
                r = await cv.receipt(h)
                assert r is not None and r["ok"]
            assert await cv.call("transfer", "balance", {"account": b"\x07" * 20}) == 80

    run(caught_up())
    after = run(submit(5))  # the network with the rejoined validator keeps going
    assert len(after) == 5


def test_cli_status_tx_send_and_block_show(net: Net, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from finchain.cli.main import app

    runner = CliRunner()
    status_json = tmp_path / "status.json"
    res = runner.invoke(app, ["chain", "status", str(net.dir), "--json", str(status_json)])
    assert res.exit_code == 0, res.output
    rows = json.loads(status_json.read_text())
    assert {r["role"] for r in rows} == {"validator", "observer"}
    assert all(isinstance(r["height"], int) for r in rows)

    url = net.validators[1].rpc_url
    receipt_json = tmp_path / "receipt.json"
    res = runner.invoke(
        app,
        [
            "tx",
            "send",
            "--url",
            url,
            "--key",
            str(net.dir / "users" / "admin.key"),
            "--to",
            "0x" + "09" * 20,
            "--amount",
            "11",
            "--json",
            str(receipt_json),
        ],
    )
    assert res.exit_code == 0, res.output
    receipt = json.loads(receipt_json.read_text())
    assert receipt["ok"] and receipt["events"][0]["event"] == "Transfer"

    block_json = tmp_path / "block.json"
    res = runner.invoke(
        app, ["block", "show", str(receipt["height"]), "--url", url, "--json", str(block_json)]
    )
    assert res.exit_code == 0, res.output
    assert receipt["txHash"] in json.loads(block_json.read_text())["transactions"]
    res = runner.invoke(app, ["block", "show", "999999999", "--url", url])
    assert res.exit_code != 0
