"""Execution trusts the mempool's signature checks only for the exact signature checked.

A transaction hash leaves the signature out, so a faulty validator can copy an honest pending
transaction into its own batch with a forged signature: the hash is the same. Two honest
nodes that execute that batch must agree on it whether or not the honest original is pending
in their mempool (no processes: two ledgers of a freshly initialised network).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from finchain.chain import ledger_port, network
from finchain.chain.config import load_config
from finchain.chain.mempool import Mempool
from finchain.chain.types import STATUS_OK, STATUS_REJECTED, Batch, Payload, Transaction
from finchain.crypto import get_suite

pytestmark = [pytest.mark.xdist_group("chain-sync"), pytest.mark.timeout(120)]

SUITE = get_suite("gm")


def test_forged_copy_of_a_verified_transaction_is_checked_again(tmp_path: Path) -> None:
    d = tmp_path / "net"
    specs = network.init_network(d, orgs=4, validators=4, observers=0, suite="gm")
    admin = SUITE.load_private_key((d / "users" / "admin.key").read_bytes())
    ledgers = [
        ledger_port.open_ledger(load_config(network.node_config_path(d, s.name))) for s in specs[:2]
    ]
    try:
        chain_id = ledgers[0].chain_id
        to = SUITE.address(SUITE.generate_key().public_key())

        def transfer(amount: int) -> Transaction:
            return Transaction.create(
                SUITE,
                admin,
                contract="transfer",
                method="transfer",
                args={"to": to, "amount": amount},
                block_limit=10,
                chain_id=chain_id,
            )

        honest, decoy = transfer(5), transfer(1)
        forged = Transaction.from_list(SUITE, [*honest.to_list()[:-1], decoy.signature])
        assert forged.hash == honest.hash and not forged.verify()
        # node 0 admitted the honest transaction (pending, known valid); node 1 never saw it
        pool = Mempool(suite=SUITE, chain_id=chain_id, capacity=10)
        assert [a.ok for a in asyncio.run(pool.admit([honest.encode()], head=0))] == [True]
        ledgers[0].verified = pool.verified_hashes
        ledgers[1].verified = Mempool(suite=SUITE, chain_id=chain_id, capacity=10).verified_hashes
        assert ledgers[0]._check_signatures([forged, honest]) == [False, True]
        # a faulty leader orders a batch holding the forged copy: both nodes refuse it alike
        bad = Batch([forged], SUITE)
        payload = Payload(3, 0, (bad.digest,))
        done = [
            ledger.execute(1, b"\x07" * 32, payload, b"", {bad.digest: bad}) for ledger in ledgers
        ]
        assert [r.receipts[0].status for r in done] == [STATUS_REJECTED, STATUS_REJECTED]
        assert done[0].header.hash_with(SUITE) == done[1].header.hash_with(SUITE)
        # the honest transaction itself still executes without a second check
        good = Batch([honest], SUITE)
        before = ledgers[0].signatures_checked
        r = ledgers[0].execute(
            2, b"\x08" * 32, Payload(0, 0, (good.digest,)), b"", {good.digest: good}
        )
        assert r.receipts[0].status == STATUS_OK and ledgers[0].signatures_checked == before
    finally:
        for ledger in ledgers:
            ledger.close()
