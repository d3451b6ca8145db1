"""Forge a long chain quickly: the real consensus, in one process, with the validators' keys.

``finchain chain forge DIR --blocks N`` (on a network laid out by ``chain init`` and never
started) runs every validator's consensus replica — the same sans-I/O state machine the node
drives, built by :meth:`~finchain.chain.ledger_port.Ledger.make_consensus` with that validator's
own SM2 key — and relays their messages in memory (each one encoded and decoded as on the wire)
until every replica has committed at least ``N`` blocks. Nothing is skipped: proposals, votes and
quorum certificates are signed and verified as on a live network, and every commit proof is the
one consensus produced. Only the network, the clock and the pacing are gone: messages are
delivered at once on a virtual clock that only moves, to the next timer, when no message is
left to deliver (with no faults HotStuff never needs one; Raft's election does) and a leader
proposes as soon as it is asked. Blocks are empty (no transactions): the point is a long chain
of real commit proofs and headers.

Execution: the committed records go, in height order, through the node's ledger
(:meth:`~finchain.chain.ledger_port.Ledger.execute`, the same executor and store writes) into
the store of the first validator, written without per-block fsync and synced once at the end;
each block's header is then attested by every validator (header certificate, as live validators
do). Execution is deterministic, so the other validators get a copy of that store file; each
store then gets its own replica's consensus records and the blocks that replica committed past
the common height. Started afterwards, the validators carry on from there.
"""

from __future__ import annotations

import shutil
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finchain.chain.errors import ChainError


class ForgeError(ChainError):
    """The network cannot be forged (already started, stalled consensus, …)."""


@dataclass(frozen=True, slots=True)
class ForgeResult:
    heights: dict[str, int]  #: each validator's store height afterwards
    consensus_s: float  #: running the replicas (signing, verifying, relaying)
    total_s: float
    messages: int


