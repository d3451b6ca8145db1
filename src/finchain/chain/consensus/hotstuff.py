"""Chained HotStuff with a two-chain commit rule (the Jolteon / DiemBFT-v4 variant).

References: Yin et al., *HotStuff: BFT Consensus with Linearity and Responsiveness* (PODC 2019);
Gelashvili et al., *Jolteon and Ditto* (FC 2022); the DiemBFT v4 specification.

Rounds ("views") have a round-robin leader ``round % n``.  In round ``r`` the leader proposes a
block extending the highest quorum certificate (QC) it knows; replicas vote for it (signature over
round and block id) and send the vote to the leader of ``r + 1``, who aggregates ``2f + 1`` votes
into ``QC(r)`` and proposes in ``r + 1`` carrying that QC.  Every block therefore certifies its
parent, and **a block B is committed when its child B' is certified and B'.round == B.round + 1**
(two-chain rule); committing B commits its uncommitted ancestors, so heights come out consecutive.

Pacemaker: each round has a timer ``base * backoff**k`` (capped; ``k`` = timeouts since the last
QC).  On expiry a replica stops voting in the round and broadcasts a signed ``Timeout`` carrying its
highest QC; ``2f + 1`` of them form a timeout certificate ``TC(r)`` that moves everyone to
``r + 1``.  A proposal that does not extend ``QC(r - 1)`` must carry ``TC(r - 1)`` and extend a QC
at least as high as every QC reported in that TC.  ``f + 1`` timeouts for the current round make a
replica join the timeout (so one slow honest replica cannot split the others).  Timeouts are
re-broadcast every timer period until the round moves, so dropped messages cannot stall it.

Safety state (highest voted round, highest QC) is written with one :class:`Persist` before any
vote, proposal or timeout leaves; a restarted replica therefore never votes twice in a round and
never reports a lower QC.  The last committed block header is persisted after each commit batch.

Sync: a replica that meets a QC or proposal for a block it lacks asks a peer for it
(``BlockRequest``); the peer answers with that block and its ancestors down to the requester's
committed height (``BlockResponse``) from its tree and a window of ``retain_blocks`` committed
blocks.  Further behind, the replica emits :class:`SyncRequired` and the node feeds committed
blocks through :meth:`HotStuff.on_synced_commit`.
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

ID_LEN = 32
_ZERO = b"\x00" * ID_LEN
_K_SAFETY = "hotstuff/safety"
_K_ROOT = "hotstuff/root"
_T_ROUND = "hs-round"
_T_SYNC = "hs-sync"
_FUTURE_ROUNDS = 64  # votes/timeouts further ahead than this are ignored (memory bound)
_PENDING_BLOCKS = 512
_PERSIST_BLOCKS = 256  # most uncommitted blocks kept with the safety state


# -- data -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QC:
    """Quorum certificate: ``2f + 1`` signatures of distinct replicas over (round, block_id)."""

    round: int
    block_id: bytes
    votes: tuple[tuple[int, bytes], ...]  # sorted by replica id, distinct

    def to_wire(self) -> list[Any]:
        return [self.round, self.block_id, [[r, s] for r, s in self.votes]]

    @staticmethod
    def from_wire(v: Any) -> QC:
        v = as_list(v, length=3)
        votes = tuple(
            (as_int(e[0]), as_bytes(e[1], max_len=512))
            for e in (as_list(x, length=2) for x in as_list(v[2], max_len=4096))
        )
        if any(votes[i][0] >= votes[i + 1][0] for i in range(len(votes) - 1)):
            raise ValueError("QC votes must be sorted by replica and distinct")
        return QC(as_int(v[0]), as_bytes(v[1], length=ID_LEN), votes)


@dataclass(frozen=True, slots=True)
class TC:
    """Timeout certificate for ``round``: ``2f + 1`` signed (replica, high-QC round) entries."""

    round: int
    entries: tuple[tuple[int, int, bytes], ...]  # (replica, hqc_round, sig), sorted, distinct

    def to_wire(self) -> list[Any]:
        return [self.round, [[r, h, s] for r, h, s in self.entries]]

    @staticmethod
    def from_wire(v: Any) -> TC:
        v = as_list(v, length=2)
        entries = tuple(
            (as_int(e[0]), as_int(e[1]), as_bytes(e[2], max_len=512))
            for e in (as_list(x, length=3) for x in as_list(v[1], max_len=4096))
        )
        if any(entries[i][0] >= entries[i + 1][0] for i in range(len(entries) - 1)):
            raise ValueError("TC entries must be sorted by replica and distinct")
        return TC(as_int(v[0]), entries)

    @property
    def max_hqc_round(self) -> int:
        return max((h for _, h, _ in self.entries), default=0)


@dataclass(frozen=True, slots=True)
class Header:
    """What a block id commits to (the payload only through its digest)."""

    round: int
    height: int
    parent_id: bytes
    proposer: int
    payload_digest: bytes
    qc_block_id: bytes
    qc_round: int

    def to_wire(self) -> list[Any]:
        return [
            self.round,
            self.height,
            self.parent_id,
            self.proposer,
            self.payload_digest,
            self.qc_block_id,
            self.qc_round,
        ]

    @staticmethod
    def from_wire(v: Any) -> Header:
        v = as_list(v, length=7)
        return Header(
            as_int(v[0]),
            as_int(v[1]),
            as_bytes(v[2], length=ID_LEN),
            as_int(v[3]),
            as_bytes(v[4], max_len=64),
            as_bytes(v[5], length=ID_LEN),
            as_int(v[6]),
        )

    def compute_id(self, config: ConsensusConfig) -> bytes:
        return config.hash(b"finchain/hotstuff/block|" + config.chain_id + pack(self.to_wire()))


@dataclass(frozen=True, slots=True)
class Block:
    """A proposal: extends ``qc.block_id`` (its parent) at ``height = parent.height + 1``."""

    round: int
    height: int
    proposer: int
    payload: bytes
    qc: QC

    def to_wire(self) -> list[Any]:
        return [self.round, self.height, self.proposer, self.payload, self.qc.to_wire()]

    @staticmethod
    def from_wire(v: Any) -> Block:
        v = as_list(v, length=5)
        return Block(as_int(v[0]), as_int(v[1]), as_int(v[2]), as_bytes(v[3]), QC.from_wire(v[4]))

    def header(self, config: ConsensusConfig) -> Header:
        return Header(
            self.round,
            self.height,
            self.qc.block_id,
            self.proposer,
            config.hash(self.payload),
            self.qc.block_id,
            self.qc.round,
        )


@dataclass(frozen=True, slots=True)
class Proposal:
    block: Block
    tc: TC | None


@dataclass(frozen=True, slots=True)
class Vote:
    round: int
    block_id: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class Timeout:
    round: int
    high_qc: QC
    signature: bytes  # over (round, high_qc.round)
    last_tc: TC | None  # TC(round - 1), helps laggards enter this round


@dataclass(frozen=True, slots=True)
class BlockRequest:
    block_id: bytes
    stop_height: int  # the requester already has everything at or below this height


@dataclass(frozen=True, slots=True)
class BlockResponse:
    blocks: tuple[Block, ...]  # newest first, each the parent of the previous
    low_height: int  # the responder keeps no block below this height


Message = Proposal | Vote | Timeout | BlockRequest | BlockResponse


def _opt_tc(v: Any) -> TC | None:
    return None if v is None else TC.from_wire(v)


def encode(message: Message) -> bytes:
    """Canonical wire bytes of a HotStuff message."""
    if isinstance(message, Proposal):
        tc = None if message.tc is None else message.tc.to_wire()
        return pack([1, message.block.to_wire(), tc])
    if isinstance(message, Vote):
        return pack([2, message.round, message.block_id, message.signature])
    if isinstance(message, Timeout):
        tc = None if message.last_tc is None else message.last_tc.to_wire()
        return pack([3, message.round, message.high_qc.to_wire(), message.signature, tc])
    if isinstance(message, BlockRequest):
        return pack([4, message.block_id, message.stop_height])
    if isinstance(message, BlockResponse):
        return pack([5, [b.to_wire() for b in message.blocks], message.low_height])
    raise TypeError(f"not a HotStuff message: {type(message).__name__}")


def decode(data: bytes) -> Message:
    """Inverse of :func:`encode`; ``ValueError`` on anything malformed or non-canonical."""
    v = as_list(unpack(data))
    if not v:
        raise ValueError("empty message")
    tag = as_int(v[0])
    if tag == 1:
        as_list(v, length=3)
        return Proposal(Block.from_wire(v[1]), _opt_tc(v[2]))
    if tag == 2:
        as_list(v, length=4)
        return Vote(as_int(v[1]), as_bytes(v[2], length=ID_LEN), as_bytes(v[3], max_len=512))
    if tag == 3:
        as_list(v, length=5)
        return Timeout(as_int(v[1]), QC.from_wire(v[2]), as_bytes(v[3], max_len=512), _opt_tc(v[4]))
    if tag == 4:
        as_list(v, length=3)
        return BlockRequest(as_bytes(v[1], length=ID_LEN), as_int(v[2]))
    if tag == 5:
        as_list(v, length=3)
        blocks = tuple(Block.from_wire(b) for b in as_list(v[1], max_len=4096))
        return BlockResponse(blocks, as_int(v[2]))
    raise ValueError(f"unknown HotStuff message tag {tag}")


# -- signatures and certificates ------------------------------------------------------------


def vote_data(config: ConsensusConfig, round_: int, block_id: bytes) -> bytes:
    return pack([b"hs-vote", config.chain_id, round_, block_id])


def timeout_data(config: ConsensusConfig, round_: int, hqc_round: int) -> bytes:
    return pack([b"hs-timeout", config.chain_id, round_, hqc_round])


def genesis_header(config: ConsensusConfig) -> Header:
    """The implicit height-0 block every chain starts from."""
    return Header(0, 0, _ZERO, 0, config.hash(b""), _ZERO, 0)


def _is_genesis_qc(qc: QC, genesis_id: bytes) -> bool:
    return qc.round == 0 and qc.block_id == genesis_id and not qc.votes


def check_qc(qc: QC, *, n: int, verifier: Verifier, config: ConsensusConfig) -> bool:
    """True when ``qc`` carries a quorum of distinct valid votes (or is the genesis QC)."""
    if _is_genesis_qc(qc, genesis_header(config).compute_id(config)):
        return True
    if len(qc.votes) < quorum_size(n) or qc.round == 0:
        return False
    data = vote_data(config, qc.round, qc.block_id)
    last = -1
    for replica, sig in qc.votes:
        if replica <= last or replica >= n or not verifier.verify(replica, data, sig):
            return False
        last = replica
    return True


def check_tc(tc: TC, *, n: int, verifier: Verifier, config: ConsensusConfig) -> bool:
    """True when ``tc`` carries a quorum of distinct valid timeout signatures."""
    if len(tc.entries) < quorum_size(n):
        return False
    last = -1
    for replica, hqc_round, sig in tc.entries:
        if replica <= last or replica >= n or hqc_round >= tc.round:
            return False
        if not verifier.verify(replica, timeout_data(config, tc.round, hqc_round), sig):
            return False
        last = replica
    return True


def encode_proof(headers: list[Header], qc_parent: QC, qc_child: QC) -> bytes:
    return pack([[h.to_wire() for h in headers], qc_parent.to_wire(), qc_child.to_wire()])


def verify_commit_proof(
    *,
    block_id: bytes,
    height: int,
    proof: bytes,
    n: int,
    verifier: Verifier,
    config: ConsensusConfig | None = None,
) -> bool:
    """Check that ``block_id`` at ``height`` is committed, without running consensus.

    The proof lists the block's header, the headers linking it to a block B, then B's child B';
    B' must be certified (``qc_child``) in the round right after B (``qc_parent`` certifies B):
    the two-chain rule.  Heights and parent links are checked header by header.
    """
    config = config or ConsensusConfig()
    try:
        v = as_list(unpack(proof), length=3)
        headers = [Header.from_wire(h) for h in as_list(v[0], max_len=100_000)]
        qc_parent = QC.from_wire(v[1])
        qc_child = QC.from_wire(v[2])
    except ValueError:
        return False
    if len(headers) < 2 or headers[0].height != height:
        return False
    ids = [h.compute_id(config) for h in headers]
    if ids[0] != block_id:
        return False
    for i in range(1, len(headers)):
        h, prev = headers[i], headers[i - 1]
        if (
            h.parent_id != ids[i - 1]
            or h.qc_block_id != ids[i - 1]
            or h.height != prev.height + 1
            or h.qc_round != prev.round
        ):
            return False
    b, b2 = headers[-2], headers[-1]
    if b2.round != b.round + 1:
        return False
    if qc_parent.block_id != ids[-2] or qc_parent.round != b.round:
        return False
    if qc_child.block_id != ids[-1] or qc_child.round != b2.round:
        return False
    return check_qc(qc_parent, n=n, verifier=verifier, config=config) and check_qc(
        qc_child, n=n, verifier=verifier, config=config
    )


# -- the replica ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Node:
    """A block in this replica's tree (``block`` is None for a restored root stub)."""

    header: Header
    block: Block | None


