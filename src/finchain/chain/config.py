"""Per-node configuration, one YAML file per node (written by ``finchain chain init``).

Paths inside the file are relative to the file's directory, so a node directory can be copied to
another host as a whole. Example::

    name: org1-v0
    role: validator            # or observer
    chain_id: finchain-local
    suite: gm
    host: 127.0.0.1            # address to bind
    p2p_port: 27000
    rpc_port: 28000
    data_dir: data
    key: node.key.pem
    certificate: node.cert
    ca: ../ca/ca.cert
    genesis: ../genesis.json
    peers:                     # every other node: where it listens and what it is
      - {name: org2-v1, host: 127.0.0.1, p2p_port: 27001, rpc_port: 28001, role: validator}
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from finchain.chain.errors import ChainError

ROLES = ("validator", "observer")


class ConfigError(ChainError):
    """A node configuration file is missing or malformed."""


@dataclass(frozen=True, slots=True)
class PeerConfig:
    """Another node of the network."""

    name: str
    host: str
    p2p_port: int
    rpc_port: int
    role: str = "validator"


BATCH_VERIFICATION = ("attested", "all")


@dataclass(frozen=True, slots=True)
class MempoolConfig:
    """Admission and batching limits."""

    capacity: int = 200_000  #: transactions admitted and not yet committed
    max_tx_bytes: int = 64 * 1024
    max_request_txs: int = 10_000  #: transactions per sendTransactions call
    block_limit_window: int = 1_000  #: how far ahead of the head a block limit may point
    batch_size: int = 1_000  #: transactions per disseminated batch
    batch_interval_ms: int = 20  #: longest a partial batch waits
    max_block_batches: int = 64  #: batch digests per proposal
    min_block_interval_ms: int = 100  #: a leader waits this long after the previous proposal
    empty_block_interval_ms: int = 250  #: with nothing to order, propose empty blocks this often
    #: peer batches' signatures checked by f + 1 validators that attest them ("attested"), or
    #: by every validator ("all")
    batch_verification: str = "attested"
    #: an unverified peer batch still unattested after this long is checked here
    attest_timeout_ms: int = 2000


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """Everything one node process needs."""

    name: str
    role: str
    chain_id: str
    suite: str
    host: str
    p2p_port: int
    rpc_port: int
    data_dir: Path
    key: Path
    certificate: Path
    ca: Path
    genesis: Path
    peers: tuple[PeerConfig, ...] = ()
    consensus: str = "hotstuff"
    consensus_options: dict[str, Any] = field(default_factory=dict)
    mempool: MempoolConfig = field(default_factory=MempoolConfig)
    crl: Path | None = None
    log_level: str = "INFO"

    @property
    def rpc_url(self) -> str:
        return f"http://{self.host}:{self.rpc_port}"

    def validators(self) -> list[PeerConfig]:
        """All validators including this node when it is one (order is not the replica order)."""
        out = [p for p in self.peers if p.role == "validator"]
        if self.role == "validator":
            out.append(PeerConfig(self.name, self.host, self.p2p_port, self.rpc_port, self.role))
        return out


_PATH_FIELDS = ("data_dir", "key", "certificate", "ca", "genesis", "crl")


def load_config(path: Path) -> NodeConfig:
    """Read a node's YAML file; relative paths are resolved against its directory."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read node config {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"node config {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"node config {path} must be a mapping")
    base = Path(path).resolve().parent
    try:
        values = dict(raw)
        for key in _PATH_FIELDS:
            if values.get(key) is not None:
                values[key] = (base / str(values[key])).resolve()
        values["peers"] = tuple(PeerConfig(**p) for p in values.get("peers", ()))
        values["mempool"] = MempoolConfig(**values.get("mempool", {}))
        config = NodeConfig(**values)
    except (TypeError, KeyError) as exc:
        raise ConfigError(f"node config {path}: {exc}") from exc
    if config.role not in ROLES:
        raise ConfigError(f"node config {path}: role {config.role!r} is not one of {ROLES}")
    if config.mempool.batch_verification not in BATCH_VERIFICATION:
        raise ConfigError(
            f"node config {path}: mempool.batch_verification"
            f" {config.mempool.batch_verification!r} is not one of {BATCH_VERIFICATION}"
        )
    return config


def dump_config(config: NodeConfig, path: Path) -> None:
    """Write ``config`` as YAML with paths relative to ``path``'s directory where possible."""
    base = Path(path).resolve().parent
    values: dict[str, Any] = asdict(config)
    for key in _PATH_FIELDS:
        value = values.get(key)
        if value is not None:
            values[key] = _relative(Path(value), base)
    values["peers"] = [asdict(p) for p in config.peers]
    values["mempool"] = asdict(config.mempool)
    Path(path).write_text(yaml.safe_dump(values, sort_keys=False), encoding="utf-8")


def _relative(target: Path, base: Path) -> str:
    import os

    return os.path.relpath(target.resolve(), base)
