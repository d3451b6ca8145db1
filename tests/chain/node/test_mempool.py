"""Mempool admission, back-pressure and batching (real signatures, no network)."""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finchain.chain.config import MempoolConfig
from finchain.chain.mempool import (
    BAD_SIGNATURE,
    BLOCK_LIMIT,
    DUPLICATE,
    MALFORMED,
    UNKNOWN_CONTRACT,
    WRONG_CHAIN,
    Mempool,
    MempoolFull,
)
from finchain.chain.types import Batch, Transaction
from finchain.crypto import get_suite

SUITE = get_suite("intl")
KEY = SUITE.generate_key()


def tx(i: int, *, limit: int = 50, chain: str = "c") -> Transaction:
    return Transaction.create(
        SUITE,
        KEY,
        contract="transfer",
        method="transfer",
        args={"n": i},
        block_limit=limit,
        chain_id=chain,
    )


def test_admission_checks() -> None:
    pool = Mempool(suite=SUITE, chain_id="c", capacity=100)
    good = tx(1)
    forged = Transaction.from_list(SUITE, [*tx(2).to_list()[:-1], tx(3).signature])
    batch = [
        good.encode(),
        good.encode(),
        forged.encode(),
        tx(4, limit=10).encode(),
        tx(5, chain="other").encode(),
        b"\x01\x02",
        tx(6, limit=10_000).encode(),
    ]
    res = asyncio.run(pool.admit(batch, head=10))
    assert [r.reason for r in res] == [
        None,
        DUPLICATE,
        BAD_SIGNATURE,
        BLOCK_LIMIT,
        WRONG_CHAIN,
        MALFORMED,
        BLOCK_LIMIT,
    ]
    assert len(pool) == 1
    # committed transactions are duplicates too
    old = tx(7)
    committed = {old.hash}
    pool2 = Mempool(suite=SUITE, chain_id="c", capacity=100, is_committed=committed.__contains__)
    assert asyncio.run(pool2.admit([old.encode()], head=0))[0].reason == DUPLICATE


def test_a_contract_the_chain_cannot_run_is_refused_at_admission() -> None:
    """Execution would reject it without a receipt; admission says why instead."""

    def refusal(contract: str) -> str | None:
        return None if contract == "transfer" else f"no contract named {contract!r}"

    pool = Mempool(suite=SUITE, chain_id="c", capacity=100, contract_refusal=refusal)
    other = Transaction.create(
        SUITE, KEY, contract="nosuch", method="m", block_limit=50, chain_id="c"
    )
    res = asyncio.run(pool.admit([tx(1).encode(), other.encode()], head=10))
    assert [r.reason for r in res] == [None, UNKNOWN_CONTRACT]
    assert "nosuch" in res[1].message and len(pool) == 1


def test_full_pool_refuses_whole_request_and_takes_nothing() -> None:
    pool = Mempool(suite=SUITE, chain_id="c", capacity=5)
    asyncio.run(pool.admit([tx(i).encode() for i in range(4)], head=0))
    with pytest.raises(MempoolFull, match="mempool full: 4 of 5"):
        asyncio.run(pool.admit([tx(i).encode() for i in range(10, 13)], head=0))
    assert len(pool) == 4
    # after a commit frees room the same request is taken
    b = pool.cut_batch()
    assert b is not None and len(b) == 4
    pool.on_committed([b.digest], [t.hash for t in b.transactions])
    assert len(pool) == 0
    assert all(
        r.ok for r in asyncio.run(pool.admit([tx(i).encode() for i in range(10, 13)], head=0))
    )


def test_peer_batch_with_a_forged_signature_is_refused() -> None:
    pool = Mempool(suite=SUITE, chain_id="c", capacity=100)
    forged = Transaction.from_list(SUITE, [*tx(2).to_list()[:-1], tx(3).signature])
    assert not asyncio.run(pool.add_peer_batch(Batch([tx(1), forged], SUITE)))
    good = Batch([tx(1), tx(2)], SUITE)
    assert asyncio.run(pool.add_peer_batch(good))
    assert pool.proposal() == [good.digest]
    assert pool.proposal() == []  # not re-proposed right away


