"""Consensus algorithms as sans-I/O state machines (see :mod:`finchain.chain.consensus.base`).

The node builds a replica with :func:`make_consensus` and checks a committed block's proof with
:func:`verify_commit_proof`; both take the algorithm's genesis name.

>>> from finchain.chain.consensus.common import HmacKeyring
>>> ring = HmacKeyring(n=4)
>>> c = make_consensus("hotstuff", replica_id=0, n=4, signer=ring.signer(0),
...                    verifier=ring.verifier(), persisted={}, config=ConsensusConfig())
>>> c.committed_height
0
"""

from __future__ import annotations

from collections.abc import Mapping

from finchain.chain.consensus.base import (
    Action,
    Commit,
    Consensus,
    Persist,
    RequestPayload,
    Send,
    SetTimer,
    SyncRequired,
    max_faulty,
    quorum_size,
)
from finchain.chain.consensus.common import (
    ConsensusConfig,
    ConsensusError,
    HmacKeyring,
    Signer,
    Verifier,
)

ALGORITHMS = ("hotstuff", "pbft", "raft")


def make_consensus(
    name: str,
    *,
    replica_id: int,
    n: int,
    signer: Signer,
    verifier: Verifier,
    persisted: Mapping[str, bytes],
    config: ConsensusConfig,
) -> Consensus:
    """A replica of algorithm ``name`` restored from ``persisted`` (its own earlier Persists)."""
    if name == "hotstuff":
        from finchain.chain.consensus.hotstuff import HotStuff

        return HotStuff(
            replica_id=replica_id,
            n=n,
            signer=signer,
            verifier=verifier,
            persisted=persisted,
            config=config,
        )
    if name == "pbft":
        from finchain.chain.consensus.pbft import Pbft

        return Pbft(
            replica_id=replica_id,
            n=n,
            signer=signer,
            verifier=verifier,
            persisted=persisted,
            config=config,
        )
    if name == "raft":
        from finchain.chain.consensus.raft import Raft

        return Raft(
            replica_id=replica_id,
            n=n,
            signer=signer,
            verifier=verifier,
            persisted=persisted,
            config=config,
        )
    raise ConsensusError(f"unknown consensus {name!r}; choose one of {', '.join(ALGORITHMS)}")


def verify_commit_proof(
    name: str,
    *,
    block_id: bytes,
    height: int,
    proof: bytes,
    n: int,
    verifier: Verifier,
    config: ConsensusConfig | None = None,
) -> bool:
    """True when ``proof`` shows ``block_id`` committed at ``height`` by ``n`` validators.

    ``config`` must carry the chain's hash function and chain id (defaults: SHA-256, empty).
    """
    if name == "hotstuff":
        from finchain.chain.consensus import hotstuff

        return hotstuff.verify_commit_proof(
            block_id=block_id, height=height, proof=proof, n=n, verifier=verifier, config=config
        )
    if name == "pbft":
        from finchain.chain.consensus import pbft

        return pbft.verify_commit_proof(
            block_id=block_id, height=height, proof=proof, n=n, verifier=verifier, config=config
        )
    if name == "raft":
        from finchain.chain.consensus import raft

        return raft.verify_commit_proof(
            block_id=block_id, height=height, proof=proof, n=n, verifier=verifier, config=config
        )
    raise ConsensusError(f"unknown consensus {name!r}; choose one of {', '.join(ALGORITHMS)}")


__all__ = [
    "ALGORITHMS",
    "Action",
    "Commit",
    "Consensus",
    "ConsensusConfig",
    "ConsensusError",
    "HmacKeyring",
    "Persist",
    "RequestPayload",
    "Send",
    "SetTimer",
    "Signer",
    "SyncRequired",
    "Verifier",
    "make_consensus",
    "max_faulty",
    "quorum_size",
    "verify_commit_proof",
]
