"""Block sync of a fresh observer from validators that start on a forged chain.

``chain forge`` gives the validators a few hundred blocks committed by their real HotStuff
replicas; a fresh observer process then syncs them over loopback (every commit proof checked).
The tests check the observer ends with the validators' exact headers and state, that a record
whose proof was corrupted in the validators' stores stops it just below, and (without
processes) that the batched proof check agrees with the one-by-one check.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from finchain.chain import ledger_port, network
from finchain.chain.config import load_config
from finchain.chain.consensus.common import pack, unpack
from finchain.chain.forge import ForgeError, forge
from finchain.chain.sdk import Client
from finchain.chain.storage import BlockStore
from finchain.crypto import get_suite

pytestmark = [pytest.mark.xdist_group("chain-sync"), pytest.mark.timeout(120)]

SUITE = get_suite("gm")
FORGED = 300


def _layout(d: Path) -> list[network.NodeSpec]:
    return network.init_network(
        d,
        orgs=4,
        validators=4,
        observers=1,
        suite="gm",
        consensus_options={"base_timeout_ms": 400, "max_timeout_ms": 3000},
    )


def _store(d: Path, name: str) -> BlockStore:
    return BlockStore(load_config(network.node_config_path(d, name)).data_dir, suite=SUITE)


def _height(url: str) -> int:
    async def go() -> int:
        async with Client(url, timeout=5.0) as c:
            return await c.height()

    return asyncio.run(go())


def _wait(predicate, timeout: float = 60.0) -> bool:  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def _corrupt(proof: bytes) -> bytes:
    """The same proof with one byte of one vote signature of its last QC changed."""
    headers, qc_parent, qc_child = unpack(proof)
    replica, sig = qc_child[2][0]
    qc_child[2][0] = [replica, sig[:-1] + bytes([sig[-1] ^ 0x01])]
    return bytes(pack([headers, qc_parent, qc_child]))


def test_fresh_observer_syncs_a_forged_chain_to_identical_headers(tmp_path: Path) -> None:
    d = tmp_path / "net"
    specs = _layout(d)
    result = forge(d, FORGED)
    assert all(h >= FORGED for h in result.heights.values())
    with pytest.raises(ForgeError, match="already has a store"):
        forge(d, 10)
    validators = [s for s in specs if s.role == "validator"]
    observer = next(s for s in specs if s.role == "observer")
    try:
        network.up(d, timeout=60)
        assert _wait(lambda: _height(observer.rpc_url) >= FORGED)
        # the validators carried on from the forged chain (live blocks on top of it)
        assert _wait(lambda: min(_height(v.rpc_url) for v in validators) > FORGED + 2)
    finally:
        network.down(d)
    obs = _store(d, observer.name)
    try:
        top = obs.last_height
        assert top >= FORGED
        for v in validators:
            store = _store(d, v.name)
            try:
                common = min(top, store.last_height)
                for h in range(1, common + 1):
                    a, b = obs.get_header(h), store.get_header(h)
                    assert a is not None and b is not None
                    assert a.hash_with(SUITE) == b.hash_with(SUITE), (v.name, h)
                # same state: the state digest is in the header hashed above; check the head too
                head_o, head_v = obs.get_header(common), store.get_header(common)
                assert head_o is not None and head_v is not None
                assert head_o.state_digest == head_v.state_digest
            finally:
                store.close()
    finally:
        obs.close()


def test_observer_stops_below_a_record_with_a_corrupted_proof(tmp_path: Path) -> None:
    d = tmp_path / "net"
    specs = _layout(d)
    forge(d, FORGED, header_certificates=False)
    bad = 150
    validators = [s for s in specs if s.role == "validator"]
    observer = next(s for s in specs if s.role == "observer")
    for v in validators:  # every validator serves the corrupted record
        store = _store(d, v.name)
        try:
            header = store.get_header(bad)
            assert header is not None
            broken = dataclasses.replace(header, proof=_corrupt(header.proof))
            store._write(
                lambda txn, hdr=broken, st=store: txn.put(  # type: ignore[misc]
                    bad.to_bytes(8, "big"), hdr.encode(), db=st._headers
                )
            )
        finally:
            store.close()
    log = network.node_config_path(d, observer.name).parent / "data" / "stdout.log"
    try:
        network.up(d, timeout=60)
        assert _wait(lambda: log.exists() and "commit proof refused" in log.read_text("utf-8"))
        assert _wait(lambda: _height(observer.rpc_url) == bad - 1)
        assert min(_height(v.rpc_url) for v in validators) >= FORGED
        # refused again on every attempt: it stays below the corrupted record
        refusals = log.read_text("utf-8").count("commit proof refused")
        assert _wait(lambda: log.read_text("utf-8").count("commit proof refused") > refusals)
        assert _height(observer.rpc_url) == bad - 1
    finally:
        network.down(d)


def test_batched_proof_check_matches_the_single_check(tmp_path: Path) -> None:
    d = tmp_path / "net"
    specs = _layout(d)
    forge(d, 40, header_certificates=False)
    cfg = load_config(network.node_config_path(d, specs[0].name))
    ledger = ledger_port.open_ledger(cfg)
    try:
        records = []
        for h in range(1, 41):
            rec = ledger.commit_record(h)
            assert rec is not None
            records.append((rec.height, rec.block_id, rec.payload, rec.proof))
        assert all(ledger.verify_commit(*r) for r in records)
        assert ledger.verify_commits(records) == 40
        h, bid, payload, proof = records[20]
        for broken in (
            (h, bid, payload, _corrupt(proof)),  # a bad signature
            (h, bid, payload + b"x", proof),  # a payload the proof does not certify
            (h + 1, bid, payload, proof),  # the wrong height
            (h, records[21][1], payload, proof),  # another block's id
        ):
            assert not ledger.verify_commit(*broken)
            assert ledger.verify_commits([*records[:20], broken, *records[21:]]) == 20
        # the bad signature is refused even when the same vote, intact, was seen before
        assert ledger.verify_commits([records[20], (h, bid, payload, _corrupt(proof))]) == 1
    finally:
        ledger.close()
