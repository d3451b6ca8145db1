"""Deterministic simulator: N replicas in one process on a virtual clock, with faults.

One seed fixes everything: the fault schedule (:func:`make_scenario`) and every random choice of
the network (delays, drops, duplicates, hence reordering).  Faults:

* per-message delay, drop and duplication; partitions that heal at ``heal_at``;
* crashes and restarts — a restarted replica is rebuilt from its own ``Persist`` records only,
  and a crash may cut a handler's action list short (actions after the cut never happen, which
  is how "persist before send" gets exercised);
* Byzantine replicas (never more than ``f``; none for Raft, which is crash-tolerant only):
  ``twin`` runs two copies with the same key, each talking to a different half of the honest
  replicas (the *Twins* method of Bano et al., 2020) — an equivocating leader proposing two
  blocks and a voter voting twice come out of it naturally; ``withhold`` drops every unicast
  message (votes) and half its broadcasts; ``silent`` never speaks.

Checked on honest replicas: **safety** (one block id per height across all of them, heights
consecutive from 1, every proof verifies with :func:`verify_commit_proof`) and **liveness**
(after ``heal_at`` all honest replicas are up and the network is clean; within
``liveness_ms`` every honest replica commits a height above the highest committed at the heal).

Replay a seed: ``python -m finchain.chain.consensus.sim --algo hotstuff --seed 42``.

>>> r = run(make_scenario("hotstuff", 3))
>>> r.ok, r.max_height > 0
(True, True)
"""

from __future__ import annotations

import argparse
import functools
import heapq
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from finchain.chain.consensus import make_consensus, verify_commit_proof
from finchain.chain.consensus.base import (
    Commit,
    Consensus,
    Persist,
    RequestPayload,
    Send,
    SetTimer,
    SyncRequired,
    max_faulty,
)
from finchain.chain.consensus.common import ConsensusConfig, HmacKeyring

BFT = ("hotstuff", "pbft")


@dataclass(frozen=True, slots=True)
class Crash:
    replica: int
    at: int
    restart_at: int


@dataclass(frozen=True, slots=True)
class Partition:
    start: int
    end: int
    groups: tuple[int, ...]  # group of each replica


@dataclass(frozen=True, slots=True)
class Scenario:
    """A complete fault schedule; :func:`make_scenario` draws one from a seed."""

    algo: str
    seed: int
    n: int
    byzantine: tuple[tuple[int, str], ...] = ()
    crashes: tuple[Crash, ...] = ()
    partitions: tuple[Partition, ...] = ()
    min_delay: int = 1
    max_delay: int = 10
    drop_permille: int = 0
    dup_permille: int = 0
    heal_at: int = 1000
    liveness_ms: int = 30_000
    config: ConsensusConfig = field(
        default_factory=lambda: ConsensusConfig(
            base_timeout_ms=100,
            max_timeout_ms=800,
            retain_blocks=8,
            max_sync_blocks=4,
            checkpoint_interval=4,
            max_inflight=2,
            heartbeat_ms=30,
            election_min_ms=150,
            snapshot_every=8,
        )
    )

    def replay_command(self) -> str:
        return (
            f"uv run python -m finchain.chain.consensus.sim --algo {self.algo} --seed {self.seed}"
        )


def make_scenario(algo: str, seed: int, *, long: bool = False) -> Scenario:
    """Draw a fault schedule from ``seed`` (``long`` for the slow suite: more time, more faults)."""
    rng = random.Random(f"{algo}/{seed}/{long}")
    n = rng.choice((4, 4, 4, 5, 7) if not long else (4, 5, 7, 7, 10))
    if algo == "raft":
        n = rng.choice((3, 3, 5) if not long else (3, 5, 7))
    f = max_faulty(n)
    heal_at = rng.randrange(300, 1200) if not long else rng.randrange(1000, 5000)
    byz: list[tuple[int, str]] = []
    honest = list(range(n))
    if algo in BFT and f > 0:
        k = rng.randrange(0, f + 1)
        for r in rng.sample(range(n), k):
            byz.append((r, rng.choice(("twin", "twin", "withhold", "silent"))))
            honest.remove(r)
    crashes: list[Crash] = []
    for _ in range(rng.randrange(0, 3 if not long else 6)):
        r = rng.choice(honest)
        at = rng.randrange(0, heal_at)
        crashes.append(Crash(r, at, rng.randrange(at + 1, heal_at + 1)))
    partitions: list[Partition] = []
    for _ in range(rng.randrange(0, 3)):
        start = rng.randrange(0, heal_at)
        end = rng.randrange(start + 1, heal_at + 1)
        partitions.append(Partition(start, end, tuple(rng.randrange(2) for _ in range(n))))
    min_delay = rng.randrange(1, 5)
    return Scenario(
        algo=algo,
        seed=seed,
        n=n,
        byzantine=tuple(sorted(byz)),
        crashes=tuple(crashes),
        partitions=tuple(partitions),
        min_delay=min_delay,
        max_delay=min_delay + rng.randrange(1, 30),
        drop_permille=rng.choice((0, 0, 20, 100, 250)),
        dup_permille=rng.choice((0, 50, 200)),
        heal_at=heal_at,
    )


