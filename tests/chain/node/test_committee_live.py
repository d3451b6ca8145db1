"""Committee rotation live: a 1,000-member genesis whose 7 validator-capable organisations take
turns as a committee of 4, re-drawn every 10 blocks and recorded on chain.

Real processes on loopback (7 candidate nodes and an observer; one candidate is killed in
epoch 1 and restarted in epoch 2). Checked: the chain commits
through several epochs; every epoch's committee read over JSON-RPC equals the sortition
recomputed here from the genesis and the anchor block; membership really changes; transactions
submitted across epoch boundaries (to members, to an off-committee candidate and to the
observer) all commit; every node ends with the same block hashes; a light client proves a
transaction of a late epoch through the committees of the epochs before it. A unit part checks
that a commit proof signed by another epoch's committee (or in another epoch's domain) is refused.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from finchain.chain import network
from finchain.chain.committee import (
    Member,
    epoch_seed,
    layout_consortium,
    members_digest,
    select_committee,
)
from finchain.chain.config import MempoolConfig
from finchain.chain.genesis import Genesis
from finchain.chain.light import LightClient
from finchain.chain.sdk import Client
from finchain.crypto import get_suite

SUITE = get_suite("gm")
EPOCH = 10
EPOCHS = 4  # the chain must reach the last block of epoch 3


class Consortium:
    def __init__(self, directory: Path, info: dict[str, Any]) -> None:
        self.dir = directory
        self.info = info
        self.genesis = Genesis.load(directory / "genesis.json")
        _, self.specs = network.load_network(directory)
        self.admin = SUITE.load_private_key((directory / "users" / "admin.key").read_bytes())

    def node_of(self, org: str) -> str:
        return next(s.name for s in self.specs if s.org == org and s.role == "validator")


@pytest.fixture(scope="module")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    d = tmp_path_factory.mktemp("committee") / "net"
    info = layout_consortium(
        d,
        members=1000,
        committee=4,
        observers=1,
        candidates=7,
        epoch_blocks=EPOCH,
        consensus_options={"base_timeout_ms": 400, "max_timeout_ms": 3000},
        mempool=MempoolConfig(batch_interval_ms=10),
    )
    yield Consortium(d, info)


def _expected(c: Consortium, epoch: int, anchor: bytes) -> list[str]:
    """The committee recomputed from the genesis alone plus the anchor block id."""
    section = c.genesis.settings["committee"]
    candidates = [Member(x["org"], x["weight"]) for x in section["candidates"]]
    orgs = select_committee(
        candidates, section["size"], epoch_seed(c.genesis.chain_id, epoch, anchor)
    )
    return [c.node_of(o) for o in orgs]


@pytest.mark.xdist_group("chain-network")
@pytest.mark.timeout(240)
def test_committee_rotates_live_and_is_recorded_on_chain(consortium: Consortium) -> None:
    c = consortium
    assert len(c.genesis.members) == 1000 and len(c.genesis.validators) == 7
    specs = {s.name: s for s in c.specs}
    try:
        network.up(c.dir, timeout=90)
        asyncio.run(_exercise(c, specs))
    finally:
        network.down(c.dir)


async def _exercise(c: Consortium, specs: dict[str, network.NodeSpec]) -> None:
    names = list(specs)
    observer = next(n for n, s in specs.items() if s.role == "observer")
    bob = SUITE.address(SUITE.generate_key().public_key())
    target = EPOCHS * EPOCH + 2
    hashes: list[bytes] = []
    async with Client(specs[names[0]].rpc_url) as first:
        account = first.account(c.admin)
        turn = 0
        # one candidate is down from epoch 1 into epoch 2, then restarts and catches up
        down = names[1]
        stopped = restarted = False
        # a few transfers per wave, to a different node each time, until epoch 3 is over
        while (height := await first.height()) < target:
            if not stopped and height >= EPOCH + 2:
                network.stop_node(c.dir, down, kill=True)
                stopped = True
            if stopped and not restarted and height >= 2 * EPOCH + 5:
                network.start_node(c.dir, down)
                restarted = True
            via = names[turn % len(names)]
            turn += 1
            if via == down and stopped:
                continue
            txs = await account.transactions(
                [("transfer", "transfer", {"to": bob, "amount": 1})] * 3
            )
            async with Client(specs[via].rpc_url) as node:
                await node.submit(txs)
            hashes += [t.hash for t in txs]
            await asyncio.sleep(0.3)
        assert restarted
        receipts = await first.wait_receipts(hashes, timeout=90)
        assert all(r is not None and r["ok"] for r in receipts)
        heights = {r["height"] for r in receipts if r is not None}
        assert len({(h - 1) // EPOCH for h in heights}) >= 3  # committed in >= 3 epochs

        # every epoch's committee on chain equals the draw recomputed from genesis + anchor
        anchor = members_digest([(m.org, m.cert or b"") for m in c.genesis.members])
        committees = []
        for epoch in range(EPOCHS + 1):
            if epoch:
                head = await first.header(epoch * EPOCH)
                anchor = bytes.fromhex(head["blockId"][2:])
            on_chain = await first.committee(epoch)
            assert on_chain["anchor"] == "0x" + anchor.hex()
            got = [m["node"] for m in on_chain["members"]]
            assert got == _expected(c, epoch, anchor)
            assert on_chain["firstHeight"] == epoch * EPOCH + 1
            committees.append(got)
        assert any(set(a) != set(b) for a, b in itertools.pairwise(committees))
        # the proposers of each epoch's blocks are replicas of that epoch's committee
        for epoch in range(EPOCHS):
            block = await first.header(epoch * EPOCH + 3)
            assert 0 <= block["proposer"] < 4

        # a light client proves a late transaction through every epoch's committee
        late = max((r for r in receipts if r is not None), key=lambda r: (r["height"], r["index"]))
        assert (late["height"] - 1) // EPOCH >= 3
        light = LightClient(c.genesis)
        proved = await light.prove(first, late["txHash"])
        assert proved.receipt.ok

    # all nodes (members, off-committee candidates, the observer) end with identical blocks
    top = target
    for name in names:
        async with Client(specs[name].rpc_url) as node:
            for _ in range(600):
                if await node.height() >= top:
                    break
                await asyncio.sleep(0.1)
    ids: dict[str, list[str]] = {}
    for name in names:
        async with Client(specs[name].rpc_url) as node:
            ids[name] = [(await node.header(h))["hash"] for h in range(1, top + 1)]
            status = await node.status()
            assert status["epoch"] >= EPOCHS
    assert len({tuple(v) for v in ids.values()}) == 1, "nodes disagree on the chain"
    async with Client(specs[observer].rpc_url) as o:  # the observer recorded the same draws
        for epoch, expected in enumerate(committees):
            assert [m["node"] for m in (await o.committee(epoch))["members"]] == expected


def test_commit_proof_of_another_epochs_committee_is_refused(consortium: Consortium) -> None:
    """Ledger.verify_commit checks a height against its epoch's committee and domain."""
    from dataclasses import replace

    from finchain.chain import ledger_port
    from finchain.chain.committee import epoch_chain_id
    from finchain.chain.config import load_config
    from finchain.chain.consensus import hotstuff as hs
    from finchain.chain.types import Payload

    c = consortium
    name = next(s.name for s in c.specs if s.role == "validator")
    cfg = load_config(network.node_config_path(c.dir, name))
    scratch = c.dir.parent / "unit-ledger"
    ledger = ledger_port.open_ledger(replace(cfg, data_dir=scratch))
    try:
        spec = ledger.committee_spec
        assert spec is not None
        rec = ledger.committee(0)
        assert rec is not None and ledger.committee(1) is None
        keys = {
            s.name: SUITE.load_private_key((c.dir / "nodes" / s.name / "node.key").read_bytes())
            for s in c.specs
            if s.role == "validator"
        }
        payload = Payload(0, 1, ()).encode()

        def proof(signers: list[str], config: Any) -> tuple[bytes, bytes]:
            root = hs.genesis_header(config).compute_id(config)
            h1 = hs.Header(1, 1, root, 1, config.hash(payload), root, 0)
            id1 = h1.compute_id(config)
            h2 = hs.Header(2, 2, id1, 2, config.hash(b""), id1, 1)
            id2 = h2.compute_id(config)

            def qc(r: int, bid: bytes) -> hs.QC:
                data = hs.vote_data(config, r, bid)
                votes = [(i, SUITE.sign(keys[n], data)) for i, n in enumerate(signers)][:3]
                return hs.QC(r, bid, tuple(votes))

            return id1, hs.encode_proof([h1, h2], qc(1, id1), qc(2, id2))

        right = ledger.epoch_config(0)
        bid, good = proof(list(rec.nodes), right)
        assert ledger.verify_commit(1, bid, payload, good)
        # another epoch's committee: a draw from a different anchor with other members
        other = next(
            d
            for a in range(100)
            if set(d := spec.draw(1, bytes([a]) * 32)[:3]) != set(rec.orgs[:3])
        )
        other_nodes = [spec.nodes[o][0] for o in other]
        bid, bad = proof(other_nodes, right)
        assert not ledger.verify_commit(1, bid, payload, bad)
        # the right committee, but votes in epoch 1's domain
        wrong_domain = replace(right, chain_id=epoch_chain_id(c.genesis.chain_id, 1, b"\x01"))
        bid, bad = proof(list(rec.nodes), wrong_domain)
        assert not ledger.verify_commit(1, bid, payload, bad)
        # and a height of an epoch whose committee is not on chain yet is refused outright
        bid, good = proof(list(rec.nodes), right)
        assert not ledger.verify_commit(EPOCH + 1, bid, payload, good)
    finally:
        ledger.close()


