"""HotStuff replica: codec, safety rules across restarts, commit proofs."""

from __future__ import annotations

import contextlib
import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finchain.chain.consensus import (
    Commit,
    ConsensusConfig,
    ConsensusError,
    HmacKeyring,
    Persist,
    RequestPayload,
    Send,
    make_consensus,
    verify_commit_proof,
)
from finchain.chain.consensus import hotstuff as hs
from finchain.chain.consensus.common import unpack

N = 4
CFG = ConsensusConfig()


def replica(ring: HmacKeyring, i: int, persisted: dict[str, bytes] | None = None) -> hs.HotStuff:
    c = make_consensus(
        "hotstuff",
        replica_id=i,
        n=N,
        signer=ring.signer(i),
        verifier=ring.verifier(),
        persisted=persisted or {},
        config=CFG,
    )
    assert isinstance(c, hs.HotStuff)
    return c


def genesis_qc() -> hs.QC:
    return hs.QC(0, hs.genesis_header(CFG).compute_id(CFG), ())


def block_id(b: hs.Block) -> bytes:
    return b.header(CFG).compute_id(CFG)


def test_unknown_algorithm_is_a_clear_error() -> None:
    ring = HmacKeyring(n=N)
    with pytest.raises(ConsensusError, match="unknown consensus 'paxos'"):
        make_consensus(
            "paxos",
            replica_id=0,
            n=N,
            signer=ring.signer(0),
            verifier=ring.verifier(),
            persisted={},
            config=CFG,
        )


def test_leader_of_round_one_asks_for_payload_and_proposes() -> None:
    ring = HmacKeyring(n=N)
    leader = replica(ring, 1)
    acts = leader.on_start(0)
    assert RequestPayload(1) in acts
    out = leader.on_payload(1, b"batch-digests", 5)
    kinds = [type(a) for a in out]
    # persist strictly before the proposal and the vote leave
    assert kinds.index(Persist) < kinds.index(Send)
    proposal = next(a.message for a in out if isinstance(a, Send) and a.to is None)
    assert isinstance(proposal, hs.Proposal)
    assert proposal.block.payload == b"batch-digests" and proposal.block.height == 1


def test_replica_votes_once_per_round_even_after_restart() -> None:
    ring = HmacKeyring(n=N)
    r0 = replica(ring, 0)
    r0.on_start(0)
    a = hs.Block(1, 1, 1, b"A", genesis_qc())
    b = hs.Block(1, 1, 1, b"B", genesis_qc())  # the leader equivocates
    out = r0.on_message(1, hs.Proposal(a, None), 1)
    votes = [x for x in out if isinstance(x, Send) and isinstance(x.message, hs.Vote)]
    assert len(votes) == 1 and votes[0].to == 2
    persisted = {x.key: x.value for x in out if isinstance(x, Persist)}
    assert not [x for x in r0.on_message(1, hs.Proposal(b, None), 2) if isinstance(x, Send)]
    # a restart from the persisted state must not vote for the twin block either
    again = replica(ring, 0, persisted)
    again.on_start(3)
    sends = [x for x in again.on_message(1, hs.Proposal(b, None), 4) if isinstance(x, Send)]
    assert not [s for s in sends if isinstance(s.message, hs.Vote)]


def _certified_chain(length: int) -> tuple[list[hs.Block], list[hs.QC], HmacKeyring]:
    ring = HmacKeyring(n=N)
    blocks: list[hs.Block] = []
    qcs: list[hs.QC] = []
    qc = genesis_qc()
    for r in range(1, length + 1):
        blk = hs.Block(r, r, r % N, b"p%d" % r, qc)
        bid = block_id(blk)
        votes = tuple((i, ring.signer(i).sign(hs.vote_data(CFG, r, bid))) for i in range(3))
        qc = hs.QC(r, bid, votes)
        blocks.append(blk)
        qcs.append(qc)
    return blocks, qcs, ring


