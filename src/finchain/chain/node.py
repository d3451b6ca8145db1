"""One finchain node process: peer network, mempool, consensus driver, execution, RPC.

The node is the I/O shell around pure parts:

* **consensus** (a sans-I/O state machine) is fed peer messages, timers and payloads; its actions
  are carried out in order — :class:`~finchain.chain.consensus.base.Persist` is written (synced
  LMDB) before any later ``Send`` leaves, ``SetTimer`` becomes a loop timer, ``RequestPayload``
  is answered with the digests of batches waiting here, ``Commit`` goes to the execution queue;
* **execution** takes commits strictly in height order, fetches missing batches from peers,
  executes with the ledger core's executor and stores the block in one LMDB transaction, then
  tells the mempool, the metrics and WebSocket subscribers;
* **block sync**: every node tells its peers its height every second; a node that sees a peer
  ahead of it (a restarted validator, an observer, a replica whose consensus jumped past blocks
  it has not executed) fetches commit records ``(height, block_id, payload, proof)``, checks each
  proof with the algorithm's ``verify_commit_proof`` against the genesis validator set (or the
  committee of the height's epoch) and executes them the same way.

**Attested batch verification** (``mempool.batch_verification: attested``, the default): a client
signature is checked by ``f + 1`` validators, not all ``n``. The validator that admitted a batch
(it checked every signature) and the next ``f`` validators after it in replica order (they check
it on arrival) each broadcast a signed attestation ``BATCH_ACK`` (:func:`~finchain.chain.proofs.
batch_ack_bytes` over the batch digest, which hashes the whole batch, signatures included). Every
other validator pools the batch unverified — not proposable, not trusted by execution — until it
holds ``f + 1`` valid attestations from distinct validators: at most ``f`` are faulty, so at least
one honest validator checked every signature. A batch still unattested after
``attest_timeout_ms`` (a verifier crashed or was cut off) is checked locally, and execution
re-checks any transaction not known valid, so a missing attestation costs CPU, never safety or
liveness. For 4 validators this is 2 verifications per transaction instead of 4. Batches
forwarded by an observer are assigned to ``f + 1`` validators by digest.

Roles: a *validator* runs consensus and accepts transactions; an *observer* never votes — it
follows by block sync only, checks every commit proof, serves reads, and forwards submitted
transactions' batches to validators.

**Committee epochs** (a genesis committee section with candidates, HotStuff only): the
validators are then the *candidates*; executing an epoch's last block records the next
committee in state and :meth:`Node._enter_epoch` switches to it — members run a fresh HotStuff
instance for the epoch (own persisted records, own signing domain, local heights offset by the
epoch's base), everyone else follows by block sync. Commits past the epoch's last block are
dropped and leaders propose empty payloads there, so every node executes exactly the blocks
each epoch's committee decided (docs/consensus.md, "Live rotation").
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import itertools
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import finchain.chain.ledger_port as ledger_port
from finchain.chain.config import NodeConfig
from finchain.chain.consensus.base import (
    Action,
    Commit,
    Persist,
    RequestPayload,
    Send,
    SetTimer,
    SyncRequired,
    max_faulty,
)
from finchain.chain.errors import ChainError
from finchain.chain.mempool import Mempool
from finchain.chain.metrics import NodeMetrics
from finchain.chain.net import PeerAddress, PeerNetwork
from finchain.chain.net import messages as m
from finchain.chain.rpc import Dispatcher, EventHub, RpcServer
from finchain.chain.types import Batch, BlockHeader, Payload

log = logging.getLogger(__name__)


#: block sync: records asked for per request, checked ranges waiting for execution, answer
#: timeout; what a node serves per request at most (records, approximate bytes)
SYNC_RANGE = 256
#: longest a proposal waits for the batches it names before this node declines to vote
PROPOSAL_BATCH_WAIT_S = 2.0
SYNC_AHEAD = 2
SYNC_TIMEOUT_S = 5.0
SYNC_SERVE_RECORDS = 1024
SYNC_SERVE_BYTES = 4 * 1024 * 1024
#: a peer that gave nothing in a sync round is not asked again for this long, doubling per
#: such round up to the maximum
SYNC_BACKOFF_MIN_S = 5.0
SYNC_BACKOFF_MAX_S = 30.0


class NodeError(ChainError):
    """A node cannot start or run (bad configuration, foreign store, port in use)."""


@dataclass(frozen=True, slots=True)
class CommitRecord:
    """What consensus decided at one height (live or synced)."""

    height: int
    block_id: bytes
    payload: bytes
    proof: bytes


class Node:
    """A validator or observer; :meth:`run` serves until :meth:`stop`."""

    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.started_at = time.time()
        self.ledger = ledger_port.open_ledger(config)
        self.suite = self.ledger.suite
        self.genesis = self.ledger.genesis
        self.validators: list[str] = list(self.ledger.validator_names)
        #: every validator-capable node (= ``validators`` without a committee section)
        self.candidates: list[str] = list(self.ledger.validator_names)
        self.replica_id = (
            self.validators.index(config.name) if config.name in self.validators else None
        )
        if config.role == "validator" and self.replica_id is None:
            raise NodeError(f"{config.name} is configured as a validator but genesis lists it not")
        self.is_validator = config.role == "validator"
        #: live committee schedule; with one, ``validators`` is the current epoch's committee
        self.spec = self.ledger.committee_spec
        self.epoch = 0
        self._epoch_base = 0
        self._persist_prefix = ""
        self._future: list[tuple[int, str, bytes]] = []  # next epoch's consensus messages
        self._hdr_n = len(self.validators) if self.spec is None else self.spec.size
        if self.spec is not None:
            self.replica_id = None  # set per epoch by _enter_epoch
        self.metrics = NodeMetrics()
        self.verify_pool = ThreadPoolExecutor(
            max_workers=max(1, os.cpu_count() or 1), thread_name_prefix="verify"
        )
        self.peer_verify_pool = ThreadPoolExecutor(
            max_workers=max(1, os.cpu_count() or 1), thread_name_prefix="verify-peer"
        )
        self.exec_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="execute")
        #: block sync's proof checks (they fan out to verify_pool), beside execution
        self.sync_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync")
        self.mempool = Mempool(
            suite=self.suite,
            chain_id=self.ledger.chain_id,
            config=config.mempool,
            is_committed=self.ledger.has_tx,
            contract_refusal=self.ledger.contract_refusal,
            is_batch_stored=self.ledger.has_batch,
            executor=self.verify_pool,
            peer_executor=self.peer_verify_pool,
        )
        self.ledger.verified = self.mempool.verified_hashes
        self.hub = EventHub()
        self.dispatcher = Dispatcher()
        self.consensus = (
            self.ledger.make_consensus(config, self.replica_id)
            if self.is_validator and self.spec is None
            else None
        )
        self.net: PeerNetwork | None = None
        self.rpc: RpcServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._t0 = time.monotonic()
        self._timers: dict[Any, asyncio.TimerHandle] = {}
        self._commits: dict[int, CommitRecord] = {}
        self._commit_wake = asyncio.Event()
        self._peer_heights: dict[str, int] = {}
        self._peer_roles: dict[str, str] = {}
        self._requests: dict[int, asyncio.Future[Any]] = {}
        self._rid = itertools.count(1)
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()
        self._height_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._batch_arrived = asyncio.Event()
        self._view_change_rounds = 0
        self._sync_wanted = 0
        self._hdr_sigs: dict[int, dict[int, tuple[bytes, bytes]]] = {}
        self._hdr_done_below = 0
        self._last_proposal = 0.0
        # with live committees the replica set changes per epoch: every candidate checks
        # every signature there (attestations are tied to a fixed validator set)
        self._attested = config.mempool.batch_verification == "attested" and self.spec is None
        self._f = max_faulty(len(self.validators))
        #: batch digest -> replica -> attestation signature (not yet checked)
        self._acks: collections.OrderedDict[bytes, dict[int, bytes]] = collections.OrderedDict()
        self._acks_checking: set[bytes] = set()
        #: digests with f + 1 valid attestations whose batch has not arrived yet
        self._attested_early: collections.OrderedDict[bytes, None] = collections.OrderedDict()
        self._late_checks: set[bytes] = set()
        self._late_scan = 0.0
        #: peer batches being signature-checked here (held: they count as available)
        self._in_flight: dict[bytes, Batch] = {}
        #: digests of batches refused for a bad signature (not pooled again when re-sent)
        self._refused: collections.OrderedDict[bytes, None] = collections.OrderedDict()
        #: block sync: peer -> (monotonic time before which it is not asked again, backoff s)
        #: after a round with it that executed nothing (no answer, nothing new, a bad proof)
        self._sync_backoff: dict[str, tuple[float, float]] = {}

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def height(self) -> int:
        return self.ledger.height

    def now_ms(self) -> int:
        return int((time.monotonic() - self._t0) * 1000)

    async def start(self) -> None:
        """Open the network and RPC, restore pending batches, start consensus."""
        self._loop = asyncio.get_running_loop()
        self._commit_wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._batch_arrived = asyncio.Event()
        for batch in self.ledger.pending_batches():
            # stored before a restart: checked again (after attest_timeout_ms) before proposing
            # or trusting it, since the store also keeps batches fetched for execution
            self.mempool.add_unverified_batch(batch)
        cfg = self.config
        dial = {
            p.name: PeerAddress(p.host, p.p2p_port)
            for p in cfg.peers
            if p.role == "validator" and (not self.is_validator or p.name > cfg.name)
        }
        self.net = PeerNetwork(
            host=cfg.host,
            port=cfg.p2p_port,
            credentials=self.ledger.credentials,
            verifier=self.ledger.peer_verifier,
            chain_id=self.ledger.chain_id,
            dial=dial,
            on_message=self._on_peer_message,
            on_peer_change=self._on_peer_change,
        )
        await self.net.start()
        from finchain.chain.rpc.methods import register_methods

        register_methods(self.dispatcher, self)
        self.rpc = RpcServer(
            dispatcher=self.dispatcher,
            hub=self.hub,
            host=cfg.host,
            port=cfg.rpc_port,
            metrics=self._render_metrics,
            health=self.health,
        )
        await self.rpc.start()
        self.metrics.height.set(self.height)
        self._spawn(self._execute_loop())
        self._spawn(self._status_loop())
        if self.is_validator:
            self._spawn(self._batch_loop())
        if self.spec is not None:
            from finchain.chain.committee import epoch_of

            self._enter_epoch(epoch_of(self.height + 1, self.spec.epoch_blocks))
        elif self.is_validator:
            assert self.consensus is not None
            self._apply(self.consensus.on_start(self.now_ms()))
        log.info(
            "node started",
            extra={
                "node": cfg.name,
                "role": cfg.role,
                "height": self.height,
                "rpc": cfg.rpc_port,
                "p2p": cfg.p2p_port,
            },
        )

    async def stop(self) -> None:
        self._stop.set()
        for handle in self._timers.values():
            handle.cancel()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        if self.rpc is not None:
            await self.rpc.stop()
        if self.net is not None:
            await self.net.stop()
        self.exec_pool.shutdown(wait=True)
        self.sync_pool.shutdown(wait=True)
        self.verify_pool.shutdown(wait=False)
        self.peer_verify_pool.shutdown(wait=False)
        self.ledger.close()

    async def run(self) -> None:
        """Start, serve until :meth:`request_stop`, stop."""
        await self.start()
        try:
            await self._stop.wait()
        finally:
            await self.stop()

    def request_stop(self) -> None:
        self._stop.set()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)

        def done(t: asyncio.Task[None]) -> None:
            if not t.cancelled() and t.exception() is not None:
                log.error("node task failed", exc_info=t.exception())

        task.add_done_callback(done)
        self._tasks.append(task)

    def health(self) -> dict[str, Any]:
        return {
            "ok": True,
            "name": self.config.name,
            "role": self.config.role,
            "height": self.height,
        }

    def _render_metrics(self) -> bytes:
        self.metrics.mempool_size.set(len(self.mempool))
        checked = {**self.mempool.signatures_checked, "execution": self.ledger.signatures_checked}
        for where, count in checked.items():
            self.metrics.signatures_checked.labels(where).set(count)
        if self.net is not None:
            self.metrics.peers.set(len(self.net.connected()))
            self.metrics.peers_refused.set(self.net.refused)
        return self.metrics.render()

    # -- consensus driver ------------------------------------------------------------------
    def _apply(self, actions: list[Action]) -> None:
        assert self.consensus is not None and self.net is not None
        for action in actions:
            if isinstance(action, Persist):
                self.ledger.persist(self._persist_prefix + action.key, action.value)
            elif isinstance(action, Send):
                raw = self.consensus.encode_message(action.message)
                data = (
                    m.pack(m.CONSENSUS, raw)
                    if self.spec is None
                    else m.pack(m.CONSENSUS, raw, self.epoch)
                )
                if action.to is None:
                    self.net.broadcast(data, [v for v in self.validators if v != self.config.name])
                else:
                    self.net.send(self.validators[action.to], data)
            elif isinstance(action, SetTimer):
                self._set_timer(action.at, action.token)
            elif isinstance(action, RequestPayload):
                self._spawn(self._propose(action.view))
            elif isinstance(action, Commit):
                if self.spec is not None and action.height > self.spec.epoch_blocks:
                    continue  # ordered past the epoch's last block: never executed (see docs)
                self._queue_commit(
                    CommitRecord(
                        self._epoch_base + action.height,
                        action.block_id,
                        action.payload,
                        action.proof,
                    )
                )
            elif isinstance(action, SyncRequired):
                self._sync_wanted = max(self._sync_wanted, self._epoch_base + action.from_height)

    def _set_timer(self, at: int, token: Any) -> None:
        assert self._loop is not None
        old = self._timers.pop(token, None)
        if old is not None:
            old.cancel()
        if _is_round_token(token):  # a new round's timer makes older rounds' timers moot
            for stale in [
                t for t in self._timers if _is_round_token(t) and t[0] == token[0] and t < token
            ]:
                self._timers.pop(stale).cancel()
        delay = max(0.0, (at - self.now_ms()) / 1000)
        self._timers[token] = self._loop.call_later(delay, self._on_timer, token)

    def _on_timer(self, token: Any) -> None:
        self._timers.pop(token, None)
        if self.consensus is None or self._stop.is_set():
            return
        current = getattr(self.consensus, "current_round", None)
        if _is_round_token(token) and token[1] == current:
            self.metrics.view_changes.inc()  # the current round timed out: a view change
        self._apply(self.consensus.on_timer(token, self.now_ms()))

    async def _propose(self, view: int) -> None:
        """Answer RequestPayload: batch digests waiting here (waits briefly when there are none)."""
        cfg = self.config.mempool
        inst = self.consensus
        if self.spec is not None and inst is not None:
            nxt = inst.next_height()
            if nxt is not None and nxt > self.spec.epoch_blocks:
                # past the epoch's last block: empty blocks, only to certify the last one
                empty = Payload(self.replica_id or 0, int(time.time() * 1000), ())
                self._apply(inst.on_payload(view, empty.encode(), self.now_ms()))
                return
        gap = self._last_proposal + cfg.min_block_interval_ms / 1000 - time.monotonic()
        if gap > 0:  # pace blocks: fewer, fuller blocks cost less consensus crypto per tx
            await asyncio.sleep(gap)
        deadline = self._last_proposal + cfg.empty_block_interval_ms / 1000
        while not self.mempool.has_proposable() and time.monotonic() < deadline:
            self._batch_arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._batch_arrived.wait(), deadline - time.monotonic())
        digests = self.mempool.proposal(cfg.max_block_batches)
        self._last_proposal = time.monotonic()
        payload = Payload(self.replica_id or 0, int(time.time() * 1000), tuple(digests))
        if self.consensus is inst and not self._stop.is_set():  # not replaced by a new epoch's
            assert inst is not None
            self._apply(inst.on_payload(view, payload.encode(), self.now_ms()))

    # -- batches ---------------------------------------------------------------------------
    async def _batch_loop(self) -> None:
        cfg = self.config.mempool
        while not self._stop.is_set():
            await asyncio.sleep(cfg.batch_interval_ms / 1000)
            while self.mempool.loose:
                batch = self.mempool.cut_batch()
                if batch is None:
                    break
                self._publish_batch(batch)
                if self.mempool.loose < cfg.batch_size:
                    break
            self._check_unattested()

    def _publish_batch(self, batch: Batch) -> None:
        assert self.net is not None
        self.ledger.put_batches([batch])
        self.net.broadcast(
            m.pack(m.BATCH, batch.encode()), [v for v in self.candidates if v != self.config.name]
        )
        if self.replica_id is not None and self._attested:
            self._send_ack(batch.digest)  # admission checked every signature
        self._batch_arrived.set()

    def _verifiers(self, origin: int | None, digest: bytes) -> set[int]:
        """Replicas that check a batch's signatures: its origin and the ``f`` after it (or, for
        a batch from a non-validator, ``f + 1`` replicas starting at one chosen by digest)."""
        n = len(self.validators)
        start = origin if origin is not None else digest[0] % n
        return {(start + k) % n for k in range(self._f + 1)}

    def _send_ack(self, digest: bytes) -> None:
        from finchain.chain.proofs import batch_ack_bytes

        assert self.net is not None and self.replica_id is not None
        sig = self.suite.sign(self.ledger.key, batch_ack_bytes(self.ledger.chain_id, digest))
        self.net.broadcast(
            m.pack(m.BATCH_ACK, digest, self.replica_id, sig),
            [v for v in self.validators if v != self.config.name],
        )

    def _on_batch_ack(self, peer: str, digest: bytes, replica: int, sig: bytes) -> None:
        """Collect attestations; check them once ``f + 1`` distinct replicas have sent one."""
        if not 0 <= replica < len(self.validators) or self.validators[replica] != peer:
            return  # attestations are taken only first-hand from their signer
        if replica == self.replica_id or len(digest) > 64 or len(sig) > 256:
            return
        if self.mempool.is_verified(digest) or digest in self._attested_early:
            return
        acks = self._acks.get(digest)
        if acks is None:
            acks = self._acks[digest] = {}
            if len(self._acks) > 8192:
                self._acks.popitem(last=False)
        acks.setdefault(replica, sig)
        if len(acks) >= self._f + 1 and digest not in self._acks_checking:
            self._acks_checking.add(digest)
            self._spawn(self._check_acks(digest))

    async def _check_acks(self, digest: bytes) -> None:
        from finchain.chain.proofs import batch_ack_bytes

        try:
            acks = dict(self._acks.get(digest, {}))
            message = batch_ack_bytes(self.ledger.chain_id, digest)
            keys = self.ledger.validator_keys.keys
            items = [(keys[r], message, s) for r, s in acks.items()]
            assert self._loop is not None
            results = await self._loop.run_in_executor(
                None, lambda: self.suite.verify_batch(items, executor=self.peer_verify_pool)
            )
            good = 0
            for (r, _), ok in zip(acks.items(), results, strict=True):
                if ok:
                    good += 1
                else:
                    self.metrics.batch_acks_refused.inc()
                    self._acks.get(digest, {}).pop(r, None)
            if good < self._f + 1:
                return
            self._acks.pop(digest, None)
            if self.mempool.certify(digest):
                self.metrics.batches_attested.inc()
                self._batch_arrived.set()
            elif not self.mempool.has_batch(digest) and not self.ledger.has_batch(digest):
                self._attested_early[digest] = None
                if len(self._attested_early) > 8192:
                    self._attested_early.popitem(last=False)
        finally:
            self._acks_checking.discard(digest)
        pending = self._acks.get(digest)
        if pending is not None and len(pending) >= self._f + 1:
            self._acks_checking.add(digest)  # more arrived while checking (some were bad)
            self._spawn(self._check_acks(digest))

    def _check_unattested(self) -> None:
        """Check here the pooled batches whose attestations did not come in time."""
        now = time.monotonic()
        if now - self._late_scan < 0.25:
            return
        self._late_scan = now
        timeout = self.config.mempool.attest_timeout_ms / 1000
        for batch in self.mempool.unverified_since(now - timeout)[:64]:
            if batch.digest not in self._late_checks:
                self._late_checks.add(batch.digest)
                self._spawn(self._check_late(batch))

    async def _check_late(self, batch: Batch) -> None:
        try:
            self.metrics.batches_checked.labels("late").inc()
            if await self.mempool.add_peer_batch(batch, why="late"):
                self._batch_arrived.set()
            else:
                # stored unverified on arrival: no longer pending there, or every restart
                # would pool and check it again (its bytes stay fetchable, see the ledger)
                self.ledger.forget_pending_batches([batch.digest])
                self._refuse(batch.digest)
                log.warning(
                    "batch with invalid signatures refused", extra={"digest": batch.digest.hex()}
                )
        finally:
            self._late_checks.discard(batch.digest)

    def _refuse(self, digest: bytes) -> None:
        self._refused[digest] = None
        if len(self._refused) > 8192:
            self._refused.popitem(last=False)

    async def submit_batch_from_observer(self, batch: Batch) -> None:
        """An observer forwards admitted transactions as a batch to every validator."""
        self._publish_batch(batch)

    async def _on_peer_batch(self, peer: str, raw: bytes) -> None:
        try:
            batch = Batch.decode(raw, self.suite)
        except ValueError:
            return
        digest = batch.digest
        if (
            self.mempool.has_batch(digest)
            or self.ledger.has_batch(digest)
            or digest in self._refused
        ):
            return
        origin = self.validators.index(peer) if peer in self.validators else None
        if (
            self._attested
            and self.replica_id is not None
            and self.replica_id not in self._verifiers(origin, digest)
        ):
            # f + 1 other validators check it: pool it unverified until they attest
            if self._attested_early.pop(digest, None) is not None:
                self.mempool.add_batch(batch)
                self.metrics.batches_attested.inc()
                self._batch_arrived.set()
            else:
                self.mempool.add_unverified_batch(batch)
            self.ledger.put_batches([batch])
            return
        self.metrics.batches_checked.labels("assigned").inc()
        self._in_flight[digest] = batch  # held (and served) while its signatures are checked
        try:
            valid = await self.mempool.add_peer_batch(batch, why="assigned")
        finally:
            self._in_flight.pop(digest, None)
        if not valid:
            # kept in the store, off the pending index: this node may have voted for a
            # proposal naming it while it was being checked, so it must stay fetchable
            self.ledger.put_batches([batch])
            self.ledger.forget_pending_batches([digest])
            self._refuse(digest)
            log.warning("batch with invalid signatures refused", extra={"digest": digest.hex()})
            return
        if self._attested and self.replica_id is not None:
            self._send_ack(digest)
        if self.mempool.has_batch(digest) and not self.ledger.has_batch(digest):
            # (a batch committed while it was being verified is stored already, not pooled)
            self.ledger.put_batches([batch])
            self._batch_arrived.set()

    async def _get_batches(self, digests: list[bytes]) -> dict[bytes, Batch]:
        """Every batch of a block, fetching missing ones from peers (retries until found)."""
        out: dict[bytes, Batch] = {}
        missing: list[bytes] = []
        for d in digests:
            batch = self.mempool.get_batch(d) or self.ledger.get_batch(d)
            if batch is None:
                missing.append(d)
            else:
                out[d] = batch
        attempt = 0
        while missing and not self._stop.is_set():
            peers = self._peers_to_ask()
            if not peers:
                await asyncio.sleep(0.1)
                continue
            peer = peers[attempt % len(peers)]
            attempt += 1
            out.update(await self._fetch_batches(peer, missing, timeout=2.0))
            missing = [d for d in missing if d not in out]
        return out

    async def _fetch_batches(
        self, peer: str, missing: list[bytes], *, timeout: float
    ) -> dict[bytes, Batch]:
        """Ask ``peer`` for batches; those among ``missing`` that it sends are stored (not
        pooled) and returned."""
        try:
            raws = await self._request(peer, m.BATCH_REQ, missing, timeout=timeout)
        except TimeoutError:
            return {}
        wanted = set(missing)
        got: dict[bytes, Batch] = {}
        for raw in raws if isinstance(raws, list) else ():
            try:
                batch = Batch.decode(raw, self.suite)
            except (TypeError, ValueError):
                continue
            if batch.digest in wanted:
                got[batch.digest] = batch
        if got:
            self.metrics.batches_fetched.inc(len(got))
            self.ledger.put_batches(list(got.values()))
        return got

    def _peers_to_ask(self) -> list[str]:
        assert self.net is not None
        connected = self.net.connected()
        ahead = [p for p in connected if self._peer_heights.get(p, -1) >= self.height]
        return ahead or connected

    # -- peer messages ---------------------------------------------------------------------
    def _on_peer_change(self, name: str, up: bool) -> None:
        if self.net is not None:
            self.metrics.peers.set(len(self.net.connected()))
        if up:
            assert self.net is not None
            self.net.send(name, m.pack(m.STATUS, self.height, self.config.role))

    def _on_peer_message(self, peer: str, data: bytes) -> None:
        try:
            msg = m.unpack(data)
        except ValueError:
            log.warning("malformed message", extra={"peer": peer})
            return
        kind = msg[0]
        if kind == m.CONSENSUS:
            self._on_consensus(peer, msg[1], msg[2] if len(msg) > 2 else None)
        elif kind == m.BATCH:
            if self.is_validator or peer in self.candidates:
                self._spawn(self._on_peer_batch(peer, msg[1]))
        elif kind == m.BATCH_REQ:
            found = []
            for d in msg[2][:256]:
                batch = (
                    self.mempool.get_batch(d) or self._in_flight.get(d) or self.ledger.get_batch(d)
                )
                if batch is not None:
                    found.append(batch.encode())
            assert self.net is not None
            self.net.send(peer, m.pack(m.BATCH_RSP, msg[1], found))
        elif kind in (m.BATCH_RSP, m.SYNC_RSP):
            fut = self._requests.pop(msg[1], None)
            if fut is not None and not fut.done():
                fut.set_result(msg[2] if kind == m.BATCH_RSP else (msg[2], msg[3]))
        elif kind == m.SYNC_REQ:
            self._answer_sync(peer, msg[1], int(msg[2]), int(msg[3]))
        elif kind == m.HDR_SIG:
            self._on_header_sig(int(msg[1]), bytes(msg[2]), int(msg[3]), bytes(msg[4]))
        elif kind == m.BATCH_ACK:
            if self.is_validator and self._attested:
                # exact types: bytes(n) of an int would allocate n zero bytes, int() of a
                # float or string would make up a replica index
                fields = msg[1:]
                if (
                    len(fields) != 3
                    or type(fields[0]) is not bytes
                    or type(fields[1]) is not int
                    or type(fields[2]) is not bytes
                ):
                    log.warning("malformed batch attestation", extra={"peer": peer})
                    return
                self._on_batch_ack(peer, fields[0], fields[1], fields[2])
        elif kind == m.STATUS:
            self._peer_heights[peer] = int(msg[1])
            self._peer_roles[peer] = str(msg[2])
            if int(msg[1]) > self.height:
                self._commit_wake.set()

    def _on_consensus(self, peer: str, raw: bytes, epoch: Any = None) -> None:
        if self.spec is not None and epoch != self.epoch:
            # a committee member of the next epoch that switched before us: replay on switching
            if isinstance(epoch, int) and epoch == self.epoch + 1 and peer in self.candidates:
                self._future.append((epoch, peer, raw))
                del self._future[:-1024]
            return
        if self.consensus is None or peer not in self.validators:
            return
        try:
            message = self.consensus.decode_message(raw)
        except ValueError:
            log.warning("malformed consensus message", extra={"peer": peer})
            return
        payload = getattr(getattr(message, "block", None), "payload", None)  # HotStuff
        if payload is None:
            payload = getattr(message, "payload", None)  # PBFT pre-prepare
        if isinstance(payload, bytes):
            digests: tuple[bytes, ...] = ()
            with contextlib.suppress(ValueError):
                digests = tuple(Payload.decode(payload).batch_digests)
            if self._rightful_proposal(peer, message):
                self._last_proposal = time.monotonic()
                self.mempool.mark_proposed(digests)
            missing = [d for d in digests if not self._holds_batch(d)]
            if missing:
                # vote only for what this node holds: then every committed batch is held by
                # at least f + 1 honest validators and can always be fetched for execution
                self._spawn(self._deliver_when_held(peer, message, missing))
                return
        self._apply(self.consensus.on_message(self.validators.index(peer), message, self.now_ms()))

    def _rightful_proposal(self, peer: str, message: Any) -> bool:
        """Whether a proposal comes from the leader of its round, for a round at most two
        ahead of ours: only such a one holds batches back from this node's own proposals (any
        validator could otherwise name honest batches in made-up proposals every few seconds
        and keep them from being ordered). Consensus still checks everything else."""
        inst: Any = self.consensus
        sender = self.validators.index(peer)
        block = getattr(message, "block", None)
        if block is not None and hasattr(inst, "leader"):
            current = getattr(inst, "current_round", None)
            ahead = isinstance(current, int) and block.round > current + 2
            return block.proposer == sender and inst.leader(block.round) == sender and not ahead
        view = getattr(message, "view", None)
        if isinstance(view, int) and hasattr(inst, "primary"):
            return bool(inst.primary(view) == sender)
        return True

    def _holds_batch(self, digest: bytes) -> bool:
        return (
            self.mempool.has_batch(digest)
            or digest in self._in_flight
            or self.ledger.has_batch(digest)
        )

    async def _deliver_when_held(self, peer: str, message: Any, missing: list[bytes]) -> None:
        """Hand a proposal to consensus once every batch it names is here (waiting for the
        broadcast, then asking peers); never, if they cannot be had within
        :data:`PROPOSAL_BATCH_WAIT_S` — the round then times out and the next leader goes on."""
        inst = self.consensus
        if inst is None:
            return
        deadline = time.monotonic() + PROPOSAL_BATCH_WAIT_S
        asked = 0
        while not self._stop.is_set() and time.monotonic() < deadline:
            missing = [d for d in missing if not self._holds_batch(d)]
            if not missing:
                break
            if time.monotonic() + PROPOSAL_BATCH_WAIT_S - deadline < 0.3:
                await asyncio.sleep(0.02)  # usually on its way already (broadcast before)
                continue
            peers = [peer] + [p for p in self._peers_to_ask() if p != peer]
            target = peers[asked % len(peers)]
            asked += 1
            got = await self._fetch_batches(
                target, missing, timeout=max(0.1, deadline - time.monotonic())
            )
            if got:  # fetched to vote on, not to propose
                self.ledger.forget_pending_batches(list(got))
        if self._stop.is_set() or inst is not self.consensus:
            return
        if any(not self._holds_batch(d) for d in missing):
            log.warning(
                "proposal names batches this node cannot get: not voting",
                extra={"peer": peer, "missing": len(missing)},
            )
            return
        if inst is not None and peer in self.validators:  # (re-narrowed for mypy)
            self._apply(inst.on_message(self.validators.index(peer), message, self.now_ms()))

    # -- epochs (genesis with a committee section) ------------------------------------------
    def _enter_epoch(self, epoch: int) -> None:
        """Switch to ``epoch``'s committee, read from this node's own state: a member starts a
        fresh consensus instance (replica order = draw order), anyone else follows by sync."""
        from finchain.chain.ledger_port import epoch_persist_prefix

        assert self.spec is not None
        rec = self.ledger.committee(epoch)
        if rec is None:
            log.error("no committee recorded for epoch", extra={"epoch": epoch})
            return
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self.consensus = None
        self.epoch = epoch
        self._epoch_base = epoch * self.spec.epoch_blocks
        self._persist_prefix = epoch_persist_prefix(epoch)
        self.validators = list(rec.nodes)
        me = self.config.name
        self.replica_id = self.validators.index(me) if me in self.validators else None
        replay = [(p, raw) for e, p, raw in self._future if e == epoch]
        self._future = [x for x in self._future if x[0] > epoch]
        self.metrics.epoch.set(epoch)
        log.info(
            "epoch",
            extra={
                "epoch": epoch,
                "height": self.height,
                "committee": ",".join(rec.nodes),
                "member": self.replica_id is not None,
            },
        )
        if self.is_validator and self.replica_id is not None:
            self.consensus = self.ledger.make_epoch_consensus(epoch, self.replica_id)
            self._apply(self.consensus.on_start(self.now_ms()))
            for peer, raw in replay:
                self._on_consensus(peer, raw, epoch)

    def _epoch_of(self, height: int) -> int:
        assert self.spec is not None
        return max(0, height - 1) // self.spec.epoch_blocks

    # -- header certificates ---------------------------------------------------------------
    def _sign_header(self, header: BlockHeader) -> bool:
        """A validator attests the header it just executed; peers collect a quorum of these.
        ``False`` when this node is not on the committee of the header's epoch."""
        from finchain.chain.proofs import sign_header

        assert self.net is not None
        index = self.replica_id
        if self.spec is not None:  # the committee of the header's epoch attests it
            rec = self.ledger.committee(self._epoch_of(header.height))
            index = None if rec is None else _index(rec.nodes, self.config.name)
            if index is None:
                return False
        assert index is not None
        sig = sign_header(self.suite, self.ledger.key, header, self.ledger.chain_id)
        digest = header.hash_with(self.suite)
        self._on_header_sig(header.height, digest, index, sig)
        self.net.broadcast(m.pack(m.HDR_SIG, header.height, digest, index, sig))
        return True

    def _on_header_sig(self, height: int, digest: bytes, replica: int, sig: bytes) -> None:
        if not 0 <= replica < self._hdr_n or height <= self._hdr_done_below:
            return
        if height > self.height + 10_000:
            return
        self._hdr_sigs.setdefault(height, {}).setdefault(replica, (digest, sig))
        self._maybe_certify(height)

    def _maybe_certify(self, height: int) -> None:
        """Store the attestations of a header once a quorum of them names the same header hash.

        Signatures are checked lazily, when a certificate is served (:meth:`header_certificate`):
        checking every attestation as it arrives would cost more SM2 verifications than the
        client transactions of a busy block.
        """
        from finchain.chain.consensus.base import quorum_size
        from finchain.chain.proofs import HeaderCertificate

        sigs = self._hdr_sigs.get(height)
        header = self.ledger.store.get_header(height) if height <= self.height else None
        if not sigs or header is None:
            return
        digest = header.hash_with(self.suite)
        matching = sorted((r, s) for r, (d, s) in sigs.items() if d == digest)
        if len(matching) < quorum_size(self._hdr_n):
            return
        stored = self.ledger.store.get_meta(f"hcert:{height}")
        if stored is not None and len(HeaderCertificate.decode(stored).signatures) >= len(matching):
            return
        self.ledger.store.put_meta(f"hcert:{height}", HeaderCertificate(tuple(matching)).encode())
        if len(matching) == self._hdr_n:
            del self._hdr_sigs[height]
        for h in [h for h in self._hdr_sigs if h < height - 1000]:
            del self._hdr_sigs[h]

    def header_certificate(self, height: int) -> bytes | None:
        """A quorum of *valid* attestations of block ``height`` (checked now), or ``None``."""
        from finchain.chain.consensus.base import quorum_size
        from finchain.chain.proofs import HeaderCertificate, header_vote_bytes

        raw = self.ledger.store.get_meta(f"hcert:{height}")
        header = self.ledger.store.get_header(height)
        if raw is None or header is None:
            return None
        message = header_vote_bytes(self.suite, header, self.ledger.chain_id)
        keys = self.ledger.validator_keys.keys
        if self.spec is not None:
            epoch_keys = self.ledger.committee_keys(self._epoch_of(height))
            if epoch_keys is None:
                return None
            keys = epoch_keys.keys
        good = tuple(
            (r, s)
            for r, s in HeaderCertificate.decode(raw).signatures
            if 0 <= r < len(keys) and self.suite.is_valid(keys[r], message, s)
        )
        if len(good) < quorum_size(self._hdr_n):
            return None
        return HeaderCertificate(good).encode()

    async def _request(self, peer: str, kind: int, *args: Any, timeout: float) -> Any:
        assert self.net is not None and self._loop is not None
        rid = next(self._rid)
        fut: asyncio.Future[Any] = self._loop.create_future()
        self._requests[rid] = fut
        self.net.send(peer, m.pack(kind, rid, *args))
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._requests.pop(rid, None)

    def _answer_sync(self, peer: str, rid: int, start: int, count: int) -> None:
        """Up to ``count`` commit records from ``start`` (at most :data:`SYNC_SERVE_RECORDS`,
        and no more than :data:`SYNC_SERVE_BYTES` of them)."""
        assert self.net is not None
        records = []
        size = 0
        for h in range(
            max(1, start), min(self.height, start + min(count, SYNC_SERVE_RECORDS) - 1) + 1
        ):
            rec = self.ledger.commit_record(h)
            if rec is None:
                break
            records.append([rec.height, rec.block_id, rec.payload, rec.proof])
            size += len(rec.block_id) + len(rec.payload) + len(rec.proof) + 16
            if size >= SYNC_SERVE_BYTES:
                break
        self.net.send(peer, m.pack(m.SYNC_RSP, rid, records, self.height))

    async def _status_loop(self) -> None:
        while not self._stop.is_set():
            if self.net is not None:
                self.net.broadcast(m.pack(m.STATUS, self.height, self.config.role))
            await asyncio.sleep(1.0 if self.is_validator else 0.5)

    # -- execution -------------------------------------------------------------------------
    def _queue_commit(self, rec: CommitRecord) -> None:
        if rec.height > self.height:
            self._commits.setdefault(rec.height, rec)
            self._commit_wake.set()

    async def _execute_loop(self) -> None:
        while not self._stop.is_set():
            nxt = self.height + 1
            rec = self._commits.pop(nxt, None)
            if rec is None:
                behind = max(self._peer_heights.values(), default=0) > self.height
                gap = bool(self._commits) or self._sync_wanted > self.height
                wants = behind and (
                    gap or not self.is_validator or self._lagging() or self._follows()
                )
                if wants and await self._sync_once():
                    continue
                self._commit_wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._commit_wake.wait(), 0.5)
                continue
            for h in [h for h in self._commits if h <= self.height]:
                del self._commits[h]
            await self._execute(rec)

    def _follows(self) -> bool:
        """With a committee: this node is off the committee (it follows by block sync like an
        observer), or its next block ends the epoch (a peer that committed it may have left
        the old instance already)."""
        if self.spec is None:
            return False
        return self.consensus is None or (self.height + 1) % self.spec.epoch_blocks == 0

    def _lagging(self) -> bool:
        """A validator whose consensus is idle while peers are well ahead (e.g. just restarted)."""
        top = max(self._peer_heights.values(), default=0)
        return top > self.height + 2

    async def _sync_once(self) -> bool:
        """Fetch and execute commit records from the most advanced peer; ``True`` if progressed.

        A pipeline of two stages: a fetcher asks the peer for :data:`SYNC_RANGE` records at a
        time and checks their commit proofs (every proof, its signatures verified together on
        the verify threads), while this coroutine executes the records checked before, one
        block and one LMDB transaction at a time. At most :data:`SYNC_AHEAD` checked ranges
        wait. A record whose proof fails stops the fetcher there: nothing past it executes.
        """
        candidates = sorted(self._peer_heights.items(), key=lambda kv: -kv[1])
        for peer, height in candidates:
            if height <= self.height:
                break
            # a peer that claims a height it does not serve (or answers slowly) would stall
            # execution for SYNC_TIMEOUT_S every time this loop found no live commit waiting
            retry_at, backoff = self._sync_backoff.get(peer, (0.0, 0.0))
            if time.monotonic() < retry_at:
                continue
            assert self._loop is not None
            ready: asyncio.Queue[list[CommitRecord] | None] = asyncio.Queue()
            room = asyncio.Semaphore(SYNC_AHEAD)
            fetcher = asyncio.ensure_future(self._sync_fetch(peer, self.height + 1, ready, room))
            progressed = False
            try:
                while (batch := await ready.get()) is not None:
                    room.release()
                    for rec in batch:
                        if rec.height != self.height + 1 or self._stop.is_set():
                            continue
                        await self._execute(rec)
                        local = rec.height - self._epoch_base
                        if self.consensus is not None and 0 < local <= self._epoch_len():
                            self._apply(
                                self.consensus.on_synced_commit(
                                    local, rec.block_id, rec.payload, rec.proof, self.now_ms()
                                )
                            )
                        progressed = True
            finally:
                fetcher.cancel()
                with contextlib.suppress(BaseException):
                    await fetcher
            if progressed:
                self._sync_backoff.pop(peer, None)
                return True
            backoff = min(max(2 * backoff, SYNC_BACKOFF_MIN_S), SYNC_BACKOFF_MAX_S)
            self._sync_backoff[peer] = (time.monotonic() + backoff, backoff)
        return False

    async def _sync_fetch(
        self,
        peer: str,
        start: int,
        ready: asyncio.Queue[list[CommitRecord] | None],
        room: asyncio.Semaphore,
    ) -> None:
        """The fetch-and-check stage of :meth:`_sync_once` (ends with ``None`` in ``ready``)."""
        assert self._loop is not None
        nxt = start
        try:
            # with live committees a round stays inside one epoch: the next epoch's committee
            # (which its proofs are checked against) is known once this epoch's last block ran
            last = (
                1 << 62
                if self.spec is None
                else ((start - 1) // self.spec.epoch_blocks + 1) * self.spec.epoch_blocks
            )
            while not self._stop.is_set() and nxt <= last:
                try:
                    raw, head = await self._request(
                        peer,
                        m.SYNC_REQ,
                        nxt,
                        min(SYNC_RANGE, last - nxt + 1),
                        timeout=SYNC_TIMEOUT_S,
                    )
                except TimeoutError:
                    return
                records: list[CommitRecord] = []
                try:
                    for h, block_id, payload, proof in raw:
                        if h == nxt + len(records):
                            records.append(
                                CommitRecord(int(h), bytes(block_id), bytes(payload), bytes(proof))
                            )
                except (TypeError, ValueError):
                    log.warning("malformed sync response", extra={"peer": peer})
                    return
                if not records:
                    return
                check = functools.partial(
                    self.ledger.verify_commits,
                    [(r.height, r.block_id, r.payload, r.proof) for r in records],
                    executor=self.verify_pool,
                )
                ok = await self._loop.run_in_executor(self.sync_pool, check)
                if ok:
                    await room.acquire()
                    ready.put_nowait(records[:ok])
                    nxt = records[ok - 1].height + 1
                if ok < len(records):
                    log.warning(
                        "commit proof refused", extra={"peer": peer, "height": records[ok].height}
                    )
                    return
                if nxt > int(head):
                    return
        finally:
            ready.put_nowait(None)

    def _epoch_len(self) -> int:
        return 1 << 62 if self.spec is None else self.spec.epoch_blocks

    async def _execute(self, rec: CommitRecord) -> None:
        try:
            payload = Payload.decode(rec.payload)
        except ValueError:
            if not _is_config_entry(rec.payload):  # Raft membership entries carry no txs
                log.error("undecodable payload committed", extra={"height": rec.height})
            payload = Payload(0, 0, ())
        batches = await self._get_batches(list(payload.batch_digests))
        if self._stop.is_set():
            return
        assert self._loop is not None
        result = await self._loop.run_in_executor(
            self.exec_pool,
            lambda: self.ledger.execute(rec.height, rec.block_id, payload, rec.proof, batches),
        )
        self._after_block(result)
        spec = self.spec
        if spec is not None and rec.height % spec.epoch_blocks == 0 and not self._stop.is_set():
            self._enter_epoch(rec.height // spec.epoch_blocks)

    def _after_block(self, result: ledger_port.ExecutedBlock) -> None:
        now = time.monotonic()
        header = result.header
        signed = False
        if self.is_validator:
            # every header, empty ones included: a light node follows the chain height by
            # height and must be able to prove each link (one SM2 signature per block)
            signed = self._sign_header(header)
        if not signed and header.height in self._hdr_sigs:
            self._maybe_certify(header.height)
        for h in result.tx_hashes:
            t = self.mempool.admitted_at(h)
            if t is not None:
                self.metrics.commit_latency.observe(now - t)
        self.mempool.on_committed(header.batch_digests, result.settled())
        self.metrics.on_block(header.height, len(result.tx_hashes), now)
        self.metrics.mempool_size.set(len(self.mempool))
        self.mempool.expire(header.height)
        if self.hub.subscribers:
            from finchain.chain.rpc.methods import block_summary

            events = []
            for tx_hash, receipt in zip(result.tx_hashes, result.receipts, strict=False):
                for contract, name, data in receipt.events:
                    events.append(
                        {
                            "height": header.height,
                            "txHash": "0x" + tx_hash.hex(),
                            "contract": contract,
                            "event": name,
                            "data": ledger_port.jsonable(data),
                        }
                    )
            self.hub.publish(
                block_summary(header, self.suite),
                ["0x" + h.hex() for h in result.tx_hashes],
                events,
            )
        waiters = self._height_waiters
        self._height_waiters = []
        for target, fut in waiters:
            if target <= header.height:
                if not fut.done():
                    fut.set_result(None)
            else:
                self._height_waiters.append((target, fut))
        if header.height % 100 == 0 or (len(result.tx_hashes) > 0 and header.height % 20 == 0):
            log.info(
                "committed",
                extra={
                    "height": header.height,
                    "txs": len(result.tx_hashes),
                    "mempool": len(self.mempool),
                },
            )

    async def wait_height(self, height: int, timeout: float) -> bool:
        """Wait until the node has committed ``height``; ``False`` on timeout."""
        if self.height >= height:
            return True
        assert self._loop is not None
        fut: asyncio.Future[None] = self._loop.create_future()
        self._height_waiters.append((height, fut))
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            return False
        return True


def _index(names: tuple[str, ...] | list[str], name: str) -> int | None:
    return names.index(name) if name in names else None


def _is_config_entry(payload: bytes) -> bool:
    """A Raft membership-change entry: committed like a block, executed as an empty one."""
    from finchain.chain.consensus.raft import CONFIG_PREFIX

    return payload.startswith(CONFIG_PREFIX)


def _is_round_token(token: Any) -> bool:
    """A per-round timer token such as HotStuff's ``("hs-round", r)``."""
    return (
        isinstance(token, tuple)
        and len(token) == 2
        and isinstance(token[0], str)
        and token[0].endswith("-round")
        and isinstance(token[1], int)
    )


def run_node(config_path: str, *, ready: Callable[[Node], None] | None = None) -> None:
    """Run a node from its config file until SIGTERM/SIGINT (the ``python -m`` entry)."""
    import signal
    from pathlib import Path

    from finchain.chain.config import load_config
    from finchain.chain.logs import setup_logging

    config = load_config(Path(config_path))
    setup_logging(config)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass

    async def main() -> None:
        node = Node(config)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, node.request_stop)
        await node.start()
        if ready is not None:
            ready(node)
        try:
            await node._stop.wait()
        finally:
            await node.stop()

    asyncio.run(main())
