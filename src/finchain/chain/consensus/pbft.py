"""Practical Byzantine Fault Tolerance (Castro & Liskov, OSDI 1999; TOCS 2002), one block per slot.

Sequence numbers are block heights.  In view ``v`` the primary ``v % n`` assigns the next height to
a payload and broadcasts ``PrePrepare``; every replica that accepts it (right view, inside the
watermarks, no other payload for that view and height) broadcasts a signed ``Prepare``; ``2f + 1``
matching prepares make the slot *prepared* (a prepared certificate), and the replica broadcasts a
signed ``Commit``; ``2f + 1`` matching commits make it *committed*, and slots are delivered in
height order.  The primary keeps up to ``max_inflight`` heights in flight.

Checkpoints: every ``checkpoint_interval`` heights replicas sign (height, chain digest); ``2f + 1``
of them make a *stable checkpoint*, which moves the low watermark and garbage-collects the log.
The window above it holds ``2 * checkpoint_interval`` heights.

View change: a replica that sees no commit for its timeout (doubling per failed view, capped)
broadcasts a signed ``ViewChange`` with its stable checkpoint and every prepared certificate above
it; ``f + 1`` view changes for a higher view make a replica join.  The new primary gathers
``2f + 1`` into a ``NewView``; every replica recomputes from them the slots to re-propose (the
prepared payload of the highest view for each height, an empty payload where none was prepared),
so the new primary cannot choose them.  A replica in an older view gets the latest ``NewView``
sent back when it asks for an old view.

Persistence (before the message that depends on it leaves): the accepted pre-prepare of a slot
before its ``Prepare``; the prepared certificate before its ``Commit``; the view (and whether a
view change is under way) before a ``ViewChange``.  Slots live in ``2 * checkpoint_interval``
reused keys.  The delivered height and chain digest are persisted after each commit batch.

Commit proof: ``2f + 1`` commit signatures over (view, block id); the block id is the hash of
(height, payload digest), so a light client checks the height binding too.  Catch-up: a replica
that falls behind fetches committed blocks with their proofs from a peer's retained window
(``Fetch``/``Blocks``); further behind, it emits :class:`SyncRequired`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from finchain.chain.consensus.base import (
    Action,
    Commit,
    Consensus,
    Millis,
    Persist,
    ReplicaId,
    RequestPayload,
    Send,
    SetTimer,
    SyncRequired,
    quorum_size,
)
from finchain.chain.consensus.common import (
    ConsensusConfig,
    ConsensusError,
    Signer,
    Verifier,
    as_bytes,
    as_int,
    as_list,
    pack,
    unpack,
)

Sigs = tuple[tuple[int, bytes], ...]
_T_PROGRESS = "pbft-progress"
_K_VIEW = "pbft/view"
_K_EXEC = "pbft/exec"
_K_CKPT = "pbft/ckpt"


def _sigs_wire(sigs: Sigs) -> list[Any]:
    return [[r, s] for r, s in sigs]


def _sigs_from(v: Any) -> Sigs:
    out = tuple(
        (as_int(e[0]), as_bytes(e[1], max_len=512))
        for e in (as_list(x, length=2) for x in as_list(v, max_len=4096))
    )
    if any(out[i][0] >= out[i + 1][0] for i in range(len(out) - 1)):
        raise ValueError("signatures must be sorted by replica and distinct")
    return out


# -- messages ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PrePrepare:
    view: int
    seq: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Prepare:
    view: int
    seq: int
    block_id: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class CommitVote:
    view: int
    seq: int
    block_id: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class Checkpoint:
    seq: int
    digest: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class PreparedCert:
    view: int
    seq: int
    payload: bytes
    sigs: Sigs  # prepare signatures over (view, seq, block id)

    def to_wire(self) -> list[Any]:
        return [self.view, self.seq, self.payload, _sigs_wire(self.sigs)]

    @staticmethod
    def from_wire(v: Any) -> PreparedCert:
        v = as_list(v, length=4)
        return PreparedCert(as_int(v[0]), as_int(v[1]), as_bytes(v[2]), _sigs_from(v[3]))


@dataclass(frozen=True, slots=True)
class ViewChange:
    new_view: int
    replica: int
    ckpt_seq: int
    ckpt_digest: bytes
    ckpt_sigs: Sigs
    prepared: tuple[PreparedCert, ...]
    committed: tuple[tuple[int, bytes, bytes], ...]  # (height, payload, commit proof) above ckpt
    signature: bytes  # by ``replica`` over everything above

    def body(self) -> list[Any]:
        return [
            self.new_view,
            self.replica,
            self.ckpt_seq,
            self.ckpt_digest,
            _sigs_wire(self.ckpt_sigs),
            [p.to_wire() for p in self.prepared],
            [[h, p, pr] for h, p, pr in self.committed],
        ]

    def to_wire(self) -> list[Any]:
        return [*self.body(), self.signature]

    @staticmethod
    def from_wire(v: Any) -> ViewChange:
        v = as_list(v, length=8)
        return ViewChange(
            as_int(v[0]),
            as_int(v[1]),
            as_int(v[2]),
            as_bytes(v[3], max_len=64),
            _sigs_from(v[4]),
            tuple(PreparedCert.from_wire(p) for p in as_list(v[5], max_len=4096)),
            tuple(
                (as_int(c[0]), as_bytes(c[1]), as_bytes(c[2], max_len=1 << 16))
                for c in (as_list(x, length=3) for x in as_list(v[6], max_len=4096))
            ),
            as_bytes(v[7], max_len=512),
        )


@dataclass(frozen=True, slots=True)
class NewView:
    view: int
    changes: tuple[ViewChange, ...]


@dataclass(frozen=True, slots=True)
class Fetch:
    from_seq: int


@dataclass(frozen=True, slots=True)
class Blocks:
    blocks: tuple[tuple[int, bytes, bytes], ...]  # (height, payload, proof)
    low: int  # lowest height the responder still holds


Message = PrePrepare | Prepare | CommitVote | Checkpoint | ViewChange | NewView | Fetch | Blocks


def encode(m: Message) -> bytes:
    """Canonical wire bytes of a PBFT message."""
    if isinstance(m, PrePrepare):
        return pack([1, m.view, m.seq, m.payload])
    if isinstance(m, Prepare):
        return pack([2, m.view, m.seq, m.block_id, m.signature])
    if isinstance(m, CommitVote):
        return pack([3, m.view, m.seq, m.block_id, m.signature])
    if isinstance(m, Checkpoint):
        return pack([4, m.seq, m.digest, m.signature])
    if isinstance(m, ViewChange):
        return pack([5, m.to_wire()])
    if isinstance(m, NewView):
        return pack([6, m.view, [c.to_wire() for c in m.changes]])
    if isinstance(m, Fetch):
        return pack([7, m.from_seq])
    if isinstance(m, Blocks):
        return pack([8, [[h, p, pr] for h, p, pr in m.blocks], m.low])
    raise TypeError(f"not a PBFT message: {type(m).__name__}")


def decode(data: bytes) -> Message:
    """Inverse of :func:`encode`; ``ValueError`` on anything malformed or non-canonical."""
    v = as_list(unpack(data))
    if not v:
        raise ValueError("empty message")
    tag = as_int(v[0])
    if tag == 1:
        as_list(v, length=4)
        return PrePrepare(as_int(v[1]), as_int(v[2]), as_bytes(v[3]))
    if tag in (2, 3):
        as_list(v, length=5)
        cls = Prepare if tag == 2 else CommitVote
        return cls(
            as_int(v[1]), as_int(v[2]), as_bytes(v[3], max_len=64), as_bytes(v[4], max_len=512)
        )
    if tag == 4:
        as_list(v, length=4)
        return Checkpoint(as_int(v[1]), as_bytes(v[2], max_len=64), as_bytes(v[3], max_len=512))
    if tag == 5:
        as_list(v, length=2)
        return ViewChange.from_wire(v[1])
    if tag == 6:
        as_list(v, length=3)
        return NewView(
            as_int(v[1]), tuple(ViewChange.from_wire(c) for c in as_list(v[2], max_len=1024))
        )
    if tag == 7:
        as_list(v, length=2)
        return Fetch(as_int(v[1]))
    if tag == 8:
        as_list(v, length=3)
        blocks = tuple(
            (as_int(b[0]), as_bytes(b[1]), as_bytes(b[2]))
            for b in (as_list(x, length=3) for x in as_list(v[1], max_len=4096))
        )
        return Blocks(blocks, as_int(v[2]))
    raise ValueError(f"unknown PBFT message tag {tag}")


# -- signatures and proofs --------------------------------------------------------------------


def block_id(config: ConsensusConfig, seq: int, payload: bytes) -> bytes:
    return block_id_from_digest(config, seq, config.hash(payload))


def block_id_from_digest(config: ConsensusConfig, seq: int, digest: bytes) -> bytes:
    return config.hash(pack([b"pbft-block", config.chain_id, seq, digest]))


def prepare_data(config: ConsensusConfig, view: int, seq: int, bid: bytes) -> bytes:
    return pack([b"pbft-prepare", config.chain_id, view, seq, bid])


def commit_data(config: ConsensusConfig, view: int, bid: bytes) -> bytes:
    return pack([b"pbft-commit", config.chain_id, view, bid])


def checkpoint_data(config: ConsensusConfig, seq: int, digest: bytes) -> bytes:
    return pack([b"pbft-ckpt", config.chain_id, seq, digest])


def _quorum_ok(sigs: Sigs, data: bytes, n: int, verifier: Verifier) -> bool:
    if len(sigs) < quorum_size(n):
        return False
    last = -1
    for r, s in sigs:
        if r <= last or r >= n or not verifier.verify(r, data, s):
            return False
        last = r
    return True


def verify_commit_proof(
    *,
    block_id: bytes,
    height: int,
    proof: bytes,
    n: int,
    verifier: Verifier,
    config: ConsensusConfig | None = None,
) -> bool:
    """``2f + 1`` distinct commit signatures over (view, block id), and the id binds ``height``."""
    config = config or ConsensusConfig()
    try:
        v = as_list(unpack(proof), length=3)
        view = as_int(v[0])
        digest = as_bytes(v[1], max_len=64)
        sigs = _sigs_from(v[2])
    except ValueError:
        return False
    if block_id_from_digest(config, height, digest) != block_id:
        return False
    return _quorum_ok(sigs, commit_data(config, view, block_id), n, verifier)


# -- the replica ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Slot:
    seq: int
    pp_view: int = -1
    payload: bytes = b""
    bid: bytes = b""
    prepares: dict[tuple[int, bytes], dict[int, bytes]] = field(default_factory=dict)
    commits: dict[tuple[int, bytes], dict[int, bytes]] = field(default_factory=dict)
    prepared: PreparedCert | None = None
    sent_commit_view: int = -1
    committed: tuple[int, Sigs] | None = None  # (view, commit sigs)
    proof: bytes | None = None  # commit proof once delivered (kept until the checkpoint)


class Pbft(Consensus):
    """One PBFT replica (see the module docstring)."""

    name = "pbft"

    def __init__(
        self,
        *,
        replica_id: int,
        n: int,
        signer: Signer,
        verifier: Verifier,
        persisted: Mapping[str, bytes],
        config: ConsensusConfig,
    ) -> None:
        if n < 1 or not 0 <= replica_id < n:
            raise ConsensusError(f"replica id {replica_id} out of range for n={n}")
        self.me = replica_id
        self.n = n
        self.q = quorum_size(n)
        self.f = n - self.q
        self.signer = signer
        self.verifier = verifier
        self.config = config
        self.window = 2 * config.checkpoint_interval
        self.view = 0
        self.in_vc = False
        self.executed = 0
        self.chain_digest = b""
        self.ckpt: tuple[int, bytes, Sigs] = (0, b"", ())
        self.slots: dict[int, _Slot] = {}
        if _K_VIEW in persisted:
            v = as_list(unpack(persisted[_K_VIEW]), length=2)
            self.view, self.in_vc = as_int(v[0]), bool(as_int(v[1], upper=1))
        if _K_EXEC in persisted:
            v = as_list(unpack(persisted[_K_EXEC]), length=2)
            self.executed, self.chain_digest = as_int(v[0]), as_bytes(v[1], max_len=64)
        if _K_CKPT in persisted:
            v = as_list(unpack(persisted[_K_CKPT]), length=3)
            self.ckpt = (as_int(v[0]), as_bytes(v[1], max_len=64), _sigs_from(v[2]))
        for key, value in persisted.items():
            if key.startswith("pbft/slot/"):
                v = as_list(unpack(value), length=5)
                seq = as_int(v[0])
                if seq <= self.ckpt[0]:
                    continue
                slot = self._slot(seq)
                slot.pp_view, slot.payload = as_int(v[1]), as_bytes(v[2])
                slot.bid = block_id(config, seq, slot.payload)
                if v[3] is not None:
                    slot.prepared = PreparedCert.from_wire(v[3])
                if v[4] is not None:
                    slot.proof = as_bytes(v[4])
        self.next_seq = max([self.executed, *self.slots]) + 1 if self.slots else self.executed + 1
        self._ckpt_votes: dict[int, dict[int, tuple[bytes, bytes]]] = {}
        self._vcs: dict[int, dict[int, ViewChange]] = {}
        self._last_new_view: NewView | None = None
        self._my_vcs: dict[int, ViewChange] = {}
        self._helped: dict[int, int] = {}
        self._failed_views = 0
        self._retained: OrderedDict[int, tuple[bytes, bytes, bytes]] = OrderedDict()
        self._now = 0
        self._timer_gen = 0
        self._sync_required_at = -1
        self._fetch_turn = replica_id

    # -- interface ----------------------------------------------------------------------------

    @property
    def committed_height(self) -> int:
        return self.executed

    def primary(self, view: int) -> int:
        return view % self.n

    def encode_message(self, message: Any) -> bytes:
        return encode(message)

    def decode_message(self, data: bytes) -> Any:
        return decode(data)

    def on_start(self, now: Millis) -> list[Action]:
        self._now = now
        out: list[Action] = []
        self._arm(out)
        if self.in_vc:
            self._broadcast_view_change(out)
        elif self.primary(self.view) == self.me:
            out.append(RequestPayload(self.view))
        return out

    def on_message(self, sender: ReplicaId, message: Any, now: Millis) -> list[Action]:
        self._now = now
        out: list[Action] = []
        if not 0 <= sender < self.n or sender == self.me:
            return out
        if isinstance(message, PrePrepare):
            if not self.in_vc and message.view == self.view and sender == self.primary(self.view):
                self._accept_preprepare(message.view, message.seq, message.payload, out)
        elif isinstance(message, Prepare):
            self._on_prepare(sender, message, out)
        elif isinstance(message, CommitVote):
            self._on_commit_vote(sender, message, out)
        elif isinstance(message, Checkpoint):
            self._on_checkpoint(sender, message, out)
        elif isinstance(message, ViewChange):
            self._on_view_change(sender, message, out)
        elif isinstance(message, NewView):
            self._on_new_view(sender, message, out)
        elif isinstance(message, Fetch):
            self._on_fetch(sender, message, out)
        elif isinstance(message, Blocks):
            self._on_blocks(sender, message, out)
        return out

    def on_timer(self, token: Any, now: Millis) -> list[Action]:
        self._now = now
        out: list[Action] = []
        if token != (_T_PROGRESS, self._timer_gen):
            return out
        # no progress: ask a peer for committed blocks, and change view
        self._fetch(None, out)
        if self.in_vc and len(self._vcs.get(self.view, {})) < self.q:
            # alone in this view change: repeat it, but do not run ahead of the others
            # (PBFT moves past a view only once 2f + 1 replicas are changing to it)
            self._broadcast_view_change(out)
            self._arm(out)
            return out
        self._failed_views += 1
        self._start_view_change(self.view + 1, out)
        return out

    def on_payload(self, view: int, payload: bytes, now: Millis) -> list[Action]:
        self._now = now
        out: list[Action] = []
        if (
            view != self.view
            or self.in_vc
            or self.primary(view) != self.me
            or len(payload) > self.config.max_payload_bytes
        ):
            return out
        seq = max(self.next_seq, self.executed + 1)
        if seq > self.ckpt[0] + self.window or seq > self.executed + self.config.max_inflight:
            return out  # the window is full; asked again after the next commit
        self.next_seq = seq + 1
        self._accept_preprepare(view, seq, bytes(payload), out, broadcast=True)
        if self.next_seq <= self.executed + self.config.max_inflight:
            out.append(RequestPayload(view))
        return out

    def on_synced_commit(
        self, height: int, block_id: bytes, payload: bytes, proof: bytes, now: Millis
    ) -> list[Action]:
        self._now = now
        out: list[Action] = []
        self._apply_fetched(height, payload, proof, out)
        return out

    # -- normal case --------------------------------------------------------------------------

    def _slot(self, seq: int) -> _Slot:
        s = self.slots.get(seq)
        if s is None:
            s = self.slots[seq] = _Slot(seq)
        return s

    def _in_window(self, seq: int) -> bool:
        return self.ckpt[0] < seq <= self.ckpt[0] + self.window and seq > 0

    def _persist_slot(self, slot: _Slot, out: list[Action]) -> None:
        prepared = None if slot.prepared is None else slot.prepared.to_wire()
        key = f"pbft/slot/{slot.seq % self.window}"
        out.append(Persist(key, pack([slot.seq, slot.pp_view, slot.payload, prepared, slot.proof])))

    def _accept_preprepare(
        self, view: int, seq: int, payload: bytes, out: list[Action], *, broadcast: bool = False
    ) -> None:
        if not self._in_window(seq) or len(payload) > self.config.max_payload_bytes:
            return
        slot = self._slot(seq)
        if slot.pp_view == view:
            return  # one payload per (view, height): a second one is ignored
        if slot.pp_view > view:
            return
        slot.pp_view, slot.payload = view, payload
        slot.bid = block_id(self.config, seq, payload)
        self._persist_slot(slot, out)
        if broadcast:
            out.append(Send(None, PrePrepare(view, seq, payload)))
        sig = self.signer.sign(prepare_data(self.config, view, seq, slot.bid))
        out.append(Send(None, Prepare(view, seq, slot.bid, sig)))
        self._add_prepare(self.me, view, seq, slot.bid, sig, out)

    def _on_prepare(self, sender: int, m: Prepare, out: list[Action]) -> None:
        if m.view != self.view or not self._in_window(m.seq):
            return
        if not self.verifier.verify(
            sender, prepare_data(self.config, m.view, m.seq, m.block_id), m.signature
        ):
            return
        self._add_prepare(sender, m.view, m.seq, m.block_id, m.signature, out)

    def _add_prepare(
        self, r: int, view: int, seq: int, bid: bytes, sig: bytes, out: list[Action]
    ) -> None:
        slot = self._slot(seq)
        votes = slot.prepares.setdefault((view, bid), {})
        if any(r in v for k, v in slot.prepares.items() if k[0] == view) and r not in votes:
            return  # a replica's first prepare in a view counts
        votes[r] = sig
        self._check_prepared(slot, out)

    def _check_prepared(self, slot: _Slot, out: list[Action]) -> None:
        view = self.view
        if self.in_vc or slot.pp_view != view or slot.sent_commit_view == view:
            return
        votes = slot.prepares.get((view, slot.bid), {})
        if len(votes) < self.q:
            return
        slot.prepared = PreparedCert(view, slot.seq, slot.payload, tuple(sorted(votes.items())))
        slot.sent_commit_view = view
        self._persist_slot(slot, out)
        sig = self.signer.sign(commit_data(self.config, view, slot.bid))
        out.append(Send(None, CommitVote(view, slot.seq, slot.bid, sig)))
        self._add_commit(self.me, view, slot.seq, slot.bid, sig, out)

    def _on_commit_vote(self, sender: int, m: CommitVote, out: list[Action]) -> None:
        if not self._in_window(m.seq) or m.view > self.view + 64:
            return
        if not self.verifier.verify(
            sender, commit_data(self.config, m.view, m.block_id), m.signature
        ):
            return
        self._add_commit(sender, m.view, m.seq, m.block_id, m.signature, out)

    def _add_commit(
        self, r: int, view: int, seq: int, bid: bytes, sig: bytes, out: list[Action]
    ) -> None:
        slot = self._slot(seq)
        slot.commits.setdefault((view, bid), {})[r] = sig
        if slot.committed is None:
            for (v, b), votes in slot.commits.items():
                if len(votes) >= self.q and slot.bid == b and slot.pp_view >= 0:
                    slot.committed = (v, tuple(sorted(votes.items())))
                    break
        self._deliver(out)

    def _deliver(self, out: list[Action]) -> None:
        delivered = False
        while True:
            slot = self.slots.get(self.executed + 1)
            if slot is None or slot.committed is None:
                break
            view, sigs = slot.committed
            proof = pack([view, self.config.hash(slot.payload), [[r, s] for r, s in sigs]])
            slot.proof = proof
            self._commit_block(slot.seq, slot.bid, slot.payload, proof, out)
            delivered = True
        if delivered:
            self._after_commits(out)

    def _commit_block(
        self, seq: int, bid: bytes, payload: bytes, proof: bytes, out: list[Action]
    ) -> None:
        out.append(Commit(seq, bid, payload, proof))
        self.executed = seq
        self.chain_digest = self.config.hash(self.chain_digest + bid)
        self._retained[seq] = (bid, payload, proof)
        while len(self._retained) > self.config.retain_blocks:
            self._retained.popitem(last=False)
        if seq % self.config.checkpoint_interval == 0:
            sig = self.signer.sign(checkpoint_data(self.config, seq, self.chain_digest))
            out.append(Send(None, Checkpoint(seq, self.chain_digest, sig)))
            self._add_checkpoint(self.me, seq, self.chain_digest, sig, out)

    def _after_commits(self, out: list[Action]) -> None:
        out.append(Persist(_K_EXEC, pack([self.executed, self.chain_digest])))
        self._failed_views = 0
        self.next_seq = max(self.next_seq, self.executed + 1)
        self._arm(out)
        if not self.in_vc and self.primary(self.view) == self.me:
            out.append(RequestPayload(self.view))

    def _arm(self, out: list[Action]) -> None:
        self._timer_gen += 1
        timeout = self.config.view_timeout(self._failed_views)
        out.append(SetTimer(self._now + timeout, (_T_PROGRESS, self._timer_gen)))

    # -- checkpoints --------------------------------------------------------------------------

    def _on_checkpoint(self, sender: int, m: Checkpoint, out: list[Action]) -> None:
        if m.seq <= self.ckpt[0] or m.seq % self.config.checkpoint_interval:
            return
        if m.seq > self.ckpt[0] + 64 * self.window:
            return
        if not self.verifier.verify(
            sender, checkpoint_data(self.config, m.seq, m.digest), m.signature
        ):
            return
        self._add_checkpoint(sender, m.seq, m.digest, m.signature, out)

    def _add_checkpoint(
        self, r: int, seq: int, digest: bytes, sig: bytes, out: list[Action]
    ) -> None:
        if seq <= self.ckpt[0]:
            return
        votes = self._ckpt_votes.setdefault(seq, {})
        votes[r] = (digest, sig)
        same = sorted((x, s) for x, (d, s) in votes.items() if d == digest)
        if len(same) < self.q:
            return
        self._stabilize(seq, digest, tuple(same), out)
        if seq > self.executed:
            self._fetch(None, out)  # we fell behind a stable checkpoint

    def _stabilize(self, seq: int, digest: bytes, sigs: Sigs, out: list[Action]) -> None:
        self.ckpt = (seq, digest, sigs)
        out.append(Persist(_K_CKPT, pack([seq, digest, _sigs_wire(sigs)])))
        for s in [s for s in self.slots if s <= seq]:
            del self.slots[s]
        for s in [s for s in self._ckpt_votes if s <= seq]:
            del self._ckpt_votes[s]
        if not self.in_vc and self.primary(self.view) == self.me:
            out.append(RequestPayload(self.view))

    # -- view change --------------------------------------------------------------------------

    def _start_view_change(self, new_view: int, out: list[Action]) -> None:
        if new_view <= self.view and self.in_vc:
            return
        if new_view < self.view:
            return
        self.view = new_view
        self.in_vc = True
        out.append(Persist(_K_VIEW, pack([self.view, 1])))
        self._broadcast_view_change(out)
        self._arm(out)

    def _broadcast_view_change(self, out: list[Action]) -> None:
        prepared = tuple(
            s.prepared
            for seq, s in sorted(self.slots.items())
            if s.prepared is not None and seq > self.ckpt[0]
        )
        committed = tuple(
            (seq, s.payload, s.proof)
            for seq, s in sorted(self.slots.items())
            if s.proof is not None and seq > self.ckpt[0]
        )
        seq, digest, sigs = self.ckpt
        unsigned = ViewChange(self.view, self.me, seq, digest, sigs, prepared, committed, b"")
        sig = self.signer.sign(pack([b"pbft-vc", self.config.chain_id, unsigned.body()]))
        vc = ViewChange(self.view, self.me, seq, digest, sigs, prepared, committed, sig)
        self._my_vcs[self.view] = vc
        for old in [v for v in self._my_vcs if v < self.view - 4]:
            del self._my_vcs[old]
        out.append(Send(None, vc))
        self._add_view_change(vc, out)

    def _vc_ok(self, vc: ViewChange) -> bool:
        data = pack([b"pbft-vc", self.config.chain_id, vc.body()])
        if vc.replica >= self.n or not self.verifier.verify(vc.replica, data, vc.signature):
            return False
        if vc.ckpt_seq and not _quorum_ok(
            vc.ckpt_sigs,
            checkpoint_data(self.config, vc.ckpt_seq, vc.ckpt_digest),
            self.n,
            self.verifier,
        ):
            return False
        for h, payload, proof in vc.committed:
            if not vc.ckpt_seq < h <= vc.ckpt_seq + self.window:
                return False
            bid = block_id(self.config, h, payload)
            if not verify_commit_proof(
                block_id=bid,
                height=h,
                proof=proof,
                n=self.n,
                verifier=self.verifier,
                config=self.config,
            ):
                return False
        for p in vc.prepared:
            if p.view >= vc.new_view or not vc.ckpt_seq < p.seq <= vc.ckpt_seq + self.window:
                return False
            bid = block_id(self.config, p.seq, p.payload)
            if not _quorum_ok(
                p.sigs, prepare_data(self.config, p.view, p.seq, bid), self.n, self.verifier
            ):
                return False
        return True

    def _on_view_change(self, sender: int, vc: ViewChange, out: list[Action]) -> None:
        if vc.replica != sender:
            return
        if vc.new_view < self.view or (vc.new_view == self.view and not self.in_vc):
            # the sender lags: send it the NewView that installed our view, or our own view
            # changes (for its view, which it may have missed, and for ours, so it can join)
            if self._now - self._helped.get(sender, -(1 << 62)) < self.config.base_timeout_ms:
                return  # at most one answer per peer per base timeout (no ping-pong)
            self._helped[sender] = self._now
            nv = self._last_new_view
            if nv is not None and nv.view == self.view and not self.in_vc:
                out.append(Send(sender, nv))
            for v in (vc.new_view, self.view):
                mine = self._my_vcs.get(v)
                if mine is not None:
                    out.append(Send(sender, mine))
            return
        if vc.new_view > self.view + 64 or not self._vc_ok(vc):
            return
        self._add_view_change(vc, out)

    def _add_view_change(self, vc: ViewChange, out: list[Action]) -> None:
        bucket = self._vcs.setdefault(vc.new_view, {})
        bucket[vc.replica] = vc
        # join a view change that f + 1 replicas (at least one honest) already started
        higher = {r for v, b in self._vcs.items() if v > self.view for r in b}
        if len(higher) >= self.f + 1:
            target = min(v for v, b in self._vcs.items() if v > self.view and b)
            self._start_view_change(target, out)
            return
        v = vc.new_view
        if v == self.view and self.in_vc and self.primary(v) == self.me and len(bucket) >= self.q:
            chosen = tuple(bucket[r] for r in sorted(bucket)[: self.q])
            nv = NewView(v, chosen)
            out.append(Send(None, nv))
            self._install(nv, out)

    def _on_new_view(self, sender: int, nv: NewView, out: list[Action]) -> None:
        if sender != self.primary(nv.view) or nv.view < self.view:
            return
        if nv.view == self.view and not self.in_vc:
            return
        if len(nv.changes) < self.q or len({c.replica for c in nv.changes}) != len(nv.changes):
            return
        if any(c.new_view != nv.view or not self._vc_ok(c) for c in nv.changes):
            return
        self._install(nv, out)

    def _install(self, nv: NewView, out: list[Action]) -> None:
        """Enter ``nv.view`` and re-propose what the view changes say (computed, not trusted)."""
        self.view = nv.view
        self.in_vc = False
        self._last_new_view = nv
        out.append(Persist(_K_VIEW, pack([self.view, 0])))
        for v in [v for v in self._vcs if v <= nv.view]:
            del self._vcs[v]
        best = max(nv.changes, key=lambda c: (c.ckpt_seq, c.replica))
        if best.ckpt_seq > self.ckpt[0]:
            self._stabilize(best.ckpt_seq, best.ckpt_digest, best.ckpt_sigs, out)
        low = self.ckpt[0]
        chosen: dict[int, PreparedCert] = {}
        for c in nv.changes:
            for p in c.prepared:
                if p.seq > low and (p.seq not in chosen or p.view > chosen[p.seq].view):
                    chosen[p.seq] = p
        final: dict[int, bytes] = {}
        for c in nv.changes:
            for h, payload, _proof in c.committed:
                if h > low:
                    final[h] = payload  # a committed value beats any prepared certificate
        top = max([*chosen, *final], default=low)
        for seq in range(low + 1, top + 1):
            cert = chosen.get(seq)
            payload = final.get(seq, cert.payload if cert else b"")
            self._accept_preprepare(nv.view, seq, payload, out)
        self.next_seq = max(top, self.executed) + 1
        self._arm(out)
        if self.executed < low:
            self._fetch(None, out)
        if self.primary(self.view) == self.me:
            out.append(RequestPayload(self.view))

    # -- catch-up -----------------------------------------------------------------------------

    def _fetch(self, peer: int | None, out: list[Action]) -> None:
        if peer is None:
            self._fetch_turn = (self._fetch_turn + 1) % self.n
            if self._fetch_turn == self.me:
                self._fetch_turn = (self._fetch_turn + 1) % self.n
            peer = self._fetch_turn
        out.append(Send(peer, Fetch(self.executed + 1)))

    def _on_fetch(self, sender: int, m: Fetch, out: list[Action]) -> None:
        blocks: list[tuple[int, bytes, bytes]] = []
        h = m.from_seq
        while h in self._retained and len(blocks) < self.config.max_sync_blocks:
            _bid, payload, proof = self._retained[h]
            blocks.append((h, payload, proof))
            h += 1
        if blocks or m.from_seq <= self.executed:
            low = next(iter(self._retained), self.executed + 1)
            out.append(Send(sender, Blocks(tuple(blocks), low)))

    def _on_blocks(self, sender: int, m: Blocks, out: list[Action]) -> None:
        before = self.executed
        for h, payload, proof in m.blocks:
            if h == self.executed + 1:
                self._apply_fetched(h, payload, proof, out)
        if self.executed == before and m.low > self.executed + 1:
            if self._sync_required_at != self.executed + 1:
                self._sync_required_at = self.executed + 1
                out.append(SyncRequired(self.executed + 1, sender))
        elif self.executed > before and len(m.blocks) >= self.config.max_sync_blocks:
            self._fetch(sender, out)

    def _apply_fetched(self, h: int, payload: bytes, proof: bytes, out: list[Action]) -> None:
        if h != self.executed + 1:
            return
        bid = block_id(self.config, h, payload)
        if not verify_commit_proof(
            block_id=bid,
            height=h,
            proof=proof,
            n=self.n,
            verifier=self.verifier,
            config=self.config,
        ):
            return
        if self._in_window(h):
            # keep the committed value (with its proof) for view changes until the checkpoint
            slot = self._slot(h)
            slot.payload, slot.bid, slot.proof = payload, bid, proof
            slot.pp_view = max(slot.pp_view, 0)
            slot.committed = slot.committed or (0, ())
            self._persist_slot(slot, out)
        else:
            self.slots.pop(h, None)
        self._commit_block(h, bid, payload, proof, out)
        self._after_commits(out)
        self._deliver(out)