def forge(
    directory: Path,
    blocks: int,
    *,
    header_certificates: bool = True,
    progress: Callable[[int], None] | None = None,
) -> ForgeResult:
    """Give every validator of the network in ``directory`` a chain of ``blocks`` (or a few
    more) committed blocks. The validators must be stopped and their stores fresh."""
    from finchain.chain import ledger_port, network
    from finchain.chain.config import load_config
    from finchain.chain.consensus.base import Commit, Persist, RequestPayload, Send, SetTimer
    from finchain.chain.types import Payload

    if blocks < 1:
        raise ForgeError("forge at least one block")
    t_start = time.perf_counter()
    directory = Path(directory)
    _summary, specs = network.load_network(directory)
    running = {n for n, pid in network.read_pids(directory).items() if network.alive(pid)}
    if running:
        raise ForgeError(f"stop the network first ({', '.join(sorted(running))} running)")
    configs = {
        s.name: load_config(network.node_config_path(directory, s.name))
        for s in specs
        if s.role == "validator"
    }
    for cfg in configs.values():
        if (Path(cfg.data_dir) / "ledger" / "data.mdb").exists():
            raise ForgeError(
                f"{cfg.name} already has a store ({cfg.data_dir}); forge a new network"
            )
    first = next(iter(configs))
    master = ledger_port.open_ledger(configs[first], sync=False)
    names = list(master.validator_names)
    if set(names) != set(configs):
        master.close()
        raise ForgeError("the genesis validators are not the network's validator nodes")
    suite = master.suite
    keys = [suite.load_private_key(Path(configs[n].key).read_bytes()) for n in names]
    replicas = [
        master.make_consensus(configs[n], i, key=keys[i], persisted={}) for i, n in enumerate(names)
    ]
    n = len(replicas)
    persisted: list[dict[str, bytes]] = [{} for _ in range(n)]
    committed = [0] * n
    records: dict[int, tuple[bytes, bytes, bytes]] = {}  # the first replica's commits
    extra: list[dict[int, tuple[bytes, bytes, bytes]]] = [{} for _ in range(n)]
    master_idx = names.index(first)
    executed = 0
    events: deque[tuple[int, int, Any]] = deque()  # (replica, sender or -1 for a payload, item)
    timers: dict[tuple[int, Any], int] = {}  # (replica, token) -> virtual time it fires
    round_timer: dict[tuple[int, str], Any] = {}  # a new round's timer makes older ones moot
    clock = 0  # virtual milliseconds
    progress_clock = 0  # when a replica last committed
    messages = 0

    def now() -> int:
        return clock

    def apply(r: int, actions: list[Any]) -> None:
        nonlocal messages, progress_clock
        for act in actions:
            if isinstance(act, Persist):
                persisted[r][act.key] = act.value
            elif isinstance(act, Send):
                raw = replicas[r].encode_message(act.message)
                msg = replicas[r].decode_message(raw)  # as a peer would see it
                targets = range(n) if act.to is None else (act.to,)
                for t in targets:
                    if t != r:
                        events.append((t, r, msg))
                        messages += 1
            elif isinstance(act, SetTimer):
                tok = act.token
                if isinstance(tok, tuple) and len(tok) == 2 and str(tok[0]).endswith("-round"):
                    old = round_timer.get((r, tok[0]))
                    if old is not None and old != tok:
                        timers.pop((r, old), None)
                    round_timer[(r, tok[0])] = tok
                timers[(r, tok)] = act.at
            elif isinstance(act, RequestPayload):
                events.append((r, -1, act.view))
            elif isinstance(act, Commit):
                if act.height != committed[r] + 1:
                    raise ForgeError(f"replica {r} committed {act.height} after {committed[r]}")
                committed[r] = act.height
                progress_clock = clock
                rec = (act.block_id, act.payload, act.proof)
                if r == master_idx:
                    records[act.height] = rec
                else:
                    ref = records.get(act.height)
                    if ref is not None and ref[0] != act.block_id:
                        raise ForgeError(f"replicas disagree at height {act.height}")
                    extra[r][act.height] = rec

    for i, rep in enumerate(replicas):
        apply(i, rep.on_start(now()))
    while min(committed) < blocks:
        if not events:
            if not timers or clock - progress_clock > 600_000:
                raise ForgeError(f"consensus stalled at heights {committed}")
            (r, token), clock = min(timers.items(), key=lambda kv: kv[1])
            del timers[(r, token)]
            apply(r, replicas[r].on_timer(token, now()))
            continue
        r, sender, item = events.popleft()
        if sender < 0:
            payload = Payload(r, int(time.time() * 1000), ()).encode()
            apply(r, replicas[r].on_payload(item, payload, now()))
        else:
            apply(r, replicas[r].on_message(sender, item, now()))
        low = min(committed)
        while executed < low:  # every replica has committed it: execute into the master
            executed += 1
            _execute(master, executed, records.pop(executed), keys, header_certificates)
            for e in extra:
                e.pop(executed, None)
            if progress is not None and executed % 1000 == 0:
                progress(executed)
    consensus_s = time.perf_counter() - t_start
    for i in range(n):
        if i != master_idx:
            for h, rec in extra[i].items():
                if h in records and records[h][0] != rec[0]:
                    raise ForgeError(f"replicas disagree at height {h}")
    extra[master_idx] = dict(records)
    master.store.sync()
    src = Path(master.config.data_dir) / "ledger" / "data.mdb"
    master.close()
    for i, name in enumerate(names):
        if i != master_idx:
            dst = Path(configs[name].data_dir) / "ledger"
            dst.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst / "data.mdb")
    for i, name in enumerate(names):
        cfg = configs[name]
        ledger = ledger_port.open_ledger(cfg, sync=False)
        try:
            for h in sorted(extra[i]):
                if h > ledger.height:
                    _execute(ledger, h, extra[i][h], keys, header_certificates)
            if ledger.height != committed[i]:
                raise ForgeError(f"{name}: store at {ledger.height}, consensus at {committed[i]}")
            ledger.store.replace_persisted(persisted[i])
        finally:
            ledger.close()
    return ForgeResult(
        heights={name: committed[i] for i, name in enumerate(names)},
        consensus_s=round(consensus_s, 2),
        total_s=round(time.perf_counter() - t_start, 2),
        messages=messages,
    )


def _execute(
    ledger: Any, height: int, rec: tuple[bytes, bytes, bytes], keys: list[Any], certify: bool
) -> None:
    from finchain.chain.proofs import HeaderCertificate, sign_header
    from finchain.chain.types import Payload

    block_id, raw, proof = rec
    try:
        payload = Payload.decode(raw)
    except ValueError:  # a Raft membership entry: executed as an empty block, as the node does
        payload = Payload(0, 0, ())
    done = ledger.execute(height, block_id, payload, proof, {})
    if certify:
        sigs = tuple(
            (i, sign_header(ledger.suite, k, done.header, ledger.chain_id))
            for i, k in enumerate(keys)
        )
        ledger.store.put_meta(f"hcert:{height}", HeaderCertificate(sigs).encode())
