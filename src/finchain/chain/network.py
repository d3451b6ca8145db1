"""A local multi-process network: lay it out (``init``), start (``up``), stop (``down``), inspect.

``init`` writes into one directory::

    DIR/network.yaml            suite, consensus, every node (name, org, role, host, ports)
    DIR/genesis.json            the chain's genesis (validators in replica order, members, …)
    DIR/ca/root/                the consortium root CA (ca.key, ca.cert, crl.pem, state.json)
    DIR/ca/<org>/               one organisation CA per member bank, issued by the root
    DIR/ca/trust.pem            what every node trusts: the root certificate
    DIR/ca/crl.pem              the root's revocation list
    DIR/nodes/<name>/node.yaml  that node's config (paths relative to it)
    DIR/nodes/<name>/node.key   its SM2 (or P-256) key, PKCS#8 PEM, mode 0600
    DIR/nodes/<name>/node.cert  its member certificate followed by its organisation CA's
    DIR/nodes/<name>/data/      its LMDB ledger and logs
    DIR/users/admin.key         a funded client key, org1's admin (``finchain tx send``, tests)
    DIR/users/orgN-admin.key    the admin key of each other organisation (governance votes)

``up`` starts each node as its own OS process (``python -m finchain.chain node.yaml``), records
pids in ``DIR/pids.json`` and waits until every node answers ``/health``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from finchain.chain.config import MempoolConfig, NodeConfig, PeerConfig, dump_config
from finchain.chain.errors import ChainError


class NetworkError(ChainError):
    """A local network cannot be laid out, started or reached."""


@dataclass(frozen=True, slots=True)
class NodeSpec:
    name: str
    org: str
    role: str
    host: str
    p2p_port: int
    rpc_port: int

    @property
    def rpc_url(self) -> str:
        return f"http://{self.host}:{self.rpc_port}"


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct ports the OS reports free right now."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def plan_nodes(
    *, orgs: int, validators: int, observers: int, host: str, base_port: int
) -> list[NodeSpec]:
    """Names, organisations and ports: validators spread round-robin over organisations."""
    if orgs < 1:
        raise NetworkError(f"need at least one organisation (--orgs {orgs})")
    if validators < 1:
        raise NetworkError(f"need at least one validator (--validators {validators})")
    if observers < 0:
        raise NetworkError(f"the number of observers cannot be negative (--observers {observers})")
    total = validators + observers
    if base_port and not 1 <= base_port <= 65536 - 2 * total:
        raise NetworkError(
            f"--base-port {base_port}: {2 * total} ports from it must lie in 1..65535"
            f" (at most {65536 - 2 * total})"
        )
    if base_port:
        ports = [base_port + i for i in range(2 * total)]
    else:
        ports = free_ports(2 * total, host)
    out = []
    for i in range(total):
        role = "validator" if i < validators else "observer"
        org = f"org{(i % orgs) + 1}"
        number = i if role == "validator" else i - validators
        name = f"{org}-{'v' if role == 'validator' else 'o'}{number}"
        out.append(NodeSpec(name, org, role, host, ports[i], ports[total + i]))
    return out


def check_consensus(name: str) -> None:
    """:class:`NetworkError` naming the valid algorithms unless ``name`` is one."""
    from finchain.chain.consensus import ALGORITHMS

    if name not in ALGORITHMS:
        raise NetworkError(f"unknown consensus {name!r}; choose one of {', '.join(ALGORITHMS)}")


def port_in_use(host: str, port: int) -> bool:
    """Whether binding ``host:port`` fails right now (someone listens or holds it)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        # as the node's servers do: a port in TIME_WAIT is free to them, so it is free here
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def busy_ports(specs: Sequence[NodeSpec]) -> list[str]:
    """``"port N (node kind)"`` for every p2p/RPC port of ``specs`` that cannot be bound now."""
    out = []
    for spec in specs:
        for kind, port in (("p2p", spec.p2p_port), ("rpc", spec.rpc_port)):
            if port_in_use(spec.host, port):
                out.append(f"port {port} ({spec.name} {kind})")
    return out


