"""Attested batch verification on real processes: three honest validators and a faulty fourth.

Each client signature is checked by ``f + 1 = 2`` of 4 validators; the other two accept a batch
on two valid attestations. The fourth validator here is played by the test with that
validator's real credentials: it sends a batch holding a forged signature together with its own
attestation (one attestation is not enough, the assigned honest verifier refuses the batch, the
others check it themselves once the attestation timeout passes and drop it), an attestation in
another validator's name, and a valid batch that the honest validators commit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from finchain.chain import network
from finchain.chain.config import MempoolConfig, load_config
from finchain.chain.ledger_port import Ledger
from finchain.chain.net import PeerNetwork
from finchain.chain.net import messages as m
from finchain.chain.proofs import batch_ack_bytes
from finchain.chain.sdk import Client
from finchain.chain.types import Batch, Transaction
from finchain.crypto import get_suite

pytestmark = [pytest.mark.xdist_group("chain-network"), pytest.mark.timeout(240)]

SUITE = get_suite("gm")
HONEST = ("org1-v0", "org2-v1", "org3-v2")
FAULTY = "org4-v3"  # replica 3: its batches are checked by itself and replica 0


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    d = tmp_path_factory.mktemp("attested") / "net"
    specs = network.init_network(
        d,
        orgs=4,
        validators=4,
        observers=0,
        suite="gm",
        mempool=MempoolConfig(batch_interval_ms=10, attest_timeout_ms=800),
        consensus_options={"base_timeout_ms": 400, "max_timeout_ms": 2000},
    )
    urls = {s.name: s.rpc_url for s in specs}
    try:
        for name in HONEST:
            network.start_node(d, name)
        network.wait_healthy([s for s in specs if s.name in HONEST], timeout=60)
        yield d, urls
    finally:
        network.down(d)


def _metric(url: str, name: str) -> float:
    text = httpx.get(url + "/metrics").text
    return sum(float(x.split()[-1]) for x in text.splitlines() if x.startswith(name))


async def _transfer(c: Client, key, to: bytes, amount: int) -> Transaction:  # type: ignore[no-untyped-def]
    (tx,) = await c.account(key).transactions(
        [("transfer", "transfer", {"to": to, "amount": amount})]
    )
    return tx


def test_faulty_validator_cannot_get_a_forged_batch_attested(
    net: tuple[Path, dict[str, str]],
) -> None:
    d, urls = net
    admin = SUITE.load_private_key((d / "users" / "admin.key").read_bytes())
    carol, dave, erin = (SUITE.address(SUITE.generate_key().public_key()) for _ in range(3))
    attested_before = {n: _metric(urls[n], "finchain_batches_attested_total") for n in HONEST}

    async def go() -> None:
        ledger = Ledger(load_config(network.node_config_path(d, FAULTY)))
        faulty = PeerNetwork(
            host="127.0.0.1",
            port=load_config(network.node_config_path(d, FAULTY)).p2p_port,
            credentials=ledger.credentials,
            verifier=ledger.peer_verifier,
            chain_id=ledger.chain_id,
            dial={},
            on_message=lambda peer, data: None,
        )
        await faulty.start()
        try:
            deadline = time.monotonic() + 30
            while len(faulty.connected()) < 3:  # the honest validators dial it
                assert time.monotonic() < deadline, faulty.connected()
                await asyncio.sleep(0.1)

            def ack(digest: bytes, replica: int = 3) -> bytes:
                sig = SUITE.sign(ledger.key, batch_ack_bytes(ledger.chain_id, digest))
                return m.pack(m.BATCH_ACK, digest, replica, sig)

            async with Client(urls["org1-v0"]) as c:
                good = await _transfer(c, admin, carol, 5)
                decoy = await _transfer(c, admin, erin, 1)
                forged = Transaction.from_list(SUITE, [*good.to_list()[:-1], decoy.signature])
                bad_batch = Batch([forged], SUITE)
                valid = await _transfer(c, admin, dave, 7)
                valid_batch = Batch([valid], SUITE)
                for batch in (bad_batch, valid_batch):
                    faulty.broadcast(m.pack(m.BATCH, batch.encode()), list(HONEST))
                    faulty.broadcast(ack(batch.digest), list(HONEST))
                # an attestation in replica 0's name, signed by the faulty node: not first-hand
                faulty.broadcast(ack(bad_batch.digest, replica=0), list(HONEST))

                # the valid batch: replica 0 checks and attests it, 1 and 2 take it on 2 acks
                (receipt,) = await c.wait_receipts([valid.hash], timeout=60)
                assert receipt is not None and receipt["ok"]
                # honest traffic keeps committing past the attestation timeout
                await asyncio.sleep(1.5)
                later = [await _transfer(c, admin, dave, 1) for _ in range(3)]
                receipts = await c.submit_and_wait(later, timeout=60)
                assert all(r["ok"] for r in receipts)
            for name in HONEST:
                async with Client(urls[name]) as cn:
                    assert await cn.receipt(forged.hash) is None  # never ordered anywhere
                    assert await cn.call("transfer", "balance", {"account": carol}) == 0
                    assert await cn.call("transfer", "balance", {"account": dave}) == 10
        finally:
            await faulty.stop()
            ledger.close()

    asyncio.run(go())
    # replicas 1 and 2 took the valid batch on attestations, and checked the forged one
    # themselves when its second attestation never came
    for name in ("org2-v1", "org3-v2"):
        assert _metric(urls[name], "finchain_batches_attested_total") > attested_before[name]
        assert _metric(urls[name], 'finchain_batches_checked_total{why="late"}') >= 1
        log = (d / "nodes" / name / "data" / "node.log").read_text()
        assert "batch with invalid signatures refused" in log
    log0 = (d / "nodes" / "org1-v0" / "data" / "node.log").read_text()
    assert "batch with invalid signatures refused" in log0  # the assigned verifier refused it


def test_honest_batches_are_checked_by_two_validators_only(
    net: tuple[Path, dict[str, str]],
) -> None:
    d, urls = net
    admin = SUITE.load_private_key((d / "users" / "admin.key").read_bytes())
    frank = SUITE.address(SUITE.generate_key().public_key())
    before = {
        n: (
            _metric(urls[n], "finchain_batches_attested_total"),
            _metric(urls[n], 'finchain_batches_checked_total{why="assigned"}'),
        )
        for n in HONEST
    }

    async def go() -> None:
        async with Client(urls["org2-v1"]) as c:  # batches from replica 1: checked by 1 and 2
            txs = [await _transfer(c, admin, frank, 1) for _ in range(20)]
            receipts = await c.submit_and_wait(txs, timeout=60)
            assert all(r["ok"] for r in receipts)

    asyncio.run(go())
    after = {
        n: (
            _metric(urls[n], "finchain_batches_attested_total"),
            _metric(urls[n], 'finchain_batches_checked_total{why="assigned"}'),
        )
        for n in HONEST
    }
    # replica 0 is not among replica 1's verifiers: it took those batches on attestations
    assert after["org1-v0"][0] > before["org1-v0"][0]
    assert after["org1-v0"][1] == before["org1-v0"][1]
    # replica 2 is: it checked them itself
    assert after["org3-v2"][1] > before["org3-v2"][1]
