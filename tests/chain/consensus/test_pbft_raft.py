"""PBFT and Raft replicas: codecs, proofs, Raft membership change."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finchain.chain.consensus import (
    Commit,
    ConsensusConfig,
    HmacKeyring,
    Persist,
    Send,
    make_consensus,
    pbft,
    raft,
    sim,
    verify_commit_proof,
)

CFG = ConsensusConfig()


def test_pbft_normal_case_commits_with_a_checkable_proof() -> None:
    n = 4
    ring = HmacKeyring(n=n)
    reps = [
        make_consensus(
            "pbft",
            replica_id=i,
            n=n,
            signer=ring.signer(i),
            verifier=ring.verifier(),
            persisted={},
            config=CFG,
        )
        for i in range(n)
    ]
    inbox: list[tuple[int, int, object]] = []
    commits: dict[int, list[Commit]] = {i: [] for i in range(n)}

    def run(i: int, acts: list[object]) -> None:
        for a in acts:
            if isinstance(a, Send):
                for j in range(n) if a.to is None else [a.to]:
                    if j != i:
                        inbox.append((j, i, a.message))
            elif isinstance(a, Commit):
                commits[i].append(a)

    for i, r in enumerate(reps):
        run(i, r.on_start(0))
    run(0, reps[0].on_payload(0, b"batch-1", 1))
    while inbox:
        j, i, m = inbox.pop(0)
        run(j, reps[j].on_message(i, reps[j].decode_message(reps[j].encode_message(m)), 2))
    for i in range(n):
        assert commits[i] and commits[i][0].height == 1 and commits[i][0].payload == b"batch-1"
    c = commits[1][0]
    v = ring.verifier()
    assert verify_commit_proof(
        "pbft", block_id=c.block_id, height=1, proof=c.proof, n=n, verifier=v
    )
    assert not verify_commit_proof(
        "pbft", block_id=c.block_id, height=2, proof=c.proof, n=n, verifier=v
    )


def test_pbft_persists_the_preprepare_before_its_prepare() -> None:
    ring = HmacKeyring(n=4)
    r1 = make_consensus(
        "pbft",
        replica_id=1,
        n=4,
        signer=ring.signer(1),
        verifier=ring.verifier(),
        persisted={},
        config=CFG,
    )
    r1.on_start(0)
    acts = r1.on_message(0, pbft.PrePrepare(0, 1, b"x"), 1)
    kinds = [type(a) for a in acts]
    assert Persist in kinds and kinds.index(Persist) < kinds.index(Send)
    # a second, different payload for the same view and height is not prepared
    assert not r1.on_message(0, pbft.PrePrepare(0, 1, b"y"), 2)


def test_raft_leader_commits_and_proof_names_the_leader() -> None:
    r = sim.run(sim.Scenario(algo="raft", seed=5, n=3, heal_at=500))
    assert r.ok and r.heal_height > 5


def test_raft_single_server_membership_change() -> None:
    """Remove replica 2 from a 3-node group: 0 and 1 keep committing with a majority of 2."""
    n = 3
    ring = HmacKeyring(n=n)
    cfg = ConsensusConfig(election_min_ms=100, heartbeat_ms=20, seed=1)
    reps: list[raft.Raft] = [
        make_consensus(  # type: ignore[misc]
            "raft",
            replica_id=i,
            n=n,
            signer=ring.signer(i),
            verifier=ring.verifier(),
            persisted={},
            config=ConsensusConfig(election_min_ms=100, heartbeat_ms=20, seed=i),
        )
        for i in range(n)
    ]
    del cfg
    assert all(isinstance(x, raft.Raft) for x in reps)
    timers: dict[int, dict[object, int]] = {i: {} for i in range(n)}
    inbox: list[tuple[int, int, object]] = []
    heights = {i: 0 for i in range(n)}
    payloads: list[tuple[int, int]] = []
    down: set[int] = set()

    def run(i: int, acts: list[object], now: int) -> None:
        for a in acts:
            if isinstance(a, Send):
                for j in range(n) if a.to is None else [a.to]:
                    if j != i and j not in down:
                        inbox.append((j, i, a.message))
            elif isinstance(a, Commit):
                heights[i] = a.height
            elif type(a).__name__ == "SetTimer":
                timers[i][a.token] = a.at  # type: ignore[attr-defined]
            elif type(a).__name__ == "RequestPayload":
                payloads.append((i, a.view))  # type: ignore[attr-defined]

    now = 0
    for i, r in enumerate(reps):
        run(i, r.on_start(now), now)
    changed = False
    victim, keep, mark = -1, (), 0
    for _ in range(4000):
        now += 5
        while inbox:
            j, i, m = inbox.pop(0)
            if j not in down:
                run(j, reps[j].on_message(i, m, now), now)
        while payloads:
            i, view = payloads.pop(0)
            if i not in down:
                run(i, reps[i].on_payload(view, b"p%d" % now, now), now)
        for i in range(n):
            if i in down:
                continue
            for tok, at in list(timers[i].items()):
                if at <= now:
                    del timers[i][tok]
                    run(i, reps[i].on_timer(tok, now), now)
        leader = next((r for r in reps if r.role == "leader" and r.me not in down), None)
        if leader is not None and not changed and min(heights.values()) >= 3:
            victim = next(i for i in range(n) if i != leader.me)
            keep = tuple(i for i in range(n) if i != victim)
            run(leader.me, leader.propose_membership(keep, now), now)
            changed = True
        if (
            changed
            and victim not in down
            and leader is not None
            and leader.commit_index > heights[victim] + 2
        ):
            down.add(victim)  # the removed server goes away for good
            mark = max(heights[i] for i in keep)
        if victim in down and min(heights[i] for i in keep) > mark + 5:
            break
    assert changed and victim in down
    assert all(reps[i].members() == keep for i in keep)
    assert min(heights[i] for i in keep) > mark + 5


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200))
def test_decoders_reject_garbage_cleanly(data: bytes) -> None:
    for mod in (pbft, raft):
        try:
            m = mod.decode(data)
        except ValueError:
            continue
        assert mod.encode(m) == data  # type: ignore[arg-type]


def test_raft_proof_binds_height() -> None:
    r = sim._Sim(sim.Scenario(algo="raft", seed=2, n=3, heal_at=400))
    r.run()
    h, (bid, _payload, proof) = next(iter(r.insts[0].log.items()))
    v = r.verifier
    assert raft.verify_commit_proof(block_id=bid, height=h, proof=proof, n=3, verifier=v)
    assert not raft.verify_commit_proof(block_id=bid, height=h + 1, proof=proof, n=3, verifier=v)
    with pytest.raises(ValueError):
        raft.decode(b"\x95\x04\x01\x01\x01")
