"""Fault scenarios on a real local network: proxies on every link, a load, a timeline, checks.

:func:`run_scenario` lays out a network with :func:`finchain.chain.network.init_network` in a
directory it owns, puts a :class:`~finchain.chain.faults.proxy.LinkProxy` in front of every
directed validator link (``"a>b"``: node ``a`` dialling validator ``b``) by rewriting the peer
ports in each ``node.yaml``, starts every node as its own process, then plays the scenario's
timeline while a bounded transfer load runs through the SDK. Afterwards it waits for the chain to
move past the last fault and checks the invariants (:mod:`finchain.chain.faults.checks`).

Node names in a scenario are the short forms ``v0``, ``v1``, … and ``o0``, … (the suffix of
``org1-v0``); links are named by a pair of nodes, and a fault on a pair applies both ways.

>>> from finchain.chain.faults.scenario import Scenario
>>> sc = Scenario.from_dict({"name": "t", "timeline": [{"at": 1, "do": "kill", "node": "v1"}]})
>>> sc.timeline[0].do, sc.validators
('kill', 4)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from finchain.chain import network
from finchain.chain.config import MempoolConfig, dump_config, load_config
from finchain.chain.faults.proxy import FaultError, ProxyHub
from finchain.chain.faults.scenario import Event, Scenario


@dataclass
class Sample:
    """One height reading of one node."""

    t: float
    node: str
    height: int


@dataclass
class ScenarioResult:
    """What a run did and whether the invariants held (``ok``)."""

    scenario: str
    consensus: str
    ok: bool = False
    problems: list[str] = field(default_factory=list)
    heights: dict[str, int] = field(default_factory=dict)
    common_height: int = 0
    compared_heights: int = 0
    sent: int = 0
    acknowledged: int = 0
    refused: int = 0
    recoveries: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    links: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0

    def max_recovery_s(self) -> float | None:
        values = [r["seconds"] for r in self.recoveries if r["seconds"] is not None]
        return max(values) if values else None

    def summary(self) -> dict[str, Any]:
        """A flat dict of scalars (for tables and ``--json``)."""
        rec = self.max_recovery_s()
        return {
            "scenario": self.scenario,
            "consensus": self.consensus,
            "ok": self.ok,
            "problems": len(self.problems),
            "common_height": self.common_height,
            "sent": self.sent,
            "acknowledged": self.acknowledged,
            "recoveries": len(self.recoveries),
            "max_recovery_s": round(rec, 2) if rec is not None else None,
            "wall_s": round(self.wall_s, 1),
            **{f"link_{k}": v for k, v in self.links.items()},
        }


class FaultNetwork:
    """A laid-out network with a proxy on every validator link and control of node processes."""

    def __init__(self, directory: Path, specs: list[network.NodeSpec], hub: ProxyHub) -> None:
        self.dir = Path(directory)
        self.specs = {s.name: s for s in specs}
        self.hub = hub
        self.short = {_short(s.name): s.name for s in specs}
        self.down: set[str] = set()  # killed or stopped
        self.paused: set[str] = set()

    @classmethod
    def create(
        cls,
        directory: Path,
        *,
        validators: int = 4,
        observers: int = 1,
        orgs: int = 2,
        suite: str = "gm",
        consensus: str = "hotstuff",
        consensus_options: dict[str, Any] | None = None,
        mempool: MempoolConfig | None = None,
        seed: int = 0,
    ) -> FaultNetwork:
        """``init_network`` in ``directory`` then route every validator link through a proxy."""
        specs = network.init_network(
            Path(directory),
            orgs=orgs,
            validators=validators,
            observers=observers,
            suite=suite,
            consensus=consensus,
            mempool=mempool or MempoolConfig(capacity=5000, batch_interval_ms=10),
            consensus_options=consensus_options,
        )
        hub = ProxyHub(seed=seed)
        hub.start()
        try:
            by_name = {s.name: s for s in specs}
            # node ports were only reserved (bound then released): proxies must not take them
            reserved = {p for s in specs for p in (s.p2p_port, s.rpc_port)}
            for spec in specs:
                path = network.node_config_path(Path(directory), spec.name)
                cfg = load_config(path)
                peers = []
                for peer in cfg.peers:
                    if peer.role == "validator":
                        target = by_name[peer.name]
                        link = f"{spec.name}>{peer.name}"
                        proxy = hub.add(link, (target.host, target.p2p_port))
                        for _ in range(20):
                            if proxy.port not in reserved:
                                break
                            hub.remove(link)
                            proxy = hub.add(link, (target.host, target.p2p_port))
                        else:  # pragma: no cover - the OS keeps handing out reserved ports
                            raise FaultError("no free port for a proxy outside the node ports")
                        peer = replace(peer, host="127.0.0.1", p2p_port=proxy.port)
                    peers.append(peer)
                dump_config(replace(cfg, peers=tuple(peers)), path)
        except BaseException:
            hub.stop()
            raise
        return cls(Path(directory), specs, hub)

    # -- names -----------------------------------------------------------------------------
    def name(self, ref: str) -> str:
        """The full node name for ``v0``/``o1``/a full name."""
        if ref in self.specs:
            return ref
        try:
            return self.short[ref]
        except KeyError:
            raise FaultError(f"no node {ref!r}; known: {sorted(self.short)}") from None

    @property
    def names(self) -> list[str]:
        return list(self.specs)

    def live(self) -> list[str]:
        return [n for n in self.specs if n not in self.down and n not in self.paused]

    def links_between(self, a: str, b: str) -> list[str]:
        return [n for n in (f"{a}>{b}", f"{b}>{a}") if n in self.hub.proxies]

    def links_of(self, a: str) -> list[str]:
        return [n for n in self.hub.proxies if a in n.split(">")]

    # -- processes -------------------------------------------------------------------------
    def up(self, timeout: float = 90.0) -> None:
        network.up(self.dir, timeout=timeout)

    def pid(self, name: str) -> int | None:
        return network.read_pids(self.dir).get(name)

    def kill(self, name: str) -> None:
        if name in self.paused:
            self._signal(name, signal.SIGCONT)
            self.paused.discard(name)
        network.stop_node(self.dir, name, kill=True)
        self.down.add(name)

    def stop(self, name: str) -> None:
        if name in self.paused:
            self._signal(name, signal.SIGCONT)
            self.paused.discard(name)
        network.stop_node(self.dir, name)
        self.down.add(name)

    def pause(self, name: str) -> None:
        self._signal(name, signal.SIGSTOP)
        self.paused.add(name)

    def resume(self, name: str) -> None:
        self._signal(name, signal.SIGCONT)
        self.paused.discard(name)

    def restart(self, name: str) -> None:
        """Start ``name`` again from the same data directory (killing it first if running)."""
        pid = self.pid(name)
        if pid is not None and network.alive(pid):
            self.kill(name)
        network.start_node(self.dir, name)
        self.down.discard(name)

    def _signal(self, name: str, sig: signal.Signals) -> None:
        pid = self.pid(name)
        if pid is None or not network.alive(pid):
            raise FaultError(f"node {name} is not running")
        os.kill(pid, sig)

    def close(self) -> None:
        """Resume paused nodes, stop every node, stop the proxies."""
        for name in list(self.paused):
            with contextlib.suppress(Exception):
                self.resume(name)
        with contextlib.suppress(Exception):
            network.down(self.dir)
        self.hub.stop()

    # -- the timeline ----------------------------------------------------------------------
    def apply(self, ev: Event) -> None:
        """Carry out one timeline event."""
        p = ev.params
        if ev.do in ("kill", "stop", "pause", "resume", "restart"):
            getattr(self, ev.do)(self.name(str(p["node"])))
        elif ev.do == "heal":
            if "a" in p:
                for link in self.links_between(self.name(p["a"]), self.name(p["b"])):
                    self.hub.heal(link)
            else:
                self.hub.heal()
        elif ev.do == "partition":
            groups = [[self.name(x) for x in g] for g in p["groups"]]
            rest = set(self.specs) - {n for g in groups for n in g}
            if rest:
                groups.append(sorted(rest))
            for i, ga in enumerate(groups):
                for gb in groups[i + 1 :]:
                    for a in ga:
                        for b in gb:
                            for link in self.links_between(a, b):
                                self.hub.cut(link)
        elif ev.do == "isolate":
            for link in self.links_of(self.name(p["node"])):
                self.hub.cut(link)
        elif ev.do in ("cut", "delay", "drop", "corrupt"):
            changes: dict[str, Any] = {}
            if ev.do == "cut":
                changes["cut"] = True
            elif ev.do == "delay":
                changes = {"delay_ms": p.get("ms", 0), "jitter_ms": p.get("jitter_ms", 0)}
            elif ev.do == "drop":
                changes = {"drop": p["p"], "reset": bool(p.get("reset", False))}
            else:
                changes = {"corrupt": p["p"]}
            if "a" in p:
                links = self.links_between(self.name(p["a"]), self.name(p["b"]))
            elif "node" in p:
                links = self.links_of(self.name(p["node"]))
            else:
                links = list(self.hub.proxies)
            for link in links:
                self.hub.set(link, **changes)
        else:  # pragma: no cover - Scenario validates
            raise FaultError(f"unknown action {ev.do!r}")


def _short(name: str) -> str:
    return name.rsplit("-", 1)[-1]


class HeightMonitor:
    """Polls every node's height in a thread (bounded: stops on :meth:`stop`)."""

    def __init__(self, fnet: FaultNetwork, interval: float = 0.25) -> None:
        self.fnet = fnet
        self.interval = interval
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.t0 = time.monotonic()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)

    def latest(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.samples:
            out[s.node] = s.height
        return out

    def _run(self) -> None:
        import httpx

        with httpx.Client(timeout=0.5) as client:
            while not self._stop.is_set():
                for name in self.fnet.live():
                    url = self.fnet.specs[name].rpc_url
                    try:
                        r = client.post(
                            url + "/",
                            json={"jsonrpc": "2.0", "id": 1, "method": "getStatus", "params": []},
                        )
                        h = int(r.json()["result"]["height"])
                    except Exception:
                        continue
                    self.samples.append(Sample(time.monotonic() - self.t0, name, h))
                self._stop.wait(self.interval)


class Load:
    """A bounded transfer load through the SDK, recording which transactions were acknowledged.

    Sends ``batch`` transfers at a time to a live validator (round robin) until ``txs`` have
    been sent or ``seconds`` have passed; a transaction is *acknowledged* once a receipt for it
    has been read from any node.
    """

    def __init__(
        self, fnet: FaultNetwork, *, txs: int, rate: float, batch: int, seconds: float
    ) -> None:
        self.fnet = fnet
        self.txs = txs
        self.rate = rate
        self.batch = max(1, batch)
        self.seconds = seconds
        self.sent: list[str] = []
        self.acked: dict[str, int] = {}  # tx hash -> height of its receipt
        self.refused = 0
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)

    def wait(self, timeout: float) -> None:
        """Let the load finish by itself (everything sent and acknowledged) for ``timeout`` s."""
        if self._thread.is_alive():
            self._thread.join(max(0.0, timeout))

    async def _main(self) -> None:
        from finchain.chain.sdk import Client
        from finchain.crypto import get_suite

        admin_pem = (self.fnet.dir / "users" / "admin.key").read_bytes()
        suite = get_suite(self._suite())
        admin = suite.load_private_key(admin_pem)
        to = suite.address(suite.generate_key().public_key())
        validators = [n for n, s in self.fnet.specs.items() if s.role == "validator"]
        clients = {n: Client(self.fnet.specs[n].rpc_url, timeout=3.0) for n in self.fnet.specs}
        deadline = time.monotonic() + self.seconds
        pending: list[str] = []
        turn = 0
        try:
            while not self._stop.is_set() and time.monotonic() < deadline:
                t_next = time.monotonic() + self.batch / self.rate
                live = [n for n in validators if n in self.fnet.live()]
                if len(self.sent) < self.txs and live:
                    c = clients[live[turn % len(live)]]
                    turn += 1
                    n = min(self.batch, self.txs - len(self.sent))
                    try:
                        txs = await c.account(admin).transactions(
                            [("transfer", "transfer", {"to": to, "amount": 1})] * n
                        )
                        for r in await c.submit(txs):
                            if "error" in r:
                                self.refused += 1
                            else:
                                self.sent.append(r["hash"])
                                pending.append(r["hash"])
                    except Exception:
                        self.errors += 1
                pending = await self._poll(clients, pending)
                if len(self.sent) >= self.txs and not pending:
                    break
                await asyncio.sleep(max(0.0, t_next - time.monotonic()))
        finally:
            for c in clients.values():
                await c.close()

    async def _poll(self, clients: dict[str, Any], pending: list[str]) -> list[str]:
        live = self.fnet.live()
        if not pending or not live:
            return pending
        c = clients[live[int(time.monotonic()) % len(live)]]
        try:
            found = await c.receipts(pending[:500])
        except Exception:
            return pending
        for h, r in zip(pending[:500], found, strict=True):
            if r is not None:
                self.acked[h] = int(r.get("height", 0))
        return [h for h in pending if h not in self.acked]

    def _suite(self) -> str:
        summary, _ = network.load_network(self.fnet.dir)
        return str(summary["suite"])


