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


def test_faulty_leader_naming_a_batch_nobody_holds_gets_no_votes(
    net: tuple[Path, dict[str, str]],
) -> None:
    """The fourth validator runs its real HotStuff replica here, but whenever it leads it
    proposes a digest of a batch that exists nowhere. Honest validators must not vote for it
    (had they committed it, every one of them would wait for that batch for ever): the chain
    goes on under the honest leaders and no committed block names the phantom batch."""
    from finchain.chain.consensus.base import RequestPayload, Send, SetTimer
    from finchain.chain.types import Payload

    d, urls = net
    phantom = bytes(32 * [0xAB])
    proposed: list[int] = []

    async def go() -> None:
        cfg = load_config(network.node_config_path(d, FAULTY))
        ledger = Ledger(cfg)
        names = list(ledger.validator_names)
        inst = ledger.make_consensus(cfg, names.index(FAULTY))
        loop = asyncio.get_running_loop()
        t0 = time.monotonic()
        timers: dict[object, asyncio.TimerHandle] = {}
        faulty: PeerNetwork

        def now() -> int:
            return int((time.monotonic() - t0) * 1000)

        def apply(actions: list) -> None:  # type: ignore[type-arg]
            for a in actions:
                if isinstance(a, Send):
                    data = m.pack(m.CONSENSUS, inst.encode_message(a.message))
                    to = [n for n in names if n != FAULTY] if a.to is None else [names[a.to]]
                    faulty.broadcast(data, to)
                elif isinstance(a, SetTimer):
                    old = timers.pop(a.token, None)
                    if old is not None:
                        old.cancel()
                    delay = max(0.0, (a.at - now()) / 1000)
                    timers[a.token] = loop.call_later(
                        delay, lambda tok=a.token: apply(inst.on_timer(tok, now()))
                    )
                elif isinstance(a, RequestPayload):
                    proposed.append(a.view)
                    bogus = Payload(names.index(FAULTY), int(time.time() * 1000), (phantom,))
                    apply(inst.on_payload(a.view, bogus.encode(), now()))

        def on_message(peer: str, data: bytes) -> None:
            msg = m.unpack(data)
            if msg[0] == m.CONSENSUS and peer in names:
                apply(inst.on_message(names.index(peer), inst.decode_message(msg[1]), now()))

        faulty = PeerNetwork(
            host="127.0.0.1",
            port=cfg.p2p_port,
            credentials=ledger.credentials,
            verifier=ledger.peer_verifier,
            chain_id=ledger.chain_id,
            dial={},
            on_message=on_message,
        )
        await faulty.start()
        try:
            deadline = time.monotonic() + 30
            while len(faulty.connected()) < 3:
                assert time.monotonic() < deadline, faulty.connected()
                await asyncio.sleep(0.1)
            apply(inst.on_start(now()))
            async with Client(urls["org1-v0"]) as c:
                start = await c.height()
                deadline = time.monotonic() + 90
                while not proposed or await c.height() < start + 12:
                    assert time.monotonic() < deadline, (proposed, await c.height(), start)
                    await asyncio.sleep(0.2)
                top = await c.height()
                for h in range(start + 1, top + 1):
                    header = await c.header(h)
                    assert "0x" + phantom.hex() not in [str(x) for x in header["batchDigests"]]
        finally:
            for handle in timers.values():
                handle.cancel()
            await faulty.stop()
            ledger.close()

    asyncio.run(go())
    assert proposed, "the faulty replica never led a round"
    logs = [(d / "nodes" / n / "data" / "node.log").read_text() for n in HONEST]
    assert any("cannot get: not voting" in log for log in logs)