@dataclass(slots=True)
class SimResult:
    scenario: Scenario
    safety: str | None = None
    liveness: str | None = None
    max_height: int = 0
    messages: int = 0
    end_time: int = 0
    heal_height: int = 0
    recovered_at: int | None = None

    @property
    def ok(self) -> bool:
        return self.safety is None and self.liveness is None

    def describe(self) -> str:
        what = self.safety or self.liveness or "ok"
        return f"{what} (seed {self.scenario.seed}; replay: {self.scenario.replay_command()})"


@dataclass(slots=True)
class _Inst:
    replica: int
    twin: int | None  # 0/1 for the copies of a twin replica
    honest: bool
    mode: str
    store: dict[str, bytes] = field(default_factory=dict)  # Persist records (survive crashes)
    log: dict[int, tuple[bytes, bytes, bytes]] = field(default_factory=dict)  # the node's store
    cons: Consensus | None = None
    up: bool = False
    epoch: int = 0
    timers: dict[Any, int] = field(default_factory=dict)
    cut_next: bool = False

    @property
    def height(self) -> int:
        return len(self.log)


Factory = Callable[..., Consensus]


class _Sim:
    def __init__(self, sc: Scenario, factory: Factory | None = None) -> None:
        self.sc = sc
        self.factory = factory
        self.rng = random.Random(f"net/{sc.algo}/{sc.seed}")
        self.ring = HmacKeyring(n=sc.n, seed=sc.seed)
        self.verifier = self.ring.verifier()
        self.queue: list[tuple[int, int, str, Any]] = []
        self.seq = 0
        self.now = 0
        self.result = SimResult(sc)
        self.chain: dict[int, bytes] = {}  # height -> block id committed by honest replicas
        modes = dict(sc.byzantine)
        self.side = [self.rng.randrange(2) for _ in range(sc.n)]
        self.insts: list[_Inst] = []
        self.by_replica: list[list[int]] = [[] for _ in range(sc.n)]
        for r in range(sc.n):
            mode = modes.get(r, "honest")
            copies: tuple[int | None, ...] = (0, 1) if mode == "twin" else (None,)
            for t in copies:
                self.by_replica[r].append(len(self.insts))
                self.insts.append(_Inst(r, t, mode == "honest", mode))

    # -- scheduling ---------------------------------------------------------------------------
    def push(self, at: int, kind: str, data: Any) -> int:
        self.seq += 1
        heapq.heappush(self.queue, (at, self.seq, kind, data))
        return self.seq

    def start(self, i: int) -> None:
        inst = self.insts[i]
        if inst.mode == "silent" or inst.up:
            return
        inst.epoch += 1
        inst.up = True
        inst.timers.clear()
        make = self.factory or functools.partial(make_consensus, self.sc.algo)
        inst.cons = make(
            replica_id=inst.replica,
            n=self.sc.n,
            signer=self.ring.signer(inst.replica),
            verifier=self.verifier,
            persisted=dict(inst.store),
            config=self._config(inst),
        )
        self.execute(i, inst.cons.on_start(self.now))

    def _config(self, inst: _Inst) -> ConsensusConfig:
        c = self.sc.config
        # Raft's jitter seed must differ per replica and per restart
        twin = 0 if inst.twin is None else inst.twin + 1
        seed = (
            self.sc.seed * 1_000_003 + inst.replica * 7919 + twin * 31 + inst.epoch
        ) & 0xFFFFFFFF
        return ConsensusConfig(
            base_timeout_ms=c.base_timeout_ms,
            max_timeout_ms=c.max_timeout_ms,
            backoff=c.backoff,
            hash=c.hash,
            chain_id=c.chain_id,
            retain_blocks=c.retain_blocks,
            max_sync_blocks=c.max_sync_blocks,
            max_payload_bytes=c.max_payload_bytes,
            checkpoint_interval=c.checkpoint_interval,
            max_inflight=c.max_inflight,
            heartbeat_ms=c.heartbeat_ms,
            election_min_ms=c.election_min_ms,
            snapshot_every=c.snapshot_every,
            seed=seed,
        )

    def crash(self, i: int) -> None:
        inst = self.insts[i]
        if not inst.up:
            return
        if self.rng.randrange(2):
            inst.cut_next = True  # die in the middle of the next action list
        else:
            inst.up = False
            inst.cons = None

    # -- network ------------------------------------------------------------------------------
    def visible(self, a: _Inst, b: _Inst) -> bool:
        if a.twin is None and b.twin is None:
            return True
        if a.twin is not None and b.twin is not None:
            return a.twin == b.twin
        honest = b if a.twin is not None else a
        twin = a if a.twin is not None else b
        return self.side[honest.replica] == twin.twin

    def partitioned(self, a: int, b: int) -> bool:
        return any(
            p.start <= self.now < p.end and p.groups[a] != p.groups[b] for p in self.sc.partitions
        )

    def send(self, src: int, act: Send) -> None:
        inst = self.insts[src]
        assert inst.cons is not None
        data = inst.cons.encode_message(act.message)
        msg = inst.cons.decode_message(data)  # the codec round-trips every message
        if msg != act.message or inst.cons.encode_message(msg) != data:
            raise AssertionError(f"codec does not round-trip {type(act.message).__name__}")
        targets = range(self.sc.n) if act.to is None else (act.to,)
        healed = self.now >= self.sc.heal_at
        for r in targets:
            if r == inst.replica:
                continue
            if inst.mode == "withhold" and (act.to is not None or self.rng.randrange(2)):
                continue
            for j in self.by_replica[r]:
                dst = self.insts[j]
                if not self.visible(inst, dst):
                    continue
                if not healed and self.partitioned(inst.replica, r):
                    continue
                if not healed and self.rng.randrange(1000) < self.sc.drop_permille:
                    continue
                copies = 2 if self.rng.randrange(1000) < self.sc.dup_permille else 1
                for _ in range(copies):
                    delay = self.rng.randrange(self.sc.min_delay, self.sc.max_delay + 1)
                    self.push(self.now + delay, "msg", (j, inst.replica, msg))
                    self.result.messages += 1

    # -- actions ------------------------------------------------------------------------------
    def execute(self, i: int, actions: list[Any]) -> None:
        inst = self.insts[i]
        if inst.cut_next:
            inst.cut_next = False
            actions = actions[: self.rng.randrange(len(actions) + 1)]
            inst.up = False
        for act in actions:
            if isinstance(act, Send):
                self.send(i, act)
            elif isinstance(act, Persist):
                inst.store[act.key] = act.value
            elif isinstance(act, SetTimer):
                inst.timers[act.token] = self.push(act.at, "timer", (i, inst.epoch, act.token))
            elif isinstance(act, RequestPayload):
                self.push(self.now + 1, "payload", (i, inst.epoch, act.view))
            elif isinstance(act, Commit):
                self.commit(inst, act)
            elif isinstance(act, SyncRequired):
                self.push(self.now + self.sc.max_delay, "sync", (i, inst.epoch, act.from_height))
        if not inst.up:
            inst.cons = None

    def commit(self, inst: _Inst, c: Commit) -> None:
        have = inst.log.get(c.height)
        if have is not None:
            if have[0] != c.block_id:
                self.violate(f"replica {inst.replica} re-committed height {c.height} differently")
            return  # a restarted replica may repeat its last commit
        if c.height != inst.height + 1:
            self.violate(f"replica {inst.replica} committed height {c.height} after {inst.height}")
            return
        if not verify_commit_proof(
            self.sc.algo,
            block_id=c.block_id,
            height=c.height,
            proof=c.proof,
            n=self.sc.n,
            verifier=self.verifier,
            config=self.sc.config,
        ):
            self.violate(f"replica {inst.replica} committed height {c.height} with a bad proof")
        inst.log[c.height] = (c.block_id, c.payload, c.proof)
        if not inst.honest:
            return
        known = self.chain.setdefault(c.height, c.block_id)
        if known != c.block_id:
            self.violate(f"two blocks committed at height {c.height}")
        self.result.max_height = max(self.result.max_height, c.height)

    def violate(self, what: str) -> None:
        if self.result.safety is None:
            self.result.safety = f"SAFETY at t={self.now}: {what}"

    def node_sync(self, i: int, from_height: int) -> None:
        """The node's block sync: fetch committed blocks from peers' stores with proofs."""
        inst = self.insts[i]
        donors = [d for d in self.insts if d is not inst and d.height >= from_height]
        if not donors or inst.cons is None:
            return
        donor = donors[self.rng.randrange(len(donors))]
        h = from_height
        while h in donor.log and h < from_height + 64 and inst.cons is not None and inst.up:
            bid, payload, proof = donor.log[h]
            self.execute(i, inst.cons.on_synced_commit(h, bid, payload, proof, self.now))
            h += 1

    # -- main loop ----------------------------------------------------------------------------
    def honest_up(self) -> list[_Inst]:
        return [x for x in self.insts if x.honest]

    def run(self) -> SimResult:
        sc = self.sc
        for i in range(len(self.insts)):
            self.push(0, "start", i)
        for c in sc.crashes:
            for j in self.by_replica[c.replica]:
                self.push(c.at, "crash", j)
                self.push(c.restart_at, "start", j)
        self.push(sc.heal_at, "heal", None)
        deadline = sc.heal_at + sc.liveness_ms
        healed = False
        while self.queue and self.result.safety is None:
            at, seq, kind, data = heapq.heappop(self.queue)
            if at > deadline:
                break
            self.now = at
            if kind == "msg":
                j, sender, msg = data
                dst = self.insts[j]
                if dst.up and dst.cons is not None:
                    self.execute(j, dst.cons.on_message(sender, msg, at))
            elif kind == "timer":
                j, epoch, token = data
                dst = self.insts[j]
                if dst.up and dst.epoch == epoch and dst.timers.get(token) == seq:
                    del dst.timers[token]
                    assert dst.cons is not None
                    self.execute(j, dst.cons.on_timer(token, at))
            elif kind == "payload":
                j, epoch, view = data
                dst = self.insts[j]
                if dst.up and dst.epoch == epoch and dst.cons is not None:
                    tag = b"%d/%d/%s/%d" % (dst.replica, view, str(dst.twin).encode(), at)
                    self.execute(j, dst.cons.on_payload(view, b"payload:" + tag, at))
            elif kind == "sync":
                j, epoch, h = data
                if self.insts[j].epoch == epoch and self.insts[j].up:
                    self.node_sync(j, h)
            elif kind == "start":
                self.start(data)
            elif kind == "crash":
                self.crash(data)
            elif kind == "heal":
                healed = True
                for j, x in enumerate(self.insts):
                    if x.mode != "silent" and not x.up:
                        self.start(j)
                    x.cut_next = False
                self.result.heal_height = max((x.height for x in self.honest_up()), default=0)
            if healed and all(x.height > self.result.heal_height for x in self.honest_up()):
                self.result.recovered_at = self.now
                break
        self.result.end_time = self.now
        if self.result.safety is None and self.result.recovered_at is None:
            heights = [x.height for x in self.honest_up()]
            self.result.liveness = (
                f"LIVENESS: honest heights {heights} did not pass {self.result.heal_height} "
                f"within {sc.liveness_ms} ms after heal at {sc.heal_at}"
            )
        return self.result