def test_committee_section_is_refused_where_it_cannot_work(consortium: Consortium) -> None:
    """PBFT and Raft do not rotate committees (yet): a genesis asking for it is refused with a
    clear error, as are a committee bigger than its candidates and a candidate without a node."""
    from dataclasses import replace

    from finchain.chain.genesis import GenesisError

    g = consortium.genesis
    section = g.settings["committee"]
    for algorithm in ("pbft", "raft"):
        with pytest.raises(GenesisError, match="hotstuff only"):
            replace(g, consensus=algorithm).validate()
    with pytest.raises(GenesisError, match="from only 7 members"):
        replace(g, settings={"committee": {**section, "size": 8, "epoch0": []}}).validate()
    stranger = {"org": "member0999", "weight": 1}
    with pytest.raises(GenesisError, match="needs exactly one validator node"):
        bad = {**section, "candidates": [*section["candidates"], stranger]}
        replace(g, settings={"committee": bad}).validate()
    # without "candidates" the section only documents a fixed epoch-0 draw (no rotation)
    fixed = {k: v for k, v in section.items() if k != "candidates"}
    replace(g, settings={"committee": fixed}).validate()


def test_cli_lays_out_a_rotating_consortium(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`finchain chain init --profile consortium` writes a live committee genesis."""
    from finchain.cli.main import main

    d = tmp_path / "cons"
    argv = ["chain", "init", str(d), "--profile", "consortium", "--members", "60"]
    argv += ["--candidates", "5", "--committee", "4", "--epoch-blocks", "25"]
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code in (0, None), capsys.readouterr().err
    capsys.readouterr()
    g = Genesis.load(d / "genesis.json")
    section = g.settings["committee"]
    assert len(g.members) == 60 and len(g.validators) == 5
    assert section["size"] == 4 and section["epoch_blocks"] == 25
    assert [x["org"] for x in section["candidates"]] == sorted(v.org for v in g.validators)
    with pytest.raises(SystemExit) as stop:
        main([*argv[:2], str(tmp_path / "other"), *argv[3:], "--consensus", "pbft"])
    assert stop.value.code not in (0, None)
    err = capsys.readouterr().err
    assert "hotstuff" in err  # the reason (in typer's error box)
    assert not (tmp_path / "other").exists()