def run_scenario(
    scenario: Scenario,
    directory: Path,
    *,
    consensus: str = "hotstuff",
    suite: str = "gm",
    seed: int = 0,
) -> ScenarioResult:
    """Lay out, start, load, fault, settle and check; the network is stopped before returning."""
    from finchain.chain.faults.checks import check_network, recovery_times

    result = ScenarioResult(scenario.name, consensus)
    t_start = time.monotonic()
    fnet = FaultNetwork.create(
        directory,
        validators=scenario.validators,
        observers=scenario.observers,
        orgs=scenario.orgs,
        suite=suite,
        consensus=consensus,
        consensus_options=scenario.consensus_options,
        seed=seed,
    )
    monitor = HeightMonitor(fnet)
    load: Load | None = None
    try:
        fnet.up(timeout=scenario.start_timeout_s)
        monitor.t0 = time.monotonic()
        monitor.start()
        load = Load(
            fnet,
            txs=scenario.load_txs,
            rate=scenario.load_rate,
            batch=scenario.load_batch,
            seconds=scenario.duration_s + scenario.settle_s,
        )
        load.start()
        for ev in scenario.timeline:
            wait = monitor.t0 + ev.at - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            t_ev = time.monotonic() - monitor.t0
            fnet.apply(ev)
            result.events.append(
                {"t": round(t_ev, 2), "do": ev.do, **ev.params, "live": sorted(fnet.live())}
            )
        rest = monitor.t0 + scenario.duration_s - time.monotonic()
        if rest > 0:
            time.sleep(rest)
        # anything still faulted at the end is healed so honest nodes can converge
        leftovers = [Event(scenario.duration_s, "heal")]
        leftovers += [Event(scenario.duration_s, "resume", {"node": n}) for n in fnet.paused]
        leftovers += [Event(scenario.duration_s, "restart", {"node": n}) for n in fnet.down]
        if any(not p.faults.clean() for p in fnet.hub.proxies.values()) or len(leftovers) > 1:
            for ev in leftovers:
                fnet.apply(ev)
                result.events.append(
                    {
                        "t": round(time.monotonic() - monitor.t0, 2),
                        "do": ev.do,
                        **ev.params,
                        "end": True,
                        "live": sorted(fnet.live()),
                    }
                )
        # progress after the last fault: every node passes the highest height seen so far
        target = max(monitor.latest().values(), default=0) + 2
        deadline = time.monotonic() + scenario.settle_s
        while time.monotonic() < deadline:
            if len(monitor.latest()) == len(fnet.specs) and all(
                h >= target for h in monitor.latest().values()
            ):
                break
            time.sleep(0.25)
        load.wait(min(15.0, deadline - time.monotonic() + 5.0))
        load.stop()
        # the load's last receipts: let every node reach the acknowledged heights
        monitor.stop()
        result.recoveries = recovery_times(result.events, monitor.samples, fnet.names)
        check_network(fnet, result, acked=dict(load.acked), progress_target=target)
        result.sent = len(load.sent)
        result.acknowledged = len(load.acked)
        result.refused = load.refused
        result.links = fnet.hub.totals()
    finally:
        if load is not None:
            load.stop()
        monitor.stop()
        fnet.close()
        result.wall_s = time.monotonic() - t_start
    result.ok = not result.problems
    return result