def init_network(
    directory: Path,
    *,
    orgs: int,
    validators: int,
    observers: int,
    suite: str,
    consensus: str = "hotstuff",
    base_port: int = 0,
    host: str = "127.0.0.1",
    chain_id: str = "finchain-local",
    mempool: MempoolConfig | None = None,
    consensus_options: dict[str, Any] | None = None,
    bench_accounts: Sequence[bytes] = (),
    bench_balance: int = 10**12,
    admin_balance: int = 10**15,
) -> list[NodeSpec]:
    """Keys, CAs, certificates, genesis and per-node configs for a new network in ``directory``."""
    from finchain.chain import ledger_port
    from finchain.crypto import get_suite
    from finchain.crypto.ca import CertificateAuthority

    directory = Path(directory)
    if (directory / "network.yaml").exists():
        raise NetworkError(f"{directory} already holds a network; choose an empty directory")
    check_consensus(consensus)
    s = get_suite(suite)
    specs = plan_nodes(
        orgs=orgs, validators=validators, observers=observers, host=host, base_port=base_port
    )
    directory.mkdir(parents=True, exist_ok=True)
    root = CertificateAuthority.create(directory / "ca" / "root", org="consortium", suite=suite)
    org_cas = {
        f"org{i + 1}": CertificateAuthority.create(
            directory / "ca" / f"org{i + 1}", org=f"org{i + 1}", suite=suite, parent=root
        )
        for i in range(orgs)
    }
    (directory / "ca" / "trust.pem").write_text(root.certificate.to_pem(), encoding="utf-8")
    (directory / "ca" / "crl.pem").write_text(root.crl().to_pem(), encoding="utf-8")
    keys = {}
    for spec in specs:
        node_dir = directory / "nodes" / spec.name
        node_dir.mkdir(parents=True, exist_ok=True)
        key = s.generate_key()
        keys[spec.name] = key
        ca = org_cas[spec.org]
        cert = ca.issue(
            org=spec.org,
            role="node",
            name=spec.name,
            public_key=key.public_key(),
            node_type=spec.role,
            days=3650,
        )
        _write_private(node_dir / "node.key", key.to_pem())
        (node_dir / "node.cert").write_text(
            cert.to_pem() + ca.certificate.to_pem(), encoding="utf-8"
        )
    users = directory / "users"
    users.mkdir(exist_ok=True)
    admin = s.generate_key()
    _write_private(users / "admin.key", admin.to_pem())
    # every other organisation gets its own admin key, so governance (one vote per
    # organisation, 2/3 by default) can pass on a multi-organisation network
    org_admins = []
    for i in range(2, orgs + 1):
        key = s.generate_key()
        _write_private(users / f"org{i}-admin.key", key.to_pem())
        org_admins.append(key.public_key().to_bytes())
    ledger_port.write_genesis(
        directory / "genesis.json",
        chain_id=chain_id,
        suite=suite,
        consensus=consensus,
        validators=[
            (sp.name, sp.org, keys[sp.name].public_key().to_bytes(), sp.host, sp.p2p_port)
            for sp in specs
            if sp.role == "validator"
        ],
        observers=[
            (sp.name, sp.org, keys[sp.name].public_key().to_bytes(), sp.host, sp.p2p_port)
            for sp in specs
            if sp.role == "observer"
        ],
        orgs=[f"org{i + 1}" for i in range(orgs)],
        admin=admin.public_key().to_bytes(),
        allocations=[
            (s.address(admin.public_key()), admin_balance),
            *[(a, bench_balance) for a in bench_accounts],
        ],
        consensus_config=consensus_options,
        org_admins=org_admins,
    )
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
    return specs


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def load_network(directory: Path) -> tuple[dict[str, Any], list[NodeSpec]]:
    """The summary and node list of a network laid out by :func:`init_network`."""
    path = Path(directory) / "network.yaml"
    if not path.exists():
        raise NetworkError(f"no network in {directory} (run `finchain chain init {directory}`)")
    summary = yaml.safe_load(path.read_text(encoding="utf-8"))
    specs = [NodeSpec(**n) for n in summary["nodes"]]
    return summary, specs


def node_config_path(directory: Path, name: str) -> Path:
    return Path(directory) / "nodes" / name / "node.yaml"


def _pids_path(directory: Path) -> Path:
    return Path(directory) / "pids.json"


def read_pids(directory: Path) -> dict[str, int]:
    path = _pids_path(directory)
    if not path.exists():
        return {}
    return {k: int(v) for k, v in json.loads(path.read_text()).items()}


def _write_pids(directory: Path, pids: dict[str, int]) -> None:
    _pids_path(directory).write_text(json.dumps(pids, indent=1, sort_keys=True))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child counts as dead
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


def start_node(directory: Path, name: str, *, env: dict[str, str] | None = None) -> int:
    """Start one node process (detached, output appended to its data dir); returns its pid."""
    cfg = node_config_path(directory, name)
    if not cfg.exists():
        raise NetworkError(f"no node {name!r} in {directory}")
    data = cfg.parent / "data"
    data.mkdir(exist_ok=True)
    out = open(data / "stdout.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [sys.executable, "-m", "finchain.chain", str(cfg)],
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )
    out.close()
    pids = read_pids(directory)
    pids[name] = proc.pid
    _write_pids(directory, pids)
    return proc.pid