def run(scenario: Scenario, *, factory: Factory | None = None) -> SimResult:
    """Run one scenario to its liveness deadline (or the first safety violation).

    ``factory`` replaces :func:`make_consensus` (same keyword arguments) — the tests use it to
    check that the simulator catches deliberately broken replicas.
    """
    return _Sim(scenario, factory).run()


def run_seeds(algo: str, seeds: range, *, long: bool = False) -> list[SimResult]:
    """Run many seeds; returns the failures only."""
    bad: list[SimResult] = []
    for s in seeds:
        r = run(make_scenario(algo, s, long=long))
        if not r.ok:
            bad.append(r)
    return bad


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Replay consensus simulator seeds.")
    p.add_argument("--algo", default="hotstuff", choices=("hotstuff", "pbft", "raft"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--count", type=int, default=1, help="run seeds seed..seed+count-1")
    p.add_argument("--long", action="store_true", help="the slow suite's longer scenarios")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    failures = 0
    for s in range(args.seed, args.seed + args.count):
        sc = make_scenario(args.algo, s, long=args.long)
        r = run(sc)
        if args.verbose or not r.ok:
            print(sc)
            print(
                f"seed {s}: {r.describe()} max_height={r.max_height} msgs={r.messages} "
                f"heal_height={r.heal_height} recovered_at={r.recovered_at}"
            )
        failures += not r.ok
    print(f"{args.count - failures}/{args.count} seeds ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