def test_batch_proposed_before_it_arrived_is_held_back() -> None:
    pool = Mempool(suite=SUITE, chain_id="c", capacity=100)
    early = Batch([tx(9), tx(10)], SUITE)
    pool.mark_proposed([early.digest])  # another leader's proposal names it before it is here
    assert asyncio.run(pool.add_peer_batch(early))
    assert pool.has_batch(early.digest)
    assert pool.proposal() == []  # held back like a batch seen in a proposal
    other = Batch([tx(11)], SUITE)
    assert asyncio.run(pool.add_peer_batch(other))
    assert pool.proposal() == [other.digest]
    pool.repropose_after_s = 0.0  # that proposal did not commit: ordered again later
    assert set(pool.proposal()) == {early.digest, other.digest}


def test_peer_batch_committed_while_verified_is_not_pooled_again() -> None:
    stored: set[bytes] = set()
    pool = Mempool(suite=SUITE, chain_id="c", capacity=100, is_batch_stored=stored.__contains__)
    late = Batch([tx(4), tx(5)], SUITE)
    stored.add(late.digest)  # a block committed it (the ledger holds it) before it arrived here
    assert asyncio.run(pool.add_peer_batch(late))  # its signatures are valid ...
    assert not pool.has_batch(late.digest)  # ... but it is not pooled for a second proposal
    assert pool.proposal() == [] and len(pool) == 0
    forged = Batch([tx(6), Transaction.from_list(SUITE, [*tx(7).to_list()[:-1], b"\x01"])], SUITE)
    stored.add(forged.digest)
    assert not asyncio.run(pool.add_peer_batch(forged))  # still refused when a signature fails
    fresh = Batch([tx(8)], SUITE)
    assert asyncio.run(pool.add_peer_batch(fresh))
    assert pool.proposal() == [fresh.digest]


def test_unverified_batch_is_neither_proposed_nor_trusted_until_certified() -> None:
    pool = Mempool(suite=SUITE, chain_id="c", capacity=100)
    t20 = tx(20)
    b = Batch([t20, tx(21)], SUITE)
    assert pool.add_unverified_batch(b)
    assert pool.has_batch(b.digest) and not pool.is_verified(b.digest)
    assert pool.proposal() == [] and not pool.has_proposable()
    assert t20.hash not in pool.verified_hashes  # execution would check it itself
    assert len(pool) == 2  # ... but it is pending: a client resubmission is a duplicate
    assert pool.certify(b.digest) and not pool.certify(b.digest)
    assert t20.hash in pool.verified_hashes and pool.proposal() == [b.digest]
    pool.on_committed([b.digest], [])
    assert t20.hash not in pool.verified_hashes and len(pool) == 0


def test_unattested_batch_checked_late_is_certified_or_discarded() -> None:
    pool = Mempool(suite=SUITE, chain_id="c", capacity=100)
    good = Batch([tx(22)], SUITE)
    t23 = tx(23)
    forged = Batch([Transaction.from_list(SUITE, [*t23.to_list()[:-1], tx(24).signature])], SUITE)
    assert pool.add_unverified_batch(good) and pool.add_unverified_batch(forged)
    assert {b.digest for b in pool.unverified_since(time.monotonic() + 1)} == {
        good.digest,
        forged.digest,
    }
    assert pool.unverified_since(0.0) == []  # none arrived that long ago
    assert asyncio.run(pool.add_peer_batch(good))  # checked here: now verified
    assert not asyncio.run(pool.add_peer_batch(forged))  # a signature fails: dropped
    assert not pool.has_batch(forged.digest) and t23.hash not in pool._known
    assert pool.proposal() == [good.digest] and len(pool) == 1


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 30), min_size=1, max_size=60), st.integers(1, 7))
def test_batches_partition_admitted_transactions(ids: list[int], batch_size: int) -> None:
    pool = Mempool(
        suite=SUITE, chain_id="c", capacity=1000, config=MempoolConfig(batch_size=batch_size)
    )
    txs = {i: tx(i) for i in set(ids)}
    res = asyncio.run(pool.admit([txs[i].encode() for i in ids], head=0))
    admitted = [r.hash for r in res if r.ok]
    assert len(admitted) == len(set(ids))
    seen: list[bytes] = []
    while (b := pool.cut_batch()) is not None:
        assert 1 <= len(b) <= batch_size
        seen.extend(t.hash for t in b.transactions)
    assert seen == admitted  # every admitted tx in exactly one batch, in admission order
    assert len(pool) == len(admitted)  # still pending until committed


