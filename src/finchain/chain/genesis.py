"""Genesis: the chain's founding document, as a dataclass and a canonical JSON file.

A genesis fixes the chain id, the crypto suite (``gm`` or ``intl``), the consensus algorithm and
its configuration, the validators (index, node id, organisation, public key, optional
certificate, host and port), the observers, the member organisations (with admin public keys),
the initial balances of the transfer contract, the application contracts installed from the
start (name → code hash), their call permissions and the governance threshold.

The file is JSON with bytes as lowercase hex; :meth:`Genesis.hash` is the suite hash of the
*canonical* JSON form (keys sorted, no whitespace, UTF-8), so re-indenting the file does not
change the chain. Block 0 is derived from it: its state is :meth:`Genesis.state_writes`, its
header :meth:`Genesis.header` (``block_id`` = genesis hash, empty roots, the state digest of the
genesis writes).

>>> from finchain.crypto import get_suite
>>> suite = get_suite("intl")
>>> k = suite.generate_key().public_key().to_bytes()
>>> g = Genesis(chain_id="demo", suite="intl", validators=(
...     ValidatorSpec(index=0, node_id="v0", org="bank-a", public_key=k, host="127.0.0.1",
...                   port=30300),), members=(MemberSpec(org="bank-a", name="Bank A",
...                   admins=(k,)),))
>>> Genesis.from_json(g.to_json()) == g
True
>>> len(g.hash())
32
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finchain.chain.codec import encode
from finchain.chain.errors import ChainError
from finchain.chain.execution.executor import ZERO_DIGEST, compute_state_digest
from finchain.chain.execution.registry import ContractRegistry
from finchain.chain.storage import BlockStore, state_key
from finchain.chain.types import BlockHeader, suite_hasher
from finchain.crypto import SUITES, CryptoSuite, get_suite
from finchain.crypto.merkle import merkle_root
from finchain.crypto.suite import ADDRESS_LEN

FORMAT_VERSION = 1


class GenesisError(ChainError):
    """A genesis file or object that is malformed or inconsistent."""


def _hex(b: bytes | None) -> str | None:
    return None if b is None else b.hex()


def _unhex(s: Any, what: str) -> bytes:
    if not isinstance(s, str):
        raise GenesisError(f"{what} must be a hex string")
    try:
        return bytes.fromhex(s)
    except ValueError:
        raise GenesisError(f"{what} is not valid hex") from None


def _opt_unhex(s: Any, what: str) -> bytes | None:
    return None if s is None else _unhex(s, what)


@dataclass(frozen=True, slots=True)
class ValidatorSpec:
    """A validator: consensus replica ``index`` (0-based, dense)."""

    index: int
    node_id: str
    org: str
    public_key: bytes
    host: str
    port: int
    cert: bytes | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "cert": _hex(self.cert),
            "host": self.host,
            "index": self.index,
            "node_id": self.node_id,
            "org": self.org,
            "port": self.port,
            "public_key": self.public_key.hex(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ValidatorSpec:
        return cls(
            index=int(d["index"]),
            node_id=str(d["node_id"]),
            org=str(d["org"]),
            public_key=_unhex(d["public_key"], "validator public_key"),
            host=str(d["host"]),
            port=int(d["port"]),
            cert=_opt_unhex(d.get("cert"), "validator cert"),
        )


@dataclass(frozen=True, slots=True)
class ObserverSpec:
    """An observer: follows the chain, checks certificates, serves reads, never votes."""

    node_id: str
    org: str
    public_key: bytes
    host: str
    port: int
    cert: bytes | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "cert": _hex(self.cert),
            "host": self.host,
            "node_id": self.node_id,
            "org": self.org,
            "port": self.port,
            "public_key": self.public_key.hex(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ObserverSpec:
        return cls(
            node_id=str(d["node_id"]),
            org=str(d["org"]),
            public_key=_unhex(d["public_key"], "observer public_key"),
            host=str(d["host"]),
            port=int(d["port"]),
            cert=_opt_unhex(d.get("cert"), "observer cert"),
        )


@dataclass(frozen=True, slots=True)
class MemberSpec:
    """A member organisation and the public keys of its admin accounts."""

    org: str
    name: str
    admins: tuple[bytes, ...]
    cert: bytes | None = None
    roles: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "admins": [a.hex() for a in self.admins],
            "cert": _hex(self.cert),
            "name": self.name,
            "org": self.org,
            "roles": list(self.roles),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MemberSpec:
        return cls(
            org=str(d["org"]),
            name=str(d["name"]),
            admins=tuple(_unhex(a, "member admin key") for a in d["admins"]),
            cert=_opt_unhex(d.get("cert"), "member cert"),
            roles=tuple(str(r) for r in d.get("roles", ())),
        )


@dataclass(frozen=True)
class Genesis:
    """The founding document of a chain (see the module docstring)."""

    chain_id: str
    suite: str = "gm"
    consensus: str = "hotstuff"
    consensus_config: dict[str, Any] = field(default_factory=dict)
    validators: tuple[ValidatorSpec, ...] = ()
    observers: tuple[ObserverSpec, ...] = ()
    members: tuple[MemberSpec, ...] = ()
    #: address (20 bytes) → initial transfer-contract balance, minor units
    balances: tuple[tuple[bytes, int], ...] = ()
    #: application contracts installed at genesis: name → code hash (empty = this node's code)
    contracts: tuple[tuple[str, bytes], ...] = ()
    #: call permissions: contract → (mode, orgs)
    acls: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    governance_threshold: tuple[int, int] = (2, 3)
    timestamp: int = 0
    settings: dict[str, Any] = field(default_factory=dict)

    # -- JSON ----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "acls": {c: {"mode": m, "orgs": list(o)} for c, m, o in self.acls},
            "balances": {a.hex(): v for a, v in self.balances},
            "chain_id": self.chain_id,
            "consensus": {"config": self.consensus_config, "name": self.consensus},
            "contracts": {n: h.hex() for n, h in self.contracts},
            "format": FORMAT_VERSION,
            "governance_threshold": list(self.governance_threshold),
            "members": [m.to_dict() for m in self.members],
            "observers": [o.to_dict() for o in self.observers],
            "settings": self.settings,
            "suite": self.suite,
            "timestamp": self.timestamp,
            "validators": [v.to_dict() for v in self.validators],
        }

    def canonical_json(self) -> bytes:
        """Keys sorted, no whitespace, UTF-8: the bytes :meth:`hash` covers."""
        return json.dumps(
            self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()

    def to_json(self) -> str:
        """Human-readable JSON (indented, keys sorted)."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Genesis:
        try:
            if d.get("format", FORMAT_VERSION) != FORMAT_VERSION:
                raise GenesisError(f"unsupported genesis format {d.get('format')!r}")
            cons = d.get("consensus", {})
            g = cls(
                chain_id=str(d["chain_id"]),
                suite=str(d.get("suite", "gm")),
                consensus=str(cons.get("name", "hotstuff")),
                consensus_config=dict(cons.get("config", {})),
                validators=tuple(ValidatorSpec.from_dict(v) for v in d.get("validators", [])),
                observers=tuple(ObserverSpec.from_dict(o) for o in d.get("observers", [])),
                members=tuple(MemberSpec.from_dict(m) for m in d.get("members", [])),
                balances=tuple(
                    (_unhex(a, "balance address"), v)
                    for a, v in sorted(d.get("balances", {}).items())
                ),
                contracts=tuple(
                    (n, _unhex(h, "contract code hash"))
                    for n, h in sorted(d.get("contracts", {}).items())
                ),
                acls=tuple(
                    (c, str(a["mode"]), tuple(a.get("orgs", ())))
                    for c, a in sorted(d.get("acls", {}).items())
                ),
                governance_threshold=(
                    int(d.get("governance_threshold", [2, 3])[0]),
                    int(d.get("governance_threshold", [2, 3])[1]),
                ),
                timestamp=int(d.get("timestamp", 0)),
                settings=dict(d.get("settings", {})),
            )
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise GenesisError(f"malformed genesis: {exc!r}") from None
        g.validate()
        return g

    @classmethod
    def from_json(cls, text: str | bytes) -> Genesis:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise GenesisError(f"genesis is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise GenesisError("genesis must be a JSON object")
        return cls.from_dict(data)

    def save(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Genesis:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise GenesisError(f"cannot read genesis {path}: {exc.strerror}") from None
        return cls.from_json(text)

    # -- meaning -------------------------------------------------------------------------------
    def get_suite(self) -> CryptoSuite:
        return get_suite(self.suite)

    def hash(self) -> bytes:
        """Suite hash of :meth:`canonical_json`."""
        return bytes(suite_hasher(self.get_suite())(self.canonical_json()))

    def validate(self) -> None:
        """Raise :class:`GenesisError` unless the genesis is self-consistent."""
        if not self.chain_id or len(self.chain_id) > 64:
            raise GenesisError("chain_id must be 1..64 characters")
        if self.suite not in SUITES:
            raise GenesisError(f"suite must be one of {', '.join(SUITES)}, not {self.suite!r}")
        indexes = sorted(v.index for v in self.validators)
        if indexes != list(range(len(self.validators))):
            raise GenesisError("validator indexes must be 0..n-1, each once")
        ids = [v.node_id for v in self.validators] + [o.node_id for o in self.observers]
        if len(set(ids)) != len(ids):
            raise GenesisError("node ids must be unique")
        orgs = [m.org for m in self.members]
        if len(set(orgs)) != len(orgs):
            raise GenesisError("member organisation ids must be unique")
        admins = [a for m in self.members for a in m.admins]
        if len(set(admins)) != len(admins):
            raise GenesisError("an admin key may belong to one organisation only")
        nodes: list[ValidatorSpec | ObserverSpec] = [*self.validators, *self.observers]
        for node in nodes:
            if node.org not in orgs:
                raise GenesisError(f"node {node.node_id} belongs to unknown org {node.org!r}")
            if not 0 < node.port < 65536:
                raise GenesisError(f"node {node.node_id} has an invalid port {node.port}")
        for addr, value in self.balances:
            if len(addr) != ADDRESS_LEN:
                raise GenesisError("balance addresses must be 20 bytes")
            if type(value) is not int or value < 0:
                raise GenesisError("balances must be non-negative integers (minor units)")
        num, den = self.governance_threshold
        if not 0 < num <= den:
            raise GenesisError("governance threshold must satisfy 0 < num <= den")
        for _, mode, _orgs in self.acls:
            if mode not in ("open", "members", "orgs"):
                raise GenesisError(f"unknown ACL mode {mode!r}")
        try:
            encode(self.settings)
            encode(self.consensus_config)
        except ChainError as exc:
            raise GenesisError(f"settings must be canonical data: {exc}") from None
        from finchain.chain.committee import CommitteeError, committee_spec

        try:
            committee_spec(self)
        except CommitteeError as exc:
            raise GenesisError(str(exc)) from None

    def resolved_contracts(self, registry: ContractRegistry) -> list[tuple[str, bytes]]:
        """Installed application contracts with code hashes checked against ``registry``."""
        out = []
        for name, declared in self.contracts:
            if name not in registry:
                raise GenesisError(f"genesis installs {name!r}, which this node does not ship")
            local = registry.code_hash(name)
            if declared and declared != local:
                raise GenesisError(
                    f"genesis installs {name} with code hash {declared.hex()[:16]}…, "
                    f"but this node ships {local.hex()[:16]}…"
                )
            out.append((name, local))
        return out

    def state_writes(self, registry: ContractRegistry) -> dict[bytes, bytes]:
        """The genesis state: members, nodes, installed contracts, ACLs, threshold, balances."""
        from finchain.chain.contracts.transfer import SUPPLY_KEY, balance_key, encode_amount
        from finchain.chain.governance.system import acl_record, member_record, node_record

        suite = self.get_suite()
        h = suite_hasher(suite)
        w: dict[bytes, bytes] = {}
        for m in self.members:
            w[state_key("members", b"org:" + m.org.encode())] = member_record(
                m.org, m.name, list(m.admins), m.cert, list(m.roles)
            )
            for pk in m.admins:
                w[state_key("members", b"acct:" + bytes(h(pk)[-ADDRESS_LEN:]))] = m.org.encode()
        nodes: list[tuple[int, str, ValidatorSpec | ObserverSpec, str]] = [
            (v.index, v.node_id, v, "validator") for v in self.validators
        ]
        nodes += [
            (len(self.validators) + i, o.node_id, o, "observer")
            for i, o in enumerate(self.observers)
        ]
        for index, node_id, spec, role in nodes:
            w[state_key("nodes", b"node:" + node_id.encode())] = node_record(
                node_id,
                org=spec.org,
                role=role,
                public_key=spec.public_key,
                host=spec.host,
                port=spec.port,
                index=index,
                cert=spec.cert,
            )
        w[state_key("nodes", b"next_index")] = encode_amount(len(nodes))
        for name, code in self.resolved_contracts(registry):
            w[state_key("permissions", b"installed:" + name.encode())] = code
        for contract, mode, orgs in self.acls:
            w[state_key("permissions", b"acl:" + contract.encode())] = acl_record(mode, list(orgs))
        w[state_key("governance", b"threshold")] = encode(list(self.governance_threshold))
        for key, value in sorted(self.settings.items()):
            w[state_key("governance", b"setting:" + key.encode())] = encode(value)
        from finchain.chain.committee import committee_key, committee_spec

        committee = committee_spec(self)
        if committee is not None:  # the epoch-0 committee, recorded like every later one
            w[committee_key(0)] = committee.record(0, committee.epoch0_anchor)
        supply = 0
        for addr, value in self.balances:
            if value:
                w[state_key("transfer", balance_key(addr))] = encode_amount(value)
                supply += value
        w[state_key("transfer", SUPPLY_KEY)] = encode_amount(supply)
        return w

    def header(self, registry: ContractRegistry) -> BlockHeader:
        """Block 0."""
        suite = self.get_suite()
        gh = self.hash()
        empty = merkle_root(suite, [])
        digest = compute_state_digest(suite_hasher(suite), ZERO_DIGEST, self.state_writes(registry))
        return BlockHeader(
            height=0,
            parent_hash=ZERO_DIGEST,
            timestamp=self.timestamp,
            proposer=0,
            block_id=gh,
            payload_hash=gh,
            batch_digests=(),
            tx_count=0,
            tx_root=empty,
            receipt_root=empty,
            state_digest=digest,
            proof=b"",
            suite_name=self.suite,
        )

    def initialize(self, store: BlockStore, registry: ContractRegistry) -> BlockHeader:
        """Write block 0 and the genesis state into ``store`` (idempotent for the same genesis)."""
        if store.suite.name != self.suite:
            raise GenesisError(f"store uses suite {store.suite.name}, genesis {self.suite}")
        header = self.header(registry)
        store.init_genesis(self.hash(), header, self.state_writes(registry))
        return header


__all__ = ["Genesis", "GenesisError", "MemberSpec", "ObserverSpec", "ValidatorSpec"]
