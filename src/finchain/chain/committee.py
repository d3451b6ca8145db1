"""Validator committees for large consortia: drawn from the member set, rotated by epoch.

A consortium of 1,000+ member organisations cannot run BFT agreement among all of them (message
cost grows with n²), so each epoch a committee of ``size`` organisations is drawn from the
members and runs consensus; every other member follows as an observer. The draw is a pure
function of what every node already holds on chain, so any node (or auditor) recomputes it:

* ``seed(epoch) = SM3("finchain/committee/v1" | chain_id | epoch (8 bytes, big-endian) | anchor)``
  where ``anchor`` is the consensus block id of the last block of the previous epoch (for epoch
  0: ``epoch0_anchor`` of the genesis, the members' digest) — fixed by consensus before the
  epoch starts, unknown before the previous epoch ends (the block id, not the header hash: the
  header's state digest covers the committee record the draw writes);
* **weighted sortition without replacement**, integers only: for draw ``i`` take
  ``r = SM3(seed | i | k)`` as a 256-bit integer, reject it (``k += 1``) when it falls in the
  incomplete top range (no modulo bias), pick the member whose cumulative-weight interval holds
  ``r mod W`` (``W`` = weight still in the pool), remove it and repeat. Members are sorted by
  organisation id first, so the input order never matters. With equal weights this is a uniform
  random ``size``-subset; with weights (stake, votes) it is the standard "draw proportional to
  weight, then remove" scheme. The committee is returned in draw order, which is its replica
  order for the epoch.

>>> members = [Member(f"bank{i:04d}") for i in range(1000)]
>>> s = epoch_seed("gba", 7, b"\\x00" * 32)
>>> c = select_committee(members, 10, s)
>>> len(c), len(set(c)), c == select_committee(list(reversed(members)), 10, s)
(10, 10, True)
>>> rotation(c, select_committee(members, 10, epoch_seed("gba", 8, b"\\x01" * 32)))["kept"] <= 10
True
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any

from finchain.chain.errors import ChainError

DOMAIN = b"finchain/committee/v1"
_SPACE = 1 << 256


class CommitteeError(ChainError):
    """A committee cannot be drawn (bad size, duplicate or weightless members)."""


@dataclass(frozen=True, slots=True)
class Member:
    """A member organisation eligible for the committee, with a positive integer ``weight``."""

    org: str
    weight: int = 1


def _sm3(data: bytes) -> bytes:
    from finchain.crypto import get_suite

    return get_suite("gm").hash(data)


def epoch_seed(chain_id: str, epoch: int, anchor: bytes) -> bytes:
    """The sortition seed of ``epoch``: SM3 over the domain, chain id, epoch and ``anchor`` (the
    block id of the previous epoch's last block; the genesis ``epoch0_anchor`` for epoch 0).

    >>> epoch_seed("c", 0, b"g").hex()[:16] == epoch_seed("c", 0, b"g").hex()[:16]
    True
    >>> epoch_seed("c", 0, b"g") != epoch_seed("c", 1, b"g")
    True
    """
    if epoch < 0:
        raise CommitteeError(f"epoch must be >= 0, got {epoch}")
    cid = chain_id.encode()
    return _sm3(DOMAIN + len(cid).to_bytes(2, "big") + cid + epoch.to_bytes(8, "big") + anchor)


def epoch_of(height: int, epoch_blocks: int) -> int:
    """The epoch a block belongs to; heights ``1..epoch_blocks`` are epoch 0.

    >>> [epoch_of(h, 100) for h in (1, 100, 101, 250)]
    [0, 0, 1, 2]
    """
    if epoch_blocks < 1:
        raise CommitteeError("epoch_blocks must be >= 1")
    return max(0, height - 1) // epoch_blocks


def anchor_height(epoch: int, epoch_blocks: int) -> int:
    """The block whose id anchors ``epoch``'s seed (0: the genesis ``epoch0_anchor``).

    >>> anchor_height(0, 100), anchor_height(3, 100)
    (0, 300)
    """
    return epoch * epoch_blocks


def select_committee(members: Sequence[Member], size: int, seed: bytes) -> tuple[str, ...]:
    """``size`` distinct organisations drawn by weighted sortition from ``members`` (see the
    module docstring); a pure function of its arguments."""
    if size < 1:
        raise CommitteeError(f"committee size must be >= 1, got {size}")
    pool = sorted(members, key=lambda m: m.org)
    if len({m.org for m in pool}) != len(pool):
        raise CommitteeError("members must be distinct organisations")
    if size > len(pool):
        raise CommitteeError(f"committee of {size} from only {len(pool)} members")
    for m in pool:
        if not isinstance(m.weight, int) or m.weight < 1:
            raise CommitteeError(f"member {m.org} needs a positive integer weight")
    orgs = [m.org for m in pool]
    weights = [m.weight for m in pool]
    chosen: list[str] = []
    for draw in range(size):
        cumulative = list(accumulate(weights))
        total = cumulative[-1]
        limit = _SPACE - (_SPACE % total)
        k = 0
        while True:
            r = int.from_bytes(_sm3(seed + draw.to_bytes(4, "big") + k.to_bytes(4, "big")), "big")
            if r < limit:
                break
            k += 1  # pragma: no cover - probability < total / 2**256
        i = bisect.bisect_right(cumulative, r % total)
        chosen.append(orgs.pop(i))
        weights.pop(i)
    return tuple(chosen)


def rotation(old: Sequence[str], new: Sequence[str]) -> dict[str, int]:
    """How many organisations a rotation keeps, adds and removes.

    >>> rotation(["a", "b", "c"], ["c", "d", "e"])
    {'kept': 1, 'added': 2, 'removed': 2}
    """
    a, b = set(old), set(new)
    return {"kept": len(a & b), "added": len(b - a), "removed": len(a - b)}


@dataclass(frozen=True)
class CommitteeSchedule:
    """Committees of one chain: ``size`` validators, re-drawn every ``epoch_blocks`` blocks.

    >>> sched = CommitteeSchedule("gba", tuple(Member(f"m{i}") for i in range(50)), 4, 100)
    >>> sched.committee(0, b"genesis") == sched.committee(0, b"genesis")
    True
    >>> sched.epoch_for_height(250)
    2
    """

    chain_id: str
    members: tuple[Member, ...]
    size: int
    epoch_blocks: int

    def epoch_for_height(self, height: int) -> int:
        return epoch_of(height, self.epoch_blocks)

    def committee(self, epoch: int, anchor: bytes) -> tuple[str, ...]:
        """The committee of ``epoch`` given the hash of block ``anchor_height(epoch)``."""
        return select_committee(self.members, self.size, epoch_seed(self.chain_id, epoch, anchor))


# -- live rotation: the genesis committee section and the on-chain record ----------------------


@dataclass(frozen=True)
class CommitteeSpec:
    """The live committee section of a genesis (``settings["committee"]`` with ``candidates``).

    ``candidates`` are the organisations that run a validator-capable node (exactly one each,
    listed among the genesis validators); every ``epoch_blocks`` blocks a committee of ``size``
    of them is drawn and runs consensus for the next epoch. ``epoch0_anchor`` seeds epoch 0.
    """

    chain_id: str
    size: int
    epoch_blocks: int
    candidates: tuple[Member, ...]
    epoch0_anchor: bytes
    #: candidate organisation -> (node id, raw public key) of its validator-capable node
    nodes: dict[str, tuple[str, bytes]]

    def draw(self, epoch: int, anchor: bytes) -> tuple[str, ...]:
        """Organisations of ``epoch``'s committee, in draw (= replica) order."""
        return select_committee(
            self.candidates, self.size, epoch_seed(self.chain_id, epoch, anchor)
        )

    def record(self, epoch: int, anchor: bytes) -> bytes:
        """The state value written for ``epoch``: ``[epoch, anchor, [[org, node, key]…]]``."""
        from finchain.chain.codec import encode

        rows = [[org, *self.nodes[org]] for org in self.draw(epoch, anchor)]
        return encode([epoch, anchor, rows])

    def first_height(self, epoch: int) -> int:
        return epoch * self.epoch_blocks + 1

    def last_height(self, epoch: int) -> int:
        return (epoch + 1) * self.epoch_blocks


@dataclass(frozen=True)
class CommitteeRecord:
    """An epoch's committee as recorded on chain (decoded)."""

    epoch: int
    anchor: bytes
    orgs: tuple[str, ...]
    nodes: tuple[str, ...]
    keys: tuple[bytes, ...]

    @classmethod
    def decode(cls, raw: bytes) -> CommitteeRecord:
        from finchain.chain.codec import decode

        epoch, anchor, rows = decode(raw)
        return cls(
            int(epoch),
            bytes(anchor),
            tuple(str(r[0]) for r in rows),
            tuple(str(r[1]) for r in rows),
            tuple(bytes(r[2]) for r in rows),
        )


def committee_key(epoch: int) -> bytes:
    """State key of ``epoch``'s committee record (governance namespace, ``committee/<epoch>``)."""
    from finchain.chain.storage import state_key

    return bytes(state_key("governance", b"committee/" + str(epoch).encode()))


def epoch_chain_id(chain_id: str, epoch: int, anchor: bytes) -> bytes:
    """The consensus domain of one epoch's instance: votes, timeouts and block ids of one epoch
    are worthless in any other (and the instance's implicit root binds the anchor block)."""
    return chain_id.encode() + b"/epoch/" + str(epoch).encode() + b"/" + anchor.hex().encode()


def committee_spec(genesis: Any) -> CommitteeSpec | None:
    """The live committee section of ``genesis``, or ``None`` (a fixed validator set).

    Raises :class:`CommitteeError` when the section is malformed."""
    section = genesis.settings.get("committee")
    if not isinstance(section, dict) or "candidates" not in section:
        return None
    try:
        size = int(section["size"])
        epoch_blocks = int(section["epoch_blocks"])
        candidates = tuple(
            Member(str(c["org"]), int(c.get("weight", 1))) for c in section["candidates"]
        )
        anchor = bytes.fromhex(str(section["epoch0_anchor"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise CommitteeError(f"malformed committee section: {exc!r}") from None
    if genesis.consensus != "hotstuff":
        raise CommitteeError(
            f"committee rotation is implemented for hotstuff only, not {genesis.consensus!r}"
        )
    if epoch_blocks < 2:
        raise CommitteeError("committee epoch_blocks must be >= 2")
    by_org: dict[str, list[Any]] = {}
    for v in genesis.validators:
        by_org.setdefault(v.org, []).append(v)
    nodes: dict[str, tuple[str, bytes]] = {}
    for c in candidates:
        found = by_org.get(c.org, [])
        if len(found) != 1:
            raise CommitteeError(
                f"committee candidate {c.org} needs exactly one validator node, has {len(found)}"
            )
        nodes[c.org] = (found[0].node_id, found[0].public_key)
    if len(candidates) != len(genesis.validators):
        raise CommitteeError("with a committee, every validator node must belong to a candidate")
    spec = CommitteeSpec(genesis.chain_id, size, epoch_blocks, candidates, anchor, nodes)
    first = spec.draw(0, anchor)  # size, duplicates and weights checked here
    if "epoch0" in section and list(section["epoch0"]) != list(first):
        raise CommitteeError("committee epoch0 does not match the draw from epoch0_anchor")
    return spec


def members_digest(members: Sequence[tuple[str, bytes]]) -> bytes:
    """SM3 over the sorted ``(org, certificate bytes)`` pairs: the anchor of epoch 0 (the genesis
    hash cannot be, since the genesis names the epoch-0 committee)."""
    h = bytearray(DOMAIN + b"/members")
    for org, cert in sorted(members):
        o = org.encode()
        h += len(o).to_bytes(2, "big") + o + len(cert).to_bytes(4, "big") + cert
    return _sm3(bytes(h))


def layout_consortium(
    directory: Path,
    *,
    members: int = 1000,
    committee: int = 4,
    observers: int = 1,
    suite: str = "gm",
    consensus: str = "hotstuff",
    epoch_blocks: int = 1000,
    chain_id: str = "finchain-consortium",
    consensus_options: dict[str, Any] | None = None,
    mempool: Any = None,
    candidates: int = 0,
) -> dict[str, Any]:
    """A network whose genesis lists ``members`` organisations, each with a certificate issued
    by the consortium root, and whose validators are the epoch-0 committee drawn from them.

    Same directory layout as :func:`finchain.chain.network.init_network` (so ``network.up`` /
    ``down`` work): the committee organisations get an organisation CA and one validator node
    each; ``observers`` observer nodes go to the first organisations not on the committee. The
    genesis ``settings["committee"]`` records the schedule (size, epoch length, seed domain,
    epoch-0 anchor) so any node recomputes every later committee. Returns a summary with the
    committee and the time each step took.

    ``candidates = 0``: the epoch-0 committee is drawn from all members and validates for good
    (a fixed validator set). ``candidates = k > 0``: the first ``k`` organisations each run a
    validator-capable node, the genesis gets a live committee section (see
    :class:`CommitteeSpec`) and the node rotates the committee every ``epoch_blocks`` blocks.
    """
    import time

    import yaml

    from finchain.chain import network
    from finchain.chain.config import MempoolConfig, NodeConfig, PeerConfig, dump_config
    from finchain.chain.genesis import Genesis, MemberSpec, ObserverSpec, ValidatorSpec
    from finchain.crypto import get_suite
    from finchain.crypto.ca import CertificateAuthority

    directory = Path(directory)
    if (directory / "network.yaml").exists():
        raise CommitteeError(f"{directory} already holds a network; choose an empty directory")
    if committee < 1 or members < max(committee, candidates) + observers:
        raise CommitteeError(
            f"need a committee of >= 1 and members >= max(committee, candidates) + observers"
            f" (members {members}, committee {committee}, candidates {candidates},"
            f" observers {observers})"
        )
    if candidates and candidates < committee:
        raise CommitteeError(f"a committee of {committee} needs >= {committee} candidates")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    s = get_suite(suite)
    directory.mkdir(parents=True, exist_ok=True)
    root = CertificateAuthority.create(directory / "ca" / "root", org="consortium", suite=suite)
    (directory / "ca" / "trust.pem").write_text(root.certificate.to_pem(), encoding="utf-8")
    (directory / "ca" / "crl.pem").write_text(root.crl().to_pem(), encoding="utf-8")
    orgs = [f"member{i:04d}" for i in range(members)]
    member_keys = {}
    member_certs: dict[str, bytes] = {}
    cert_objects = {}
    for org in orgs:
        key = s.generate_key()
        member_keys[org] = key
        cert = root.issue(org=org, role="ca", name="ca", public_key=key.public_key(), days=3650)
        cert_objects[org] = cert
        member_certs[org] = cert.to_bytes()
    timings["certify_members_s"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    anchor = members_digest(list(member_certs.items()))
    pool = orgs[:candidates] if candidates else orgs
    chosen = select_committee([Member(o) for o in pool], committee, epoch_seed(chain_id, 0, anchor))
    timings["draw_committee_s"] = time.perf_counter() - t1
    validator_orgs = list(pool) if candidates else list(chosen)
    others = [o for o in orgs if o not in set(validator_orgs)][:observers]
    roles = [(o, "validator", i) for i, o in enumerate(validator_orgs)]
    roles += [(o, "observer", i) for i, o in enumerate(others)]
    ports = network.free_ports(2 * len(roles))
    specs = [
        network.NodeSpec(
            f"{org}-{'v' if role == 'validator' else 'o'}{i}",
            org,
            role,
            "127.0.0.1",
            ports[j],
            ports[len(roles) + j],
        )
        for j, (org, role, i) in enumerate(roles)
    ]
    node_keys = {}
    for spec in specs:
        # the member's own CA key (certified above) issues its node certificate
        org_dir = directory / "ca" / spec.org
        org_dir.mkdir(parents=True, exist_ok=True)
        org_ca = _org_ca(org_dir, member_keys[spec.org], cert_objects[spec.org], root)
        node_dir = directory / "nodes" / spec.name
        node_dir.mkdir(parents=True, exist_ok=True)
        key = s.generate_key()
        node_keys[spec.name] = key
        cert = org_ca.issue(
            org=spec.org,
            role="node",
            name=spec.name,
            public_key=key.public_key(),
            node_type=spec.role,
            days=3650,
        )
        _write_private(node_dir / "node.key", key.to_pem())
        (node_dir / "node.cert").write_text(
            cert.to_pem() + org_ca.certificate.to_pem(), encoding="utf-8"
        )
    admin = s.generate_key()
    (directory / "users").mkdir(exist_ok=True)
    _write_private(directory / "users" / "admin.key", admin.to_pem())
    genesis = Genesis(
        chain_id=chain_id,
        suite=suite,
        consensus=consensus,
        consensus_config=dict(consensus_options or {}),
        validators=tuple(
            ValidatorSpec(
                index=i,
                node_id=sp.name,
                org=sp.org,
                public_key=node_keys[sp.name].public_key().to_bytes(),
                host=sp.host,
                port=sp.p2p_port,
            )
            for i, sp in enumerate(sp for sp in specs if sp.role == "validator")
        ),
        observers=tuple(
            ObserverSpec(
                node_id=sp.name,
                org=sp.org,
                public_key=node_keys[sp.name].public_key().to_bytes(),
                host=sp.host,
                port=sp.p2p_port,
            )
            for sp in specs
            if sp.role == "observer"
        ),
        members=tuple(
            MemberSpec(
                org=o,
                name=o,
                admins=(admin.public_key().to_bytes(),) if i == 0 else (),
                cert=member_certs[o],
            )
            for i, o in enumerate(orgs)
        ),
        balances=((s.address(admin.public_key()), 10**15),),
        contracts=(("transfer", b""),),
        acls=(("transfer", "open", ()),),
        timestamp=int(time.time() * 1000),
        settings={
            "committee": {
                "size": committee,
                "epoch_blocks": epoch_blocks,
                "domain": DOMAIN.decode(),
                "epoch0_anchor": anchor.hex(),
                "epoch0": list(chosen),
                **({"candidates": [{"org": o, "weight": 1} for o in pool]} if candidates else {}),
            }
        },
    )
    genesis.validate()
    genesis.save(directory / "genesis.json")
    for spec in specs:
        node_dir = directory / "nodes" / spec.name
        config = NodeConfig(
            name=spec.name,
            role=spec.role,
            chain_id=chain_id,
            suite=suite,
            host=spec.host,
            p2p_port=spec.p2p_port,
            rpc_port=spec.rpc_port,
            data_dir=node_dir / "data",
            key=node_dir / "node.key",
            certificate=node_dir / "node.cert",
            ca=directory / "ca" / "trust.pem",
            crl=directory / "ca" / "crl.pem",
            genesis=directory / "genesis.json",
            peers=tuple(
                PeerConfig(p.name, p.host, p.p2p_port, p.rpc_port, p.role)
                for p in specs
                if p.name != spec.name
            ),
            consensus=consensus,
            mempool=mempool or MempoolConfig(),
        )
        dump_config(config, node_dir / "node.yaml")
    summary = {
        "chain_id": chain_id,
        "suite": suite,
        "consensus": consensus,
        "nodes": [
            {
                "name": p.name,
                "org": p.org,
                "role": p.role,
                "host": p.host,
                "p2p_port": p.p2p_port,
                "rpc_port": p.rpc_port,
            }
            for p in specs
        ],
    }
    (directory / "network.yaml").write_text(
        yaml.safe_dump(summary, sort_keys=False), encoding="utf-8"
    )
    timings["total_s"] = time.perf_counter() - t0
    return {
        "committee": list(chosen),
        "candidates": list(pool) if candidates else [],
        "observers": others,
        "anchor": anchor.hex(),
        "genesis_bytes": (directory / "genesis.json").stat().st_size,
        **timings,
    }


def _org_ca(directory: Path, key: Any, cert: Any, root: Any) -> Any:
    """An organisation CA object over a member key whose certificate the root issued."""
    import json

    from finchain.crypto.ca import CertificateAuthority

    (directory / "ca.cert").write_text(cert.to_pem(), encoding="utf-8")
    (directory / "chain.cert").write_text(root.certificate.to_pem(), encoding="utf-8")
    (directory / "state.json").write_text(
        json.dumps({"next_serial": 1, "revoked": [], "crl_number": 0}), encoding="utf-8"
    )
    _write_private(directory / "ca.key", key.to_pem())
    return CertificateAuthority(directory, key, cert, (root.certificate,))


def _write_private(path: Path, data: bytes) -> None:
    import os

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
