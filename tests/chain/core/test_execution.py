"""Block execution: transfers, rollback of failed transactions, replay and block limits,
determinism of the state digest (hypothesis, with amount conservation)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finchain.chain.types import STATUS_FAILED, STATUS_OK, STATUS_REJECTED

ChainFactory = Callable[..., Any]


def test_transfer_and_failed_tx_rolls_back_only_itself(make_chain: ChainFactory) -> None:
    c = make_chain()
    a, b, d = c.users[0], c.users[1], c.users[2]
    ok1 = c.transfer(a, b, 300)
    bad = c.transfer(a, b, 10_000)  # insufficient
    ok2 = c.transfer(b, d, 50)
    worse = c.tx(a, "transfer", "transfer", {"to": b"short", "amount": 1})
    typo = c.tx(a, "transfer", "transfer", {"too": c.address(b), "amount": 1})
    ex = c.block([ok1, bad], [ok2, worse, typo])
    statuses = [r.status for r in ex.receipts]
    assert statuses == [STATUS_OK, STATUS_FAILED, STATUS_OK, STATUS_FAILED, STATUS_FAILED]
    assert "insufficient balance" in ex.receipts[1].error
    assert "20-byte" in ex.receipts[3].error
    assert "TypeError" in ex.receipts[4].error
    assert ex.receipts[0].return_value == 700
    assert ex.receipts[0].events == (
        ("transfer", "Transfer", {"amount": 300, "from": c.address(a), "to": c.address(b)}),
    )
    assert ex.receipts[1].events == ()
    assert c.balance(a) == 700 and c.balance(b) == 1250 and c.balance(d) == 1050
    # failed txs are committed (indexed) and their receipts retrievable
    found = c.store.get_receipt(bad.hash)
    assert found is not None and found[:2] == (1, 1) and not found[2].ok
    assert c.executor.query("transfer", "total_supply") == 4_000


def test_transfer_memo_is_carried_not_stored(make_chain: ChainFactory) -> None:
    c = make_chain()
    a, b = c.users[0], c.users[1]
    to = c.address(b)
    plain = c.tx(a, "transfer", "transfer", {"to": to, "amount": 5})
    memo = c.tx(a, "transfer", "transfer", {"to": to, "amount": 5, "memo": b"\x01" * 4096})
    bad = c.tx(a, "transfer", "transfer", {"to": to, "amount": 5, "memo": "text"})
    ex = c.block([plain, memo, bad])
    assert [r.status for r in ex.receipts] == [STATUS_OK, STATUS_OK, STATUS_FAILED]
    assert "memo must be bytes" in ex.receipts[2].error
    assert len(memo.encode()) > len(plain.encode()) + 4096
    assert c.balance(b) == 1010  # both valid transfers moved 5; the memo changed nothing else


def test_replay_block_limit_chain_id_and_signature(make_chain: ChainFactory) -> None:
    c = make_chain()
    a, b = c.users[0], c.users[1]
    t1 = c.transfer(a, b, 10)
    c.block([t1])
    # same tx again (next block), and twice within one block
    t2 = c.transfer(a, b, 20)
    ex = c.block([t1, t2, t2])
    assert [r.status for r in ex.receipts] == [STATUS_REJECTED, STATUS_OK, STATUS_REJECTED]
    assert "replay" in ex.receipts[0].error and "replay" in ex.receipts[2].error
    assert c.store.get_tx_location(t1.hash) == (1, 0)  # the original stays indexed
    # a re-signed copy (different signature bytes, same hash) is still a replay
    assert c.balance(a) == 970
    # block limit: valid up to and including the limit
    h = c.height + 1
    on_time = c.tx(a, "transfer", "transfer", {"to": c.address(b), "amount": 1}, block_limit=h)
    late = c.tx(a, "transfer", "transfer", {"to": c.address(b), "amount": 1}, block_limit=h - 1)
    ex = c.block([on_time, late])
    assert [r.status for r in ex.receipts] == [STATUS_OK, STATUS_REJECTED]
    assert "expired" in ex.receipts[1].error
    assert c.store.get_tx_location(late.hash) is None
    # wrong chain id and forged signature are rejected
    from finchain.chain.types import Transaction

    other = Transaction.create(
        c.suite,
        a,
        contract="transfer",
        method="transfer",
        args={"to": c.address(b), "amount": 1},
        block_limit=c.height + 5,
        chain_id="other",
    )
    forged = c.transfer(a, b, 5)
    forged.args = {"amount": 500, "to": c.address(b)}
    forged._hash = None
    ex = c.block([other, forged])
    assert [r.status for r in ex.receipts] == [STATUS_REJECTED, STATUS_REJECTED]
    assert "chain" in ex.receipts[0].error and "signature" in ex.receipts[1].error
    assert c.balance(a) == 969


def test_unknown_contract_and_method(make_chain: ChainFactory) -> None:
    c = make_chain()
    a = c.users[0]
    ex = c.block(
        [
            c.tx(a, "nosuch", "x"),
            c.tx(a, "transfer", "balance", {"account": c.address(a)}),  # a view
            c.tx(a, "transfer", "mint", {}),
        ]
    )
    assert ex.receipts[0].status == STATUS_REJECTED
    assert [r.status for r in ex.receipts[1:]] == [STATUS_FAILED, STATUS_FAILED]


def test_restart_continues_chain(make_chain: ChainFactory, tmp_path: Any) -> None:
    c = make_chain()
    a, b = c.users[0], c.users[1]
    c.block([c.transfer(a, b, 5)])
    digest = c.store.get_header(1).state_digest
    c.store.close()
    from finchain.chain.execution.executor import BlockExecutor
    from finchain.chain.storage import BlockStore

    c.store = BlockStore(c.path, suite=c.suite)
    c.genesis.initialize(c.store, c.registry)  # idempotent
    c.executor = BlockExecutor(c.store, c.registry, chain_id="test-chain")
    assert c.executor.last_header.state_digest == digest
    ex = c.block([c.transfer(b, a, 1)])
    assert ex.header.parent_hash == c.store.get_header(1).hash


transfers = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(1, 700)), max_size=30
)


@given(blocks=st.lists(transfers, min_size=1, max_size=4))
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_determinism_and_conservation(make_chain: ChainFactory, blocks: list[Any]) -> None:
    import uuid

    tag = uuid.uuid4().hex
    one = make_chain(f"a{tag}", check_signatures=False)
    two = make_chain(f"b{tag}", check_signatures=False)
    # both nodes share genesis keys: copy the second chain's genesis from the first
    two.store.close()
    import shutil

    shutil.rmtree(two.path)
    from finchain.chain.execution.executor import BlockExecutor
    from finchain.chain.storage import BlockStore

    two.users, two.admins, two.genesis = one.users, one.admins, one.genesis
    two.store = BlockStore(two.path, suite=two.suite)
    one.genesis.initialize(two.store, two.registry)
    two.executor = BlockExecutor(
        two.store, two.registry, chain_id="test-chain", signature_checker=None
    )
    expected = {i: 1_000 for i in range(4)}
    for spec in blocks:
        txs = [one.transfer(one.users[s], one.users[d], amt) for s, d, amt in spec]
        ex1 = one.block(txs)
        ex2 = two.block(txs)
        assert ex1.header.state_digest == ex2.header.state_digest
        assert ex1.header.receipt_root == ex2.header.receipt_root
        assert ex1.header.tx_root == ex2.header.tx_root
        for (s, d, amt), r in zip(spec, ex1.receipts, strict=True):
            if expected[s] >= amt:
                assert r.status == STATUS_OK
                expected[s] -= amt
                expected[d] += amt
            else:
                assert r.status == STATUS_FAILED
    got = {i: one.balance(one.users[i]) for i in range(4)}
    assert got == expected
    assert sum(got.values()) == 4_000 == one.executor.query("transfer", "total_supply")


def test_partial_writes_and_nested_calls_roll_back(make_chain: ChainFactory) -> None:
    from finchain.chain.execution.contract import Contract, ContractError, method, view

    class Ledger(Contract):
        name = "ledgerx"

        @method
        def write_then_maybe_fail(self, key: bytes, fail: bool) -> int:
            self.ctx.put(b"k:" + key, b"v")
            self.ctx.emit("Wrote", {"key": key})
            self.ctx.call("ledgerx", "bump", {})  # nested call shares the transaction
            if fail:
                raise ContractError("refused after writing")
            return self.ctx.get_int(b"n")

        @method
        def bump(self) -> int:
            n = self.ctx.get_int(b"n") + 1
            self.ctx.put_int(b"n", n)
            return n

        @method
        def sneaky_view_write(self) -> None:
            self.ctx.call("ledgerx", "peek", {})

        @view
        def peek(self) -> list[bytes]:
            return [k for k, _ in self.ctx.scan(b"k:")]

        @view
        def write_in_view(self) -> None:
            self.ctx.put(b"x", b"y")

        @method
        def recurse(self) -> None:
            self.ctx.call("ledgerx", "recurse", {})

    c = make_chain()
    c.registry.register(Ledger)
    from finchain.chain.storage import state_key

    key = state_key("permissions", b"installed:ledgerx")
    with c.store._env.begin(write=True) as txn:  # test-only shortcut instead of a vote
        txn.put(key, c.registry.code_hash("ledgerx"), db=c.store.state_db())
    u = c.users[0]
    ex = c.block(
        [
            c.tx(u, "ledgerx", "write_then_maybe_fail", {"key": b"a", "fail": False}),
            c.tx(u, "ledgerx", "write_then_maybe_fail", {"key": b"b", "fail": True}),
            c.tx(u, "ledgerx", "write_then_maybe_fail", {"key": b"c", "fail": False}),
            c.tx(u, "ledgerx", "sneaky_view_write", {}),
            c.tx(u, "ledgerx", "recurse", {}),
        ]
    )
    r = ex.receipts
    assert [x.status for x in r] == [STATUS_OK, STATUS_FAILED, STATUS_OK, STATUS_OK, STATUS_FAILED]
    assert r[0].return_value == 1 and r[2].return_value == 2
    assert r[1].error == "refused after writing" and r[1].events == ()
    assert "call depth" in r[4].error
    assert c.executor.query("ledgerx", "peek") == [b"k:a", b"k:c"]

    from finchain.chain.execution.contract import ContractError as CE

    with pytest.raises(CE, match="view cannot write"):
        c.executor.query("ledgerx", "write_in_view")