def test_forged_copy_of_a_loose_transaction_does_not_take_it_away() -> None:
    """A faulty validator copies a client's pending transaction (same hash: the signature is
    not hashed) into a batch with a forged signature: the original stays pending, known valid
    with its own signature only, and is batched once the forged copy is dropped."""
    pool = Mempool(suite=SUITE, chain_id="c", capacity=100)
    honest = tx(30)
    assert [a.ok for a in asyncio.run(pool.admit([honest.encode()], head=0))] == [True]
    forged = Transaction.from_list(SUITE, [*honest.to_list()[:-1], tx(31).signature])
    bad = Batch([forged], SUITE)
    assert pool.add_unverified_batch(bad)
    assert pool.loose == 1 and pool.verified_hashes.get(honest.hash) == honest.signature
    assert not asyncio.run(pool.add_peer_batch(bad, why="late"))  # the late check drops it
    assert not pool.has_batch(bad.digest) and len(pool) == 1
    assert honest.hash in pool.verified_hashes
    batch = pool.cut_batch()
    assert batch is not None and batch.transactions == [honest]
    assert pool.proposal() == [batch.digest]


def test_unverified_batch_named_in_proposals_is_still_checked_late_once_old() -> None:
    """A faulty validator that keeps naming its forged batch in proposal messages must not
    keep it pooled, never checked, for ever."""
    pool = Mempool(suite=SUITE, chain_id="c", capacity=100, repropose_after_s=3.0)
    t40 = tx(40)
    forged = Batch([Transaction.from_list(SUITE, [*t40.to_list()[:-1], tx(41).signature])], SUITE)
    assert pool.add_unverified_batch(forged)
    pool.mark_proposed([forged.digest])  # just named in a proposal: not checked yet
    assert pool.unverified_since(time.monotonic() + 1) == []
    pool._batches[forged.digest].received -= 100.0  # ... but it has been here a long while
    pool.mark_proposed([forged.digest])
    assert [b.digest for b in pool.unverified_since(time.monotonic())] == [forged.digest]


def test_client_submission_is_not_a_duplicate_of_a_forged_unverified_copy() -> None:
    """A faulty validator got its forged copy of a client's transaction here first (pooled
    unverified): the client's own submission is admitted, and survives the copy's refusal."""
    pool = Mempool(suite=SUITE, chain_id="c", capacity=100)
    honest = tx(50)
    forged = Batch(
        [Transaction.from_list(SUITE, [*honest.to_list()[:-1], tx(51).signature])], SUITE
    )
    assert pool.add_unverified_batch(forged)
    assert [a.ok for a in asyncio.run(pool.admit([honest.encode()], head=0))] == [True]
    assert not asyncio.run(pool.add_peer_batch(forged, why="late"))
    batch = pool.cut_batch()
    assert batch is not None and batch.transactions == [honest] and len(pool) == 1
    # a copy known valid still makes a resubmission a duplicate
    (again,) = asyncio.run(pool.admit([honest.encode()], head=0))
    assert again.reason == "duplicate"