def test_two_chain_commits_and_proof_verifies_and_tampering_fails() -> None:
    blocks, qcs, ring = _certified_chain(3)
    r0 = replica(ring, 0)
    r0.on_start(0)
    commits: list[Commit] = []
    for i, blk in enumerate(blocks):
        sender = blk.proposer
        if sender == 0:
            continue
        out = r0.on_message(sender, hs.Proposal(blk, None), 10 + i)
        commits += [c for c in out if isinstance(c, Commit)]
    # QC(3) is unknown to replica 0 (votes for round 3 go to leader 0 ... only if it voted);
    # feed the QC through a timeout message from another replica
    t = hs.Timeout(4, qcs[2], ring.signer(2).sign(hs.timeout_data(CFG, 4, 3)), None)
    commits += [c for c in r0.on_message(2, t, 50) if isinstance(c, Commit)]
    assert [c.height for c in commits] == [1, 2]
    verifier = ring.verifier()
    for c in commits:
        assert verify_commit_proof(
            "hotstuff", block_id=c.block_id, height=c.height, proof=c.proof, n=N, verifier=verifier
        )
        assert not verify_commit_proof(
            "hotstuff",
            block_id=c.block_id,
            height=c.height + 1,
            proof=c.proof,
            n=N,
            verifier=verifier,
        )
        bad = bytearray(c.proof)
        bad[-5] ^= 1
        assert not verify_commit_proof(
            "hotstuff",
            block_id=c.block_id,
            height=c.height,
            proof=bytes(bad),
            n=N,
            verifier=verifier,
        )
    # a different key set (another consortium) rejects the proof
    other = HmacKeyring(n=N, seed=99).verifier()
    assert not verify_commit_proof(
        "hotstuff",
        block_id=commits[0].block_id,
        height=1,
        proof=commits[0].proof,
        n=N,
        verifier=other,
    )


def test_qc_with_too_few_or_duplicate_votes_is_rejected() -> None:
    _blocks, qcs, ring = _certified_chain(1)
    qc = qcs[0]
    v = ring.verifier()
    assert hs.check_qc(qc, n=N, verifier=v, config=CFG)
    assert not hs.check_qc(dataclasses.replace(qc, votes=qc.votes[:2]), n=N, verifier=v, config=CFG)
    forged = (*qc.votes[:2], (3, b"\x00" * 32))
    assert not hs.check_qc(dataclasses.replace(qc, votes=forged), n=N, verifier=v, config=CFG)
    assert not hs.check_qc(dataclasses.replace(qc, round=2), n=N, verifier=v, config=CFG)


def _messages() -> st.SearchStrategy[hs.Message]:
    ids = st.binary(min_size=32, max_size=32)
    ints = st.integers(0, 2**40)
    sig = st.binary(max_size=80)
    qc = st.builds(
        hs.QC,
        ints,
        ids,
        st.lists(st.tuples(st.integers(0, 20), sig), unique_by=lambda t: t[0]).map(
            lambda xs: tuple(sorted(xs))
        ),
    )
    tc = st.builds(
        hs.TC,
        ints,
        st.lists(st.tuples(st.integers(0, 20), ints, sig), unique_by=lambda t: t[0]).map(
            lambda xs: tuple(sorted(xs))
        ),
    )
    block = st.builds(hs.Block, ints, ints, st.integers(0, 20), st.binary(max_size=64), qc)
    return st.one_of(
        st.builds(hs.Proposal, block, st.none() | tc),
        st.builds(hs.Vote, ints, ids, sig),
        st.builds(hs.Timeout, ints, qc, sig, st.none() | tc),
        st.builds(hs.BlockRequest, ids, ints),
        st.builds(hs.BlockResponse, st.lists(block, max_size=3).map(tuple), ints),
    )


@settings(max_examples=200, deadline=None)
@given(_messages())
def test_codec_round_trips(msg: hs.Message) -> None:
    data = hs.encode(msg)
    assert hs.decode(data) == msg
    assert hs.encode(hs.decode(data)) == data


@settings(max_examples=300, deadline=None)
@given(_messages(), st.integers(0, 10_000), st.integers(0, 255))
def test_corrupted_bytes_are_rejected_or_canonical(msg: hs.Message, pos: int, val: int) -> None:
    data = bytearray(hs.encode(msg))
    data[pos % len(data)] = val
    try:
        decoded = hs.decode(bytes(data))
    except ValueError:
        return
    assert hs.encode(decoded) == bytes(data)  # anything accepted is canonical


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_never_crashes_decoder(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        hs.decode(data)


def test_unpack_rejects_non_canonical_ints() -> None:
    # 5 encoded as uint16 instead of a fixint
    with pytest.raises(ValueError, match="non-canonical"):
        unpack(b"\x91\xcd\x00\x05")