@dataclass(slots=True)
class _Pending:
    votes: dict[int, tuple[bytes, bytes]] = field(default_factory=dict)  # voter -> (bid, sig)


class HotStuff(Consensus):
    """One HotStuff replica (see the module docstring for the protocol)."""

    name = "hotstuff"

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
        gh = genesis_header(config)
        self._genesis_id = gh.compute_id(config)
        self.highest_vote_round = 0
        self.high_qc = QC(0, self._genesis_id, ())
        last_tc: TC | None = None
        saved_blocks: list[Block] = []
        root = gh
        if _K_SAFETY in persisted:
            v = as_list(unpack(persisted[_K_SAFETY]), length=4)
            self.highest_vote_round = as_int(v[0])
            self.high_qc = QC.from_wire(v[1])
            last_tc = _opt_tc(v[2])
            saved_blocks = [Block.from_wire(b) for b in as_list(v[3])]
        if _K_ROOT in persisted:
            root = Header.from_wire(unpack(persisted[_K_ROOT]))
        self._root_id = root.compute_id(config)
        self._root = _Node(root, None)
        self._nodes: dict[bytes, _Node] = {self._root_id: self._root}
        self._children_pending: dict[bytes, list[tuple[Block, bytes, TC | None]]] = {}
        self._pending_count = 0
        self._committed_ids: OrderedDict[bytes, None] = OrderedDict()  # retained, oldest first
        self._low_height = root.height
        self.round = 0
        self._timeouts_in_row = 0
        self._timed_out_round = -1
        self._last_tc = last_tc
        self._my_timeout: Timeout | None = None
        self._votes: dict[int, _Pending] = {}
        self._timeouts: dict[int, dict[int, tuple[int, bytes]]] = {}
        self._verified: OrderedDict[bytes, None] = OrderedDict()
        self._wanted: dict[bytes, int] = {}  # missing block id -> hint peer
        self._sync_peer_turn = 0
        self._sync_required_at = -1
        self._now = 0
        self._last_voted = self._root_id
        for block in saved_blocks:  # our own records, parent first; re-checked like any block
            self._insert(block)

    # -- interface ----------------------------------------------------------------------------

    @property
    def committed_height(self) -> int:
        return self._root.header.height

    @property
    def current_round(self) -> int:
        return self.round

    def next_height(self) -> int | None:
        """Height a proposal made now would get (``None`` while the high-QC block is missing)."""
        node = self._nodes.get(self.high_qc.block_id)
        return None if node is None else node.header.height + 1

    def leader(self, round_: int) -> int:
        """Round-robin leader of ``round_``."""
        return round_ % self.n

    def encode_message(self, message: Any) -> bytes:
        return encode(message)

    def decode_message(self, data: bytes) -> Any:
        return decode(data)

    def on_start(self, now: Millis) -> list[Action]:
        self._now = now
        out: list[Action] = []
        tc_next = 0 if self._last_tc is None else self._last_tc.round + 1
        start = max(self.high_qc.round + 1, self.highest_vote_round, tc_next, 1)
        self._enter_round(start, out, via_qc=True)
        if self.high_qc.block_id not in self._nodes:
            self._want(self.high_qc.block_id, None, out)
        return out

    def on_message(self, sender: ReplicaId, message: Any, now: Millis) -> list[Action]:
        self._now = now
        out: list[Action] = []
        if not 0 <= sender < self.n or sender == self.me:
            return out
        if isinstance(message, Proposal):
            self._on_proposal(sender, message, out)
        elif isinstance(message, Vote):
            self._on_vote(sender, message, out)
        elif isinstance(message, Timeout):
            self._on_timeout(sender, message, out)
        elif isinstance(message, BlockRequest):
            self._on_block_request(sender, message, out)
        elif isinstance(message, BlockResponse):
            self._on_block_response(sender, message, out)
        return out

    def on_timer(self, token: Any, now: Millis) -> list[Action]:
        self._now = now
        out: list[Action] = []
        if isinstance(token, tuple) and len(token) == 2 and token[0] == _T_ROUND:
            if token[1] == self.round:
                self._local_timeout(out)
        elif token == (_T_SYNC, 0):
            self._retry_sync(out)
        return out

    def on_payload(self, view: int, payload: bytes, now: Millis) -> list[Action]:
        self._now = now
        out: list[Action] = []
        if (
            view != self.round
            or self.leader(view) != self.me
            or view <= self.highest_vote_round
            or len(payload) > self.config.max_payload_bytes
        ):
            return out
        parent = self._nodes.get(self.high_qc.block_id)
        if parent is None:
            self._want(self.high_qc.block_id, None, out)
            return out
        tc = None if self.high_qc.round + 1 == view else self._last_tc
        if tc is not None and tc.round + 1 != view:
            return out
        block = Block(view, parent.header.height + 1, self.me, bytes(payload), self.high_qc)
        # our own proposal counts as our vote: persist before it leaves
        bid = self._insert(block)
        if bid is None:
            return out
        self.highest_vote_round = view
        self._persist_safety(out, voted=bid)
        out.append(Send(None, Proposal(block, tc)))
        self._send_vote(view, bid, out)
        return out

    def on_synced_commit(
        self, height: int, block_id: bytes, payload: bytes, proof: bytes, now: Millis
    ) -> list[Action]:
        self._now = now
        if height != self.committed_height + 1:
            return []
        if not verify_commit_proof(
            block_id=block_id,
            height=height,
            proof=proof,
            n=self.n,
            verifier=self.verifier,
            config=self.config,
        ):
            return []
        header = Header.from_wire(as_list(unpack(proof))[0][0])
        if header.parent_id != self._root_id or header.payload_digest != self.config.hash(payload):
            return []
        out: list[Action] = [Commit(height, block_id, payload, proof)]
        node = self._nodes.get(block_id) or _Node(header, None)
        self._nodes[block_id] = node
        self._set_root(block_id, node)
        out.append(Persist(_K_ROOT, pack(header.to_wire())))
        self._wanted.pop(block_id, None)
        self._adopt_pending(block_id, out)
        return out

    # -- rounds and timeouts ----------------------------------------------------------------

    def _enter_round(self, r: int, out: list[Action], *, via_qc: bool) -> None:
        if r <= self.round:
            return
        self.round = r
        if via_qc:
            self._timeouts_in_row = 0
        for old in [k for k in self._votes if k < r - 1]:
            del self._votes[old]
        for old in [k for k in self._timeouts if k < r]:
            del self._timeouts[old]
        out.append(SetTimer(self._now + self._timeout_ms(), (_T_ROUND, r)))
        if self.leader(r) == self.me and r > self.highest_vote_round:
            out.append(RequestPayload(r))

    def _timeout_ms(self) -> int:
        return self.config.view_timeout(self._timeouts_in_row)

    def _local_timeout(self, out: list[Action]) -> None:
        r = self.round
        self._timeouts_in_row += 1
        if self.highest_vote_round < r:
            self.highest_vote_round = r
        self._timed_out_round = r
        self._persist_safety(out)
        sig = self.signer.sign(timeout_data(self.config, r, self.high_qc.round))
        last_tc = self._last_tc if self._last_tc and self._last_tc.round + 1 == r else None
        self._my_timeout = Timeout(r, self.high_qc, sig, last_tc)
        out.append(Send(None, self._my_timeout))
        out.append(SetTimer(self._now + self._timeout_ms(), (_T_ROUND, r)))
        self._add_timeout(self.me, r, self.high_qc.round, sig, out)

    def _on_timeout(self, sender: int, msg: Timeout, out: list[Action]) -> None:
        if msg.last_tc is not None:
            self._process_tc(msg.last_tc, out)
        self._process_qc(msg.high_qc, sender, out)
        if msg.round < self.round:
            # the sender lags: our own timeout for this round carries what it needs to catch up
            mine = self._my_timeout
            if mine is not None and mine.round == self.round:
                out.append(Send(sender, mine))
            return
        if msg.round > self.round + _FUTURE_ROUNDS:
            return
        if msg.high_qc.round >= msg.round:
            return
        data = timeout_data(self.config, msg.round, msg.high_qc.round)
        if not self.verifier.verify(sender, data, msg.signature):
            return
        self._add_timeout(sender, msg.round, msg.high_qc.round, msg.signature, out)

    def _add_timeout(
        self, sender: int, r: int, hqc_round: int, sig: bytes, out: list[Action]
    ) -> None:
        bucket = self._timeouts.setdefault(r, {})
        if sender in bucket:
            return
        bucket[sender] = (hqc_round, sig)
        if r == self.round and self._timed_out_round != r and len(bucket) >= self.f + 1:
            self._local_timeout(out)  # Bracha-style amplification
            return
        if len(bucket) >= self.q and r >= self.round:
            entries = tuple(sorted((rep, h, s) for rep, (h, s) in bucket.items()))
            tc = TC(r, entries)
            self._last_tc = tc
            self._enter_round(r + 1, out, via_qc=False)

    def _process_tc(self, tc: TC, out: list[Action]) -> None:
        if tc.round < self.round:
            return
        if not check_tc(tc, n=self.n, verifier=self.verifier, config=self.config):
            return
        self._last_tc = tc
        self._enter_round(tc.round + 1, out, via_qc=False)

    # -- certificates and commits ----------------------------------------------------------

    def _qc_ok(self, qc: QC) -> bool:
        key = pack(qc.to_wire())
        if key in self._verified:
            return True
        if not check_qc(qc, n=self.n, verifier=self.verifier, config=self.config):
            return False
        self._verified[key] = None
        if len(self._verified) > 256:
            self._verified.popitem(last=False)
        return True

    def _process_qc(
        self, qc: QC, hint: int | None, out: list[Action], *, checked: bool = False
    ) -> None:
        """Adopt a QC: raise high QC, commit by the two-chain rule, advance rounds."""
        if not checked and not self._qc_ok(qc):
            return
        if qc.round > self.high_qc.round:
            self.high_qc = qc
        if qc.block_id not in self._nodes:
            self._want(qc.block_id, hint, out)
        else:
            self._try_commit(qc, out)
        self._enter_round(qc.round + 1, out, via_qc=True)

    def _try_commit(self, qc: QC, out: list[Action]) -> None:
        child = self._nodes.get(qc.block_id)
        if child is None or child.header.round != qc.round:
            return
        parent = self._nodes.get(child.header.parent_id)
        if parent is None or child.header.round != parent.header.round + 1:
            return
        if parent.header.height <= self.committed_height:
            return
        # collect the chain root+1 .. parent, then prove each with headers up to child
        chain: list[bytes] = []
        cur: bytes = child.header.parent_id
        while cur != self._root_id:
            node = self._nodes.get(cur)
            if node is None or node.header.height <= self.committed_height:
                return  # does not extend our committed chain (cannot happen with < f+1 faults)
            chain.append(cur)
            cur = node.header.parent_id
        chain.reverse()
        if child.block is None:
            return
        qc_parent = child.block.qc
        headers = [self._nodes[b].header for b in chain] + [child.header]
        for i, bid in enumerate(chain):
            node = self._nodes[bid]
            if node.block is None:
                return
            proof = encode_proof(headers[i:], qc_parent, qc)
            out.append(Commit(node.header.height, bid, node.block.payload, proof))
            self._set_root(bid, node)
        out.append(Persist(_K_ROOT, pack(self._root.header.to_wire())))

    def _set_root(self, bid: bytes, node: _Node) -> None:
        """``bid`` is committed: it becomes the root; prune forks and old committed blocks."""
        self._root_id = bid
        self._root = node
        self._committed_ids[bid] = None
        h = node.header.height
        keep: dict[bytes, _Node] = {}
        for cid in self._committed_ids:
            keep[cid] = self._nodes[cid]
        # descendants of the new root survive; everything else at or below it is a dead fork
        frontier = {bid}
        above = [
            (nd.header.height, nid, nd) for nid, nd in self._nodes.items() if nd.header.height > h
        ]
        above.sort(key=lambda t: t[0])
        for _, nid, nd in above:
            if nd.header.parent_id in frontier:
                frontier.add(nid)
                keep[nid] = nd
        while len(self._committed_ids) > self.config.retain_blocks:
            old, _ = self._committed_ids.popitem(last=False)
            keep.pop(old, None)
        self._nodes = keep
        first = next(iter(self._committed_ids))
        self._low_height = self._nodes[first].header.height

    # -- proposals and votes ---------------------------------------------------------------

    def _on_proposal(self, sender: int, msg: Proposal, out: list[Action]) -> None:
        block = msg.block
        if sender != self.leader(block.round) or block.proposer != sender:
            return
        if len(block.payload) > self.config.max_payload_bytes:
            return
        if msg.tc is not None:
            self._process_tc(msg.tc, out)
        self._process_qc(block.qc, sender, out)
        if block.qc.block_id not in self._nodes:
            self._park(block, block.qc.block_id, msg.tc)
            return
        bid = self._insert(block)
        if bid is None:
            return
        self._maybe_vote(block, bid, msg.tc, out)
        self._adopt_pending(bid, out)

    def _maybe_vote(self, block: Block, bid: bytes, tc: TC | None, out: list[Action]) -> None:
        """Vote for ``block`` if it is for the current round and the safety rules allow."""
        msg = Proposal(block, tc)
        if block.round != self.round or block.round <= self.highest_vote_round:
            return
        if self._timed_out_round == block.round:
            return
        ok = block.qc.round + 1 == block.round or (
            msg.tc is not None
            and msg.tc.round + 1 == block.round
            and block.qc.round >= msg.tc.max_hqc_round
            and self._tc_ok(msg.tc)
        )
        if not ok:
            return
        self.highest_vote_round = block.round
        self._persist_safety(out, voted=bid)
        self._send_vote(block.round, bid, out)

    def _tc_ok(self, tc: TC) -> bool:
        return check_tc(tc, n=self.n, verifier=self.verifier, config=self.config)

    def _send_vote(self, r: int, bid: bytes, out: list[Action]) -> None:
        sig = self.signer.sign(vote_data(self.config, r, bid))
        nxt = self.leader(r + 1)
        if nxt == self.me:
            self._add_vote(self.me, Vote(r, bid, sig), out, checked=True)
        else:
            out.append(Send(nxt, Vote(r, bid, sig)))

    def _on_vote(self, sender: int, vote: Vote, out: list[Action]) -> None:
        if vote.round + 1 < self.round or vote.round > self.round + _FUTURE_ROUNDS:
            return
        if self.leader(vote.round + 1) != self.me:
            return
        self._add_vote(sender, vote, out, checked=False)

    def _add_vote(self, voter: int, vote: Vote, out: list[Action], *, checked: bool) -> None:
        if vote.round <= self.high_qc.round:
            return
        pending = self._votes.setdefault(vote.round, _Pending())
        if voter in pending.votes:
            return  # first vote of a replica in a round counts; a double vote is ignored
        data = vote_data(self.config, vote.round, vote.block_id)
        if not checked and not self.verifier.verify(voter, data, vote.signature):
            return
        pending.votes[voter] = (vote.block_id, vote.signature)
        same = sorted((v, s) for v, (b, s) in pending.votes.items() if b == vote.block_id)
        if len(same) >= self.q:
            qc = QC(vote.round, vote.block_id, tuple(same))
            self._verified[pack(qc.to_wire())] = None
            self._process_qc(qc, None, out, checked=True)

    def _insert(self, block: Block) -> bytes | None:
        """Add a block whose parent is known; returns its id, or None if invalid."""
        parent = self._nodes.get(block.qc.block_id)
        if parent is None:
            return None
        if (
            block.height != parent.header.height + 1
            or block.qc.round != parent.header.round
            or block.round <= block.qc.round
            or block.proposer != self.leader(block.round)
            or block.height <= self.committed_height
        ):
            return None
        if not self._qc_ok(block.qc):
            return None
        header = block.header(self.config)
        bid = header.compute_id(self.config)
        if bid not in self._nodes:
            self._nodes[bid] = _Node(header, block)
        self._wanted.pop(bid, None)
        return bid

    # -- sync ------------------------------------------------------------------------------

    def _persist_safety(self, out: list[Action], voted: bytes | None = None) -> None:
        """Persist the safety state with the uncommitted blocks it refers to.

        The blocks on the paths root → high-QC block and root → last voted block go with it:
        if every honest voter of a certified block crashed, the block must still exist somewhere
        or no leader could ever extend the highest QC again.
        """
        if voted is not None:
            self._last_voted = voted
        tc = None if self._last_tc is None else self._last_tc.to_wire()
        blocks: dict[bytes, Block] = {}
        for tip in (self.high_qc.block_id, self._last_voted):
            cur = tip
            while len(blocks) < _PERSIST_BLOCKS:
                node = self._nodes.get(cur)
                if node is None or node.block is None or cur == self._root_id or cur in blocks:
                    break
                if node.header.height <= self.committed_height:
                    break
                blocks[cur] = node.block
                cur = node.header.parent_id
        chain = sorted(blocks.values(), key=lambda b: b.height)
        out.append(
            Persist(
                _K_SAFETY,
                pack(
                    [
                        self.highest_vote_round,
                        self.high_qc.to_wire(),
                        tc,
                        [b.to_wire() for b in chain],
                    ]
                ),
            )
        )

    def _want(self, bid: bytes, hint: int | None, out: list[Action]) -> None:
        if bid in self._wanted or bid in self._nodes:
            return
        if len(self._wanted) > 64:
            return
        peer = hint if hint is not None and hint != self.me else self._next_peer()
        self._wanted[bid] = peer
        out.append(Send(peer, BlockRequest(bid, self.committed_height)))
        out.append(SetTimer(self._now + self.config.base_timeout_ms, (_T_SYNC, 0)))

    def _next_peer(self) -> int:
        self._sync_peer_turn = (self._sync_peer_turn + 1) % self.n
        if self._sync_peer_turn == self.me:
            self._sync_peer_turn = (self._sync_peer_turn + 1) % self.n
        return self._sync_peer_turn

    def _retry_sync(self, out: list[Action]) -> None:
        if not self._wanted:
            return
        self._sync_required_at = -1
        for bid in list(self._wanted):
            peer = self._next_peer()
            self._wanted[bid] = peer
            out.append(Send(peer, BlockRequest(bid, self.committed_height)))
        out.append(SetTimer(self._now + self.config.base_timeout_ms, (_T_SYNC, 0)))

    def _on_block_request(self, sender: int, req: BlockRequest, out: list[Action]) -> None:
        blocks: list[Block] = []
        cur = req.block_id
        while len(blocks) < self.config.max_sync_blocks:
            node = self._nodes.get(cur)
            if node is None or node.block is None or node.header.height <= req.stop_height:
                break
            blocks.append(node.block)
            cur = node.header.parent_id
        out.append(Send(sender, BlockResponse(tuple(blocks), self._low_height)))

    def _on_block_response(self, sender: int, resp: BlockResponse, out: list[Action]) -> None:
        if not resp.blocks:
            if resp.low_height > self.committed_height + 1 and self._wanted:
                self._need_node_sync(sender, out)
            return
        # verify the chain links top-down; blocks are parked until their parent is known
        prev_parent: bytes | None = None
        for block in resp.blocks:
            if len(block.payload) > self.config.max_payload_bytes:
                return
            bid = block.header(self.config).compute_id(self.config)
            if prev_parent is not None and bid != prev_parent:
                return
            prev_parent = block.qc.block_id
        top = resp.blocks[0].header(self.config).compute_id(self.config)
        if top not in self._wanted:
            return
        for block in reversed(resp.blocks):
            if block.height <= self.committed_height:
                continue
            if block.qc.block_id in self._nodes:
                got = self._insert(block)
                if got is not None:
                    self._adopt_pending(got, out)
            else:
                self._park(block, block.qc.block_id)
        lowest = resp.blocks[-1]
        if lowest.qc.block_id not in self._nodes and lowest.height > self.committed_height + 1:
            if resp.low_height > self.committed_height + 1 and len(resp.blocks) < (
                self.config.max_sync_blocks
            ):
                self._need_node_sync(sender, out)
            else:
                self._wanted.pop(top, None)
                self._want(lowest.qc.block_id, sender, out)

    def _need_node_sync(self, hint: int, out: list[Action]) -> None:
        h = self.committed_height + 1
        if self._sync_required_at == h:
            return
        self._sync_required_at = h
        out.append(SyncRequired(h, hint))

    def _park(self, block: Block, parent_id: bytes, tc: TC | None = None) -> None:
        """Keep a block whose parent is missing (with its proposal's TC, to vote on arrival)."""
        if self._pending_count >= _PENDING_BLOCKS:
            self._children_pending.clear()
            self._pending_count = 0
        bid = block.header(self.config).compute_id(self.config)
        lst = self._children_pending.setdefault(parent_id, [])
        for k, (_, b, old_tc) in enumerate(lst):
            if b == bid:
                if old_tc is None and tc is not None:
                    lst[k] = (block, bid, tc)
                return
        lst.append((block, bid, tc))
        self._pending_count += 1

    def _adopt_pending(self, parent_id: bytes, out: list[Action]) -> None:
        """Insert parked descendants of ``parent_id``; run the commit rule over their QCs."""
        stack = [parent_id]
        while stack:
            pid = stack.pop()
            pnode = self._nodes.get(pid)
            if pnode is not None and pnode.block is not None:
                self._try_commit(pnode.block.qc, out)
            for block, _, tc in self._children_pending.pop(pid, []):
                self._pending_count -= 1
                bid = self._insert(block)
                if bid is not None:
                    self._maybe_vote(block, bid, tc, out)
                    stack.append(bid)
        self._try_commit(self.high_qc, out)
