"""A validator's node against a faulty peer, without processes (the network is never started).

* a BATCH_ACK with ill-typed fields is refused (an int where the digest goes made ``bytes(n)``
  allocate ``n`` bytes, a list of ints became a digest);
* a batch pooled unverified whose late check fails stops being pending in the store (it was
  restored and checked again at every restart) but stays fetchable, and is not pooled again
  when re-sent;
* block sync does not ask again, round after round, a peer that claims a height it does not
  serve (every round cost a whole answer timeout with execution waiting).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import finchain.chain.node as node_mod
from finchain.chain import network
from finchain.chain.config import load_config
from finchain.chain.net import messages as m
from finchain.chain.types import Batch, Transaction
from finchain.crypto import get_suite

pytestmark = [pytest.mark.xdist_group("chain-sync"), pytest.mark.timeout(120)]

SUITE = get_suite("gm")


@pytest.fixture
def node(tmp_path: Path) -> Iterator[node_mod.Node]:
    d = tmp_path / "net"
    specs = network.init_network(d, orgs=4, validators=4, observers=0, suite="gm")
    n = node_mod.Node(load_config(network.node_config_path(d, specs[0].name)))
    n.admin_key = SUITE.load_private_key((d / "users" / "admin.key").read_bytes())  # type: ignore[attr-defined]
    try:
        yield n
    finally:
        n.verify_pool.shutdown()
        n.peer_verify_pool.shutdown()
        n.exec_pool.shutdown()
        n.sync_pool.shutdown()
        n.ledger.close()


def test_ill_typed_batch_ack_is_refused(node: node_mod.Node) -> None:
    peer = node.validators[1]
    for fields in (
        (2**63, 1, b"s"),  # bytes(2**63): OverflowError out of the handler
        ([7] * 32, 1, b"s"),  # a list of ints is not a digest
        (b"\x07" * 32, 1.0, b"s"),  # nor is a float a replica index
        (b"\x07" * 32, 1, "s"),
        (b"\x07" * 32, 1),
    ):
        node._on_peer_message(peer, m.pack(m.BATCH_ACK, *fields))
    assert not node._acks
    node._on_peer_message(peer, m.pack(m.BATCH_ACK, b"\x07" * 32, 1, b"s"))
    assert node._acks == {b"\x07" * 32: {1: b"s"}}  # a well-formed one is collected


def test_batch_refused_by_the_late_check_is_no_longer_pending(node: node_mod.Node) -> None:
    key = node.admin_key  # type: ignore[attr-defined]

    def tx(amount: int) -> Transaction:
        return Transaction.create(
            SUITE,
            key,
            contract="transfer",
            method="transfer",
            args={"to": b"\x01" * 20, "amount": amount},
            block_limit=10,
            chain_id=node.ledger.chain_id,
        )

    forged = Transaction.from_list(SUITE, [*tx(5).to_list()[:-1], tx(6).signature])
    bad, good = Batch([forged], SUITE), Batch([tx(7)], SUITE)
    for batch in (bad, good):  # a non-verifier pools and stores a peer's batch unchecked
        node.mempool.add_unverified_batch(batch)
        node.ledger.put_batches([batch])

    async def go() -> None:
        node._loop = asyncio.get_running_loop()
        await node._check_late(bad)
        await node._check_late(good)

    asyncio.run(go())
    assert not node.mempool.has_batch(bad.digest) and node.mempool.is_verified(good.digest)
    assert [b.digest for b in node.ledger.pending_batches()] == [good.digest]
    assert node.ledger.get_batch(bad.digest) is not None  # a block may still name it

    async def resend() -> None:  # the faulty peer sends the refused batch again
        node._on_peer_message(
            node.validators[1], m.pack(m.BATCH, bad.encode())
        )  # not ours to check
        await asyncio.sleep(0)
        await asyncio.gather(*node._tasks)

    asyncio.run(resend())
    assert not node.mempool.has_batch(bad.digest)
    assert [b.digest for b in node.ledger.pending_batches()] == [good.digest]


class _SilentNet:
    """A peer network whose peers never answer; it notes what was sent to whom."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[Any]]] = []

    def send(self, peer: str, data: bytes) -> None:
        self.sent.append((peer, m.unpack(data)))

    def connected(self) -> list[str]:
        return []


def test_sync_does_not_keep_asking_a_peer_that_serves_nothing(
    node: node_mod.Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(node_mod, "SYNC_TIMEOUT_S", 0.05)
    net = _SilentNet()
    node.net = net  # type: ignore[assignment]
    liar = node.validators[3]
    node._peer_heights[liar] = 10**9

    async def go() -> list[bool]:
        node._loop = asyncio.get_running_loop()
        return [await node._sync_once() for _ in range(3)]

    assert asyncio.run(go()) == [False, False, False]
    asked = [p for p, msg in net.sent if msg[0] == m.SYNC_REQ]
    assert asked == [liar]  # asked once, then left alone for a while


class _QuietNet(_SilentNet):
    def broadcast(self, data: bytes, to: Any = None) -> None:
        pass


def test_forged_copy_refused_in_a_block_leaves_the_client_transaction_pending(
    node: node_mod.Node,
) -> None:
    """A faulty leader gets its forged copy of a pending client transaction ordered: every node
    rejects it (bad signature), and the client's valid one must stay pending, not be forgotten
    as if it had committed."""
    key = node.admin_key  # type: ignore[attr-defined]
    honest = Transaction.create(
        SUITE,
        key,
        contract="transfer",
        method="transfer",
        args={"to": b"\x02" * 20, "amount": 3},
        block_limit=10,
        chain_id=node.ledger.chain_id,
    )
    decoy = Transaction.create(
        SUITE, key, contract="transfer", method="transfer", block_limit=10, chain_id="x"
    )
    forged = Transaction.from_list(SUITE, [*honest.to_list()[:-1], decoy.signature])
    bad = Batch([forged], SUITE)
    assert asyncio.run(node.mempool.admit([honest.encode()], head=0))[0].ok
    node.mempool.add_unverified_batch(bad)  # it reached this node too
    node.net = _QuietNet()  # type: ignore[assignment]
    payload = node_mod.Payload(3, 0, (bad.digest,))
    result = node.ledger.execute(1, b"\x09" * 32, payload, b"", {bad.digest: bad})
    assert result.receipts[0].error == "invalid signature"
    node._after_block(result)
    assert node.mempool.loose == 1 and len(node.mempool) == 1
    batch = node.mempool.cut_batch()
    assert batch is not None and batch.transactions == [honest]
