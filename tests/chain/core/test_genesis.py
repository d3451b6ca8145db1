"""Genesis: JSON round trip, hash independent of formatting, validation, block 0."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from finchain.chain.contracts import builtin_registry
from finchain.chain.genesis import Genesis, GenesisError, MemberSpec, ObserverSpec, ValidatorSpec
from finchain.chain.storage import BlockStore, StorageError
from finchain.crypto import get_suite


def _genesis(suite_name: str = "gm") -> Genesis:
    suite = get_suite(suite_name)
    pk = [suite.generate_key().public_key().to_bytes() for _ in range(6)]
    return Genesis(
        chain_id="gba-1",
        suite=suite_name,
        consensus="hotstuff",
        consensus_config={"timeout_ms": 1000},
        validators=tuple(
            ValidatorSpec(
                index=i, node_id=f"v{i}", org=f"o{i % 2}", public_key=pk[i], host="h", port=1 + i
            )
            for i in range(4)
        ),
        observers=(ObserverSpec(node_id="obs", org="o0", public_key=pk[4], host="h", port=9),),
        members=(
            MemberSpec(org="o0", name="Bank 0", admins=(pk[4],), cert=b"\x01\x02"),
            MemberSpec(org="o1", name="银行 1", admins=(pk[5],), roles=("bank",)),
        ),
        balances=((b"\x01" * 20, 500), (b"\x02" * 20, 700)),
        contracts=(("transfer", b""),),
        acls=(("transfer", "members", ()),),
        governance_threshold=(1, 2),
        timestamp=1_700_000_000_000,
        settings={"max_batch": 5000},
    )


def test_round_trip_and_hash(tmp_path: Path) -> None:
    g = _genesis()
    path = tmp_path / "genesis.json"
    g.save(path)
    back = Genesis.load(path)
    assert back == g and back.hash() == g.hash()
    # re-indenting the file does not change the chain
    path.write_text(json.dumps(json.loads(path.read_text()), indent=7, sort_keys=False))
    assert Genesis.load(path).hash() == g.hash()
    assert replace(g, chain_id="gba-2").hash() != g.hash()
    assert _genesis("intl").hash() != g.hash()


@pytest.mark.parametrize(
    "change",
    [
        {"suite": "rot13"},
        {"chain_id": ""},
        {"governance_threshold": (3, 2)},
        {"balances": ((b"\x01" * 19, 5),)},
        {"balances": ((b"\x01" * 20, -5),)},
        {"acls": (("transfer", "everyone", ()),)},
        {"settings": {"ratio": 0.5}},
    ],
)
def test_invalid_genesis_refused(change: dict[str, object]) -> None:
    with pytest.raises(GenesisError):
        replace(_genesis(), **change).validate()  # type: ignore[arg-type]


def test_structural_errors(tmp_path: Path) -> None:
    g = _genesis()
    v = list(g.validators)
    with pytest.raises(GenesisError, match="indexes"):
        replace(g, validators=(*v, replace(v[0], node_id="v9"))).validate()
    with pytest.raises(GenesisError, match="unknown org"):
        replace(g, validators=(replace(v[0], org="nobody"), *v[1:])).validate()
    with pytest.raises(GenesisError):
        Genesis.from_json("[1, 2]")
    with pytest.raises(GenesisError):
        Genesis.from_json("{not json")
    with pytest.raises(GenesisError):
        Genesis.load(tmp_path / "missing.json")
    with pytest.raises(GenesisError, match="does not ship"):
        replace(g, contracts=(("nosuch", b""),)).resolved_contracts(builtin_registry())
    with pytest.raises(GenesisError, match="code hash"):
        replace(g, contracts=(("transfer", b"\x00" * 32),)).resolved_contracts(builtin_registry())


def test_block_zero_and_foreign_store(tmp_path: Path) -> None:
    g = _genesis("intl")
    reg = builtin_registry()
    with BlockStore(tmp_path / "n", suite=get_suite("intl")) as store:
        header = g.initialize(store, reg)
        assert g.initialize(store, reg) == header  # idempotent
        assert store.last_height == 0 and store.genesis_hash == g.hash()
        assert header.block_id == g.hash() and header.tx_count == 0
        with pytest.raises(StorageError, match="another chain"):
            replace(g, chain_id="other").initialize(store, reg)
        from finchain.chain.execution.executor import BlockExecutor

        ex = BlockExecutor(store, reg, chain_id="gba-1")
        assert ex.query("transfer", "total_supply") == 1200
        assert ex.query("transfer", "balance", {"account": b"\x02" * 20}) == 700
        assert ex.query("members", "get_member", {"org": "o1"})["name"] == "银行 1"
        assert len(ex.query("nodes", "list_nodes")) == 5
        assert ex.query("nodes", "get_node", {"node_id": "obs"})["role"] == "observer"
        assert ex.query("permissions", "get_acl", {"contract": "transfer"})["mode"] == "members"
        assert ex.query("governance", "threshold") == [1, 2]
        assert ex.query("governance", "get_setting", {"key": "max_batch"}) == 5000
