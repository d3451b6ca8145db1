"""Governance: proposals and votes of member organisations add members and nodes, install
contracts and change permissions; system contracts refuse direct calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from finchain.chain.execution.contract import Contract, method, view
from finchain.chain.execution.registry import ContractRegistry
from finchain.chain.types import STATUS_FAILED, STATUS_OK, STATUS_REJECTED

ChainFactory = Callable[..., Any]


class Notary(Contract):
    """A tiny application contract installed by vote in these tests."""

    name = "notary"

    @method
    def record(self, doc: bytes) -> int:
        n = self.ctx.get_int(b"n") + 1
        self.ctx.put_int(b"n", n)
        self.ctx.put(b"doc:" + doc, self.ctx.sender)
        return n

    @view
    def count(self) -> int:
        return self.ctx.get_int(b"n")


def _with_notary(reg: ContractRegistry) -> ContractRegistry:
    reg.register(Notary)
    return reg


def test_add_member_by_vote(make_chain: ChainFactory) -> None:
    c = make_chain(orgs=3)
    newcomer = c.suite.generate_key()
    params = {"org": "org9", "name": "New Bank", "admins": [newcomer.public_key().to_bytes()]}
    ex = c.block(
        [c.tx(c.admins[0], "governance", "propose", {"action": "add_member", "params": params})]
    )
    assert ex.receipts[0].status == STATUS_OK, ex.receipts[0].error
    pid = ex.receipts[0].return_value
    assert c.executor.query("members", "get_member", {"org": "org9"}) is None
    # a non-member cannot vote; a second org reaches 2/3 of 3 and the proposal executes
    ex = c.block(
        [
            c.tx(c.users[0], "governance", "vote", {"proposal": pid, "approve": True}),
            c.tx(c.admins[1], "governance", "vote", {"proposal": pid, "approve": True}),
            c.tx(c.admins[2], "governance", "vote", {"proposal": pid, "approve": True}),
        ]
    )
    assert ex.receipts[0].status == STATUS_FAILED and "member" in ex.receipts[0].error
    assert ex.receipts[1].status == STATUS_OK and ex.receipts[1].return_value == "executed"
    assert ex.receipts[2].status == STATUS_FAILED and "executed" in ex.receipts[2].error
    member = c.executor.query("members", "get_member", {"org": "org9"})
    assert member is not None and member["name"] == "New Bank"
    assert c.executor.query("members", "org_of", {"account": c.address(newcomer)}) == "org9"
    # the new member now votes: 4 orgs, threshold 2/3 → 3 approvals needed
    ex = c.block(
        [
            c.tx(
                newcomer,
                "governance",
                "propose",
                {"action": "remove_member", "params": {"org": "org2"}},
            ),
        ]
    )
    pid2 = ex.receipts[0].return_value
    ex = c.block([c.tx(c.admins[0], "governance", "vote", {"proposal": pid2, "approve": True})])
    assert ex.receipts[0].return_value == "open"
    ex = c.block([c.tx(c.admins[1], "governance", "vote", {"proposal": pid2, "approve": True})])
    assert ex.receipts[0].return_value == "executed"
    assert c.executor.query("members", "get_member", {"org": "org2"}) is None
    prop = c.executor.query("governance", "get_proposal", {"proposal": pid2})
    assert prop["status"] == "executed" and prop["votes"]["org9"] is True


def test_rejection_and_direct_calls_refused(make_chain: ChainFactory) -> None:
    c = make_chain(orgs=3)
    evil = {
        "org": "evil",
        "name": "Evil",
        "admins": [c.suite.generate_key().public_key().to_bytes()],
    }
    ex = c.block(
        [
            c.tx(c.users[0], "members", "add_member", evil),
            c.tx(c.admins[0], "members", "add_member", evil),
            c.tx(c.admins[0], "governance", "propose", {"action": "add_member", "params": evil}),
        ]
    )
    assert ex.receipts[0].status == STATUS_FAILED and "governance" in ex.receipts[0].error
    assert ex.receipts[1].status == STATUS_FAILED
    pid = ex.receipts[2].return_value
    ex = c.block(
        [
            c.tx(c.admins[1], "governance", "vote", {"proposal": pid, "approve": False}),
            c.tx(c.admins[2], "governance", "vote", {"proposal": pid, "approve": False}),
        ]
    )
    # 2 of 3 orgs needed: one "no" leaves it open, the second makes approval impossible
    assert [r.return_value for r in ex.receipts] == ["open", "rejected"]
    ex = c.block([c.tx(c.admins[0], "governance", "vote", {"proposal": pid, "approve": True})])
    assert ex.receipts[0].status == STATUS_FAILED and "rejected" in ex.receipts[0].error
    assert c.executor.query("members", "get_member", {"org": "evil"}) is None


def test_install_contract_and_acl_by_vote(tmp_path: Any, make_chain: ChainFactory) -> None:
    c = make_chain(orgs=2)
    c.registry.register(Notary)
    user = c.users[0]
    ex = c.block([c.tx(user, "notary", "record", {"doc": b"x"})])
    assert ex.receipts[0].status == STATUS_REJECTED and "not installed" in ex.receipts[0].error

    def vote_through(action: str, params: dict[str, Any]) -> None:
        ex = c.block(
            [c.tx(c.admins[0], "governance", "propose", {"action": action, "params": params})]
        )
        assert ex.receipts[0].status == STATUS_OK, ex.receipts[0].error
        pid = ex.receipts[0].return_value
        ex = c.block([c.tx(c.admins[1], "governance", "vote", {"proposal": pid, "approve": True})])
        assert ex.receipts[0].return_value == "executed", ex.receipts[0].error

    # a wrong code hash installs nothing runnable
    vote_through("install_contract", {"contract": "notary", "code_hash": b"\x00" * 32})
    ex = c.block([c.tx(user, "notary", "record", {"doc": b"x"})])
    assert ex.receipts[0].status == STATUS_REJECTED
    vote_through(
        "install_contract", {"contract": "notary", "code_hash": c.registry.code_hash("notary")}
    )
    ex = c.block([c.tx(user, "notary", "record", {"doc": b"x"})])
    assert ex.receipts[0].status == STATUS_OK and ex.receipts[0].return_value == 1
    # restrict to members: the plain user is refused, an org admin may call
    vote_through("set_acl", {"contract": "notary", "mode": "members"})
    ex = c.block(
        [
            c.tx(user, "notary", "record", {"doc": b"y"}),
            c.tx(c.admins[1], "notary", "record", {"doc": b"z"}),
        ]
    )
    assert ex.receipts[0].status == STATUS_REJECTED and "permission" in ex.receipts[0].error
    assert ex.receipts[1].status == STATUS_OK
    assert c.executor.query("notary", "count") == 2
    # nodes and settings
    vote_through(
        "add_node",
        {
            "node_id": "obs1",
            "org": "org1",
            "role": "observer",
            "public_key": c.suite.generate_key().public_key().to_bytes(),
            "host": "10.0.0.9",
            "port": 30400,
        },
    )
    node = c.executor.query("nodes", "get_node", {"node_id": "obs1"})
    assert node["role"] == "observer" and node["index"] == 4
    assert len(c.executor.query("nodes", "list_nodes", {"role": "validator"})) == 4
    vote_through("set_setting", {"key": "max_batch", "value": 5000})
    assert c.executor.query("governance", "get_setting", {"key": "max_batch"}) == 5000