def wait_healthy(
    specs: list[NodeSpec],
    *,
    timeout: float = 60.0,
    pids: dict[str, int] | None = None,
    directory: Path | None = None,
) -> dict[str, dict[str, Any]]:
    """Poll each node's ``/health`` until all answer; :class:`NetworkError` on timeout/crash."""
    import httpx

    deadline = time.monotonic() + timeout
    healthy: dict[str, dict[str, Any]] = {}
    with httpx.Client(timeout=2.0) as client:
        while len(healthy) < len(specs):
            for spec in specs:
                if spec.name in healthy:
                    continue
                if pids and spec.name in pids and not alive(pids[spec.name]):
                    why = _last_line(directory, spec.name)
                    raise NetworkError(
                        f"node {spec.name} exited during start-up{why}; see its data/stdout.log"
                    )
                try:
                    r = client.get(spec.rpc_url + "/health")
                    if r.status_code == 200:
                        healthy[spec.name] = r.json()
                except httpx.HTTPError:
                    pass
            if len(healthy) < len(specs):
                if time.monotonic() > deadline:
                    missing = [s.name for s in specs if s.name not in healthy]
                    raise NetworkError(f"nodes not healthy after {timeout:.0f} s: {missing}")
                time.sleep(0.2)
    return healthy


def _last_line(directory: Path | None, name: str) -> str:
    """``": <last line of the node's log>"`` (its reason for exiting), or ``""``."""
    if directory is None:
        return ""
    try:
        with open(node_config_path(directory, name).parent / "data" / "stdout.log", "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 4096))
            lines = [ln.strip() for ln in fh.read().decode("utf-8", "replace").splitlines()]
    except OSError:
        return ""
    # the node's own one-line reason, else a traceback's last line (its exception)
    last = next((ln for ln in reversed(lines) if ln.startswith("error: ")), "")
    last = last or next((ln for ln in reversed(lines) if ln), "")
    return f" ({last.removeprefix('error: ')[:300]})" if last else ""


def up(
    directory: Path, *, timeout: float = 60.0, env: dict[str, str] | None = None
) -> list[NodeSpec]:
    """Start every node not already running and wait until all are healthy."""
    _, specs = load_network(directory)
    pids = read_pids(directory)
    to_start = [s for s in specs if pids.get(s.name) is None or not alive(pids[s.name])]
    busy = busy_ports(to_start)
    if busy:
        raise NetworkError(
            f"{', '.join(busy)} {'is' if len(busy) == 1 else 'are'} in use; stop what holds"
            f" {'it' if len(busy) == 1 else 'them'} (or lay out a network on other ports)"
        )
    started: list[str] = []
    try:
        for spec in to_start:
            pids[spec.name] = start_node(directory, spec.name, env=env)
            started.append(spec.name)
        wait_healthy(specs, timeout=timeout, pids=pids, directory=directory)
    except BaseException:
        for name in started:  # leave nothing of a failed start-up running
            with contextlib.suppress(Exception):
                stop_node(directory, name, kill=True, timeout=2.0)
        raise
    return specs


def run_node_checked(config_path: Path) -> None:
    """Run one node in the foreground; a busy port is one :class:`NetworkError`, not a traceback."""
    import errno

    from finchain.chain.config import load_config
    from finchain.chain.node import run_node

    config = load_config(Path(config_path))
    busy = [
        f"port {port} ({config.name} {kind})"
        for kind, port in (("p2p", config.p2p_port), ("rpc", config.rpc_port))
        if port and port_in_use(config.host, port)
    ]
    if busy:
        raise NetworkError(f"{', '.join(busy)} {'is' if len(busy) == 1 else 'are'} in use")
    try:
        run_node(str(config_path))
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise NetworkError(f"node {config.name}: {exc.strerror or exc}") from None


def stop_node(directory: Path, name: str, *, kill: bool = False, timeout: float = 10.0) -> bool:
    """Stop one node (SIGTERM, or SIGKILL with ``kill``); ``True`` if it was running."""
    pids = read_pids(directory)
    pid = pids.get(name)
    if pid is None or not alive(pid):
        pids.pop(name, None)
        _write_pids(directory, pids)
        return False
    os.kill(pid, signal.SIGKILL if kill else signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.05)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)
        while alive(pid):
            _reap(pid)
            time.sleep(0.05)
    _reap(pid)
    pids.pop(name, None)
    _write_pids(directory, pids)
    return True


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def down(directory: Path) -> list[str]:
    """Stop every running node; names of those stopped."""
    _, specs = load_network(directory)
    return [s.name for s in specs if stop_node(directory, s.name)]
