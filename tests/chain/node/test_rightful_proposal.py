"""Only a proposal from its round's leader, no more than two rounds ahead, holds batches back
from this node's own proposals (a made-up one from any other validator must not)."""

from __future__ import annotations

from pathlib import Path

from finchain.chain import network
from finchain.chain.config import load_config
from finchain.chain.consensus.hotstuff import QC, Block, Proposal
from finchain.chain.node import Node


def test_only_the_rounds_leader_holds_batches_back(tmp_path: Path) -> None:
    d = tmp_path / "net"
    network.init_network(d, orgs=4, validators=4, observers=0, suite="gm")
    node = Node(load_config(network.node_config_path(d, "org1-v0")))
    try:
        inst = node.consensus
        assert inst is not None
        names = node.validators
        current = inst.current_round

        def proposal(round_: int, proposer: int) -> Proposal:
            qc = QC(0, b"\x00" * 32, ())
            return Proposal(Block(round_, 1, proposer, b"payload", qc), None)

        for r in range(current, current + 3):
            leader = inst.leader(r)
            other = (leader + 1) % len(names)
            assert node._rightful_proposal(names[leader], proposal(r, leader))
            # another validator claiming the round, or naming the leader as proposer
            assert not node._rightful_proposal(names[other], proposal(r, other))
            assert not node._rightful_proposal(names[other], proposal(r, leader))
        far = current + 40
        assert not node._rightful_proposal(names[inst.leader(far)], proposal(far, inst.leader(far)))
    finally:
        node.ledger.close()
        node.verify_pool.shutdown()
        node.peer_verify_pool.shutdown()
        node.exec_pool.shutdown()
