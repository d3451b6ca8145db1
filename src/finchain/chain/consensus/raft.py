"""Raft (Ongaro & Ousterhout, USENIX ATC 2014; Ongaro's thesis for single-server changes).

**Crash faults only**: safe while replicas follow the protocol (they may crash, restart, be slow or
cut off); a Byzantine replica can break it.  Tolerates ``f`` crashed of ``2f + 1`` members.

Log index = block height.  A follower that hears no leader for its election timeout (drawn from a
seeded generator in ``[election_min_ms, 2 * election_min_ms)`` — the seed is an input, so runs are
reproducible) becomes a candidate, increments its term and asks for votes; a replica grants one
vote per term, only to a candidate whose log is at least as up to date.  A majority makes a leader,
which appends payloads, replicates them with ``AppendEntries`` (also the heartbeat) and commits an
entry of its own term once a majority stores it (earlier entries commit with it).

Proof: Raft has no quorum certificate.  The leader signs a commit record (leader term, block id)
for each entry it commits and ships it to followers; that record is the :class:`Commit` proof.  A
light client that checks it learns that *the leader of that term* declared the block committed —
it trusts that leader (fine under crash faults, where every member is honest), not a quorum.

Snapshots: the committed prefix lives in the node's block store; the replica keeps only entries
above its last snapshot (taken every ``snapshot_every`` commits) plus ``retain_blocks`` committed
entries to serve slow followers.  A follower behind that gets ``InstallSnapshot`` and returns
:class:`SyncRequired`; the node feeds it committed blocks (with their signed records) through
:meth:`Raft.on_synced_commit`.

Membership: single-server changes (thesis §4.1).  ``propose_membership`` (leader only) appends a
configuration entry — a block whose payload starts with :data:`CONFIG_PREFIX` — that takes effect
as soon as it is in a log; one change at a time (the previous one must be committed).

Persistence before the message that depends on it: term and vote before a vote (or a candidacy)
leaves; appended entries before an ``AppendEntries`` reply or the leader's own replication.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
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

#: payload prefix of a configuration (membership) entry; the rest is ``pack(sorted members)``
CONFIG_PREFIX = b"\x00finchain-raft-config\x00"
_K_META = "raft/meta"
_K_APPLIED = "raft/applied"
_T_ELECTION = "raft-election"
_T_HEARTBEAT = "raft-heartbeat"


@dataclass(frozen=True, slots=True)
class RequestVote:
    term: int
    last_index: int
    last_term: int


@dataclass(frozen=True, slots=True)
class VoteReply:
    term: int
    granted: bool


@dataclass(frozen=True, slots=True)
class AppendEntries:
    term: int
    prev_index: int
    prev_term: int
    entries: tuple[tuple[int, bytes], ...]  # (term, payload)
    leader_commit: int
    proofs: tuple[tuple[int, bytes], ...]  # (index, commit proof) for committed indexes


@dataclass(frozen=True, slots=True)
class AppendReply:
    term: int
    success: bool
    match_index: int  # on failure: a hint (the follower's last index)
    applied: int  # the follower's applied index: the leader sends commit records above it


@dataclass(frozen=True, slots=True)
class InstallSnapshot:
    term: int
    snap_index: int


Message = RequestVote | VoteReply | AppendEntries | AppendReply | InstallSnapshot


def encode(m: Message) -> bytes:
    """Canonical wire bytes of a Raft message."""
    if isinstance(m, RequestVote):
        return pack([1, m.term, m.last_index, m.last_term])
    if isinstance(m, VoteReply):
        return pack([2, m.term, int(m.granted)])
    if isinstance(m, AppendEntries):
        return pack(
            [
                3,
                m.term,
                m.prev_index,
                m.prev_term,
                [[t, p] for t, p in m.entries],
                m.leader_commit,
                [[i, p] for i, p in m.proofs],
            ]
        )
    if isinstance(m, AppendReply):
        return pack([4, m.term, int(m.success), m.match_index, m.applied])
    if isinstance(m, InstallSnapshot):
        return pack([5, m.term, m.snap_index])
    raise TypeError(f"not a Raft message: {type(m).__name__}")


def decode(data: bytes) -> Message:
    """Inverse of :func:`encode`; ``ValueError`` on anything malformed or non-canonical."""
    v = as_list(unpack(data))
    if not v:
        raise ValueError("empty message")
    tag = as_int(v[0])
    if tag == 1:
        as_list(v, length=4)
        return RequestVote(as_int(v[1]), as_int(v[2]), as_int(v[3]))
    if tag == 2:
        as_list(v, length=3)
        return VoteReply(as_int(v[1]), bool(as_int(v[2], upper=1)))
    if tag == 3:
        as_list(v, length=7)
        entries = tuple(
            (as_int(e[0]), as_bytes(e[1]))
            for e in (as_list(x, length=2) for x in as_list(v[4], max_len=4096))
        )
        proofs = tuple(
            (as_int(e[0]), as_bytes(e[1], max_len=4096))
            for e in (as_list(x, length=2) for x in as_list(v[6], max_len=4096))
        )
        return AppendEntries(
            as_int(v[1]), as_int(v[2]), as_int(v[3]), entries, as_int(v[5]), proofs
        )
    if tag == 4:
        as_list(v, length=5)
        return AppendReply(as_int(v[1]), bool(as_int(v[2], upper=1)), as_int(v[3]), as_int(v[4]))
    if tag == 5:
        as_list(v, length=3)
        return InstallSnapshot(as_int(v[1]), as_int(v[2]))
    raise ValueError(f"unknown Raft message tag {tag}")


def block_id_from_digest(config: ConsensusConfig, index: int, term: int, digest: bytes) -> bytes:
    return config.hash(pack([b"raft-block", config.chain_id, index, term, digest]))


def commit_data(config: ConsensusConfig, leader_term: int, bid: bytes) -> bytes:
    return pack([b"raft-commit", config.chain_id, leader_term, bid])


def verify_commit_proof(
    *,
    block_id: bytes,
    height: int,
    proof: bytes,
    n: int,
    verifier: Verifier,
    config: ConsensusConfig | None = None,
) -> bool:
    """The commit record is signed by the leader it names, and the block id binds ``height``.

    This proves what one leader declared, not what a quorum agreed (Raft is crash-tolerant).
    """
    config = config or ConsensusConfig()
    try:
        v = as_list(unpack(proof), length=5)
        leader_term, entry_term = as_int(v[0]), as_int(v[1])
        digest, leader, sig = as_bytes(v[2], max_len=64), as_int(v[3]), as_bytes(v[4], max_len=512)
    except ValueError:
        return False
    if leader >= n or entry_term > leader_term:
        return False
    if block_id_from_digest(config, height, entry_term, digest) != block_id:
        return False
    return verifier.verify(leader, commit_data(config, leader_term, block_id), sig)


def parse_members(payload: bytes) -> tuple[int, ...] | None:
    """Members named by a configuration entry, or None for an ordinary payload."""
    if not payload.startswith(CONFIG_PREFIX):
        return None
    try:
        return tuple(as_int(x) for x in as_list(unpack(payload[len(CONFIG_PREFIX) :])))
    except ValueError:
        return None


class Raft(Consensus):
    """One Raft replica (see the module docstring)."""

    name = "raft"

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
        self.me, self.n = replica_id, n
        self.signer, self.verifier, self.config = signer, verifier, config
        self.rng = random.Random(config.seed)
        self._snap_members: tuple[int, ...] = tuple(range(n))
        self.ring = 4 * (config.snapshot_every + config.max_inflight) + 16
        self.term = 0
        self.voted_for: int | None = None
        self.snap_index, self.snap_term = 0, 0
        self.log: dict[int, tuple[int, bytes]] = {}  # index -> (term, payload), above snapshot
        self.last_index = 0
        if _K_META in persisted:
            v = as_list(unpack(persisted[_K_META]), length=6)
            self._snap_members = tuple(as_int(x) for x in as_list(v[5]))
            self.term = as_int(v[0])
            self.voted_for = None if v[1] == 0 else as_int(v[1]) - 1
            self.snap_index, self.snap_term, last = as_int(v[2]), as_int(v[3]), as_int(v[4])
            for i in range(self.snap_index + 1, last + 1):
                raw = persisted.get(f"raft/entry/{i % self.ring}")
                if raw is None:
                    break
                e = as_list(unpack(raw), length=3)
                if as_int(e[0]) != i:
                    break
                self.log[i] = (as_int(e[1]), as_bytes(e[2]))
                self.last_index = i
            self.last_index = max(self.last_index, self.snap_index)
        self.applied = 0
        if _K_APPLIED in persisted:
            self.applied = as_int(as_list(unpack(persisted[_K_APPLIED]), length=1)[0])
        self.commit_index = self.applied
        self.role = "follower"
        self.leader: int | None = None
        self.votes: set[int] = set()
        self.next_index: dict[int, int] = {}
        self.match_index: dict[int, int] = {}
        self.peer_applied: dict[int, int] = {}
        self.proofs: OrderedDict[int, bytes] = OrderedDict()  # index -> signed commit record
        self.retained: OrderedDict[int, tuple[int, bytes]] = OrderedDict()
        self._now = 0
        self._election_gen = 0
        self._sync_asked = (-1, -1)

    # -- interface ----------------------------------------------------------------------------

    @property
    def committed_height(self) -> int:
        return self.applied

    def encode_message(self, message: Any) -> bytes:
        return encode(message)

    def decode_message(self, data: bytes) -> Any:
        return decode(data)

    def members(self) -> tuple[int, ...]:
        """The latest configuration in the log (committed or not), else every replica."""
        for i in range(self.last_index, self.snap_index, -1):
            m = parse_members(self.log[i][1])
            if m is not None:
                return m
        return self._snap_members

    def _majority(self) -> int:
        return len(self.members()) // 2 + 1

    def on_start(self, now: Millis) -> list[Action]:
        self._now = now
        out: list[Action] = []
        self._reset_election(out)
        return out

    def on_message(self, sender: ReplicaId, message: Any, now: Millis) -> list[Action]:
        self._now = now
        out: list[Action] = []
        if not 0 <= sender < self.n or sender == self.me:
            return out
        term = getattr(message, "term", 0)
        if term > self.term:
            self.term, self.voted_for = term, None
            self._become_follower(None, out)
            self._persist_meta(out)
        if isinstance(message, RequestVote):
            self._on_request_vote(sender, message, out)
        elif isinstance(message, VoteReply):
            self._on_vote_reply(sender, message, out)
        elif isinstance(message, AppendEntries):
            self._on_append(sender, message, out)
        elif isinstance(message, AppendReply):
            self._on_append_reply(sender, message, out)
        elif (
            isinstance(message, InstallSnapshot)
            and message.term == self.term
            and message.snap_index > self.applied
        ):
            self.leader = sender
            self._reset_election(out)
            if (self.applied, self._now // self.config.election_min_ms) != self._sync_asked:
                self._sync_asked = (self.applied, self._now // self.config.election_min_ms)
                out.append(SyncRequired(self.applied + 1, sender))
        return out

    def on_timer(self, token: Any, now: Millis) -> list[Action]:
        self._now = now
        out: list[Action] = []
        if token == (_T_ELECTION, self._election_gen) and self.role != "leader":
            if self.me in self.members():
                self._campaign(out)
            else:
                self._reset_election(out)
        elif token == (_T_HEARTBEAT, self.term) and self.role == "leader":
            for p in self.members():
                if p != self.me:
                    self._replicate(p, out)
            out.append(SetTimer(now + self.config.heartbeat_ms, (_T_HEARTBEAT, self.term)))
        return out

    def on_payload(self, view: int, payload: bytes, now: Millis) -> list[Action]:
        self._now = now
        out: list[Action] = []
        if self.role != "leader" or view != self.term:
            return out
        if len(payload) > self.config.max_payload_bytes or payload.startswith(CONFIG_PREFIX):
            return out
        first_of_term = self._term_at(self.last_index) != self.term
        if self.last_index - self.commit_index >= self.config.max_inflight and not first_of_term:
            return out  # (the first entry of a term is always taken: it commits the rest)
        self._leader_append(payload, out)
        if self.last_index - self.commit_index < self.config.max_inflight:
            out.append(RequestPayload(self.term))
        return out

    def propose_membership(self, members: tuple[int, ...], now: Millis) -> list[Action]:
        """Leader only: change the member set by one server (add or remove).

        Refused (returns ``[]``) unless this replica leads, the previous change is committed,
        and ``members`` differs from the current set by exactly one replica id.
        """
        self._now = now
        out: list[Action] = []
        cur = set(self.members())
        new = set(members)
        if self.role != "leader" or len(cur ^ new) != 1 or not new or max(new) >= self.n:
            return out
        for i in range(self.commit_index + 1, self.last_index + 1):
            if parse_members(self.log[i][1]) is not None:
                return out  # one change at a time
        self._leader_append(CONFIG_PREFIX + pack(sorted(new)), out)
        return out

    def on_synced_commit(
        self, height: int, block_id: bytes, payload: bytes, proof: bytes, now: Millis
    ) -> list[Action]:
        self._now = now
        if height != self.applied + 1:
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
        if self.config.hash(payload) != as_list(unpack(proof))[2]:
            return []
        entry_term = as_int(as_list(unpack(proof))[1])
        out: list[Action] = [Commit(height, block_id, payload, proof)]
        self.applied = height
        self.commit_index = max(self.commit_index, height)
        self.proofs[height] = proof
        m = parse_members(payload)
        if m is not None:
            self._snap_members = m
        if self.last_index <= height or self.log.get(height, (entry_term, b""))[0] != entry_term:
            # our log does not hold this entry: restart the log from it
            self.log.clear()
            self.snap_index, self.snap_term, self.last_index = height, entry_term, height
        out.append(Persist(_K_APPLIED, pack([self.applied])))
        self._persist_meta(out)
        return out

    # -- helpers --------------------------------------------------------------------------------

    def _term_at(self, index: int) -> int | None:
        if index == self.snap_index:
            return self.snap_term
        e = self.log.get(index)
        return None if e is None else e[0]

    def _persist_meta(self, out: list[Action]) -> None:
        vote = 0 if self.voted_for is None else self.voted_for + 1
        out.append(
            Persist(
                _K_META,
                pack(
                    [
                        self.term,
                        vote,
                        self.snap_index,
                        self.snap_term,
                        self.last_index,
                        list(self._snap_members),
                    ]
                ),
            )
        )

    def _persist_entry(self, index: int, out: list[Action]) -> None:
        term, payload = self.log[index]
        out.append(Persist(f"raft/entry/{index % self.ring}", pack([index, term, payload])))

    def _reset_election(self, out: list[Action]) -> None:
        self._election_gen += 1
        lo = self.config.election_min_ms
        delay = lo + self.rng.randrange(lo)
        out.append(SetTimer(self._now + delay, (_T_ELECTION, self._election_gen)))

    def _become_follower(self, leader: int | None, out: list[Action]) -> None:
        if self.role == "leader":
            self._reset_election(out)
        self.role = "follower"
        self.leader = leader

    # -- elections ------------------------------------------------------------------------------

    def _campaign(self, out: list[Action]) -> None:
        self.term += 1
        self.role = "candidate"
        self.voted_for = self.me
        self.votes = {self.me}
        self.leader = None
        self._persist_meta(out)
        last_term = self._term_at(self.last_index) or 0
        for p in self.members():
            if p != self.me:
                out.append(Send(p, RequestVote(self.term, self.last_index, last_term)))
        self._reset_election(out)
        self._maybe_win(out)

    def _on_request_vote(self, sender: int, m: RequestVote, out: list[Action]) -> None:
        granted = False
        if m.term == self.term and self.voted_for in (None, sender):
            my_last_term = self._term_at(self.last_index) or 0
            up_to_date = (m.last_term, m.last_index) >= (my_last_term, self.last_index)
            if up_to_date:
                granted = True
                self.voted_for = sender
                self._persist_meta(out)
                self._reset_election(out)
        out.append(Send(sender, VoteReply(self.term, granted)))

    def _on_vote_reply(self, sender: int, m: VoteReply, out: list[Action]) -> None:
        if self.role != "candidate" or m.term != self.term or not m.granted:
            return
        if sender in self.members():
            self.votes.add(sender)
        self._maybe_win(out)

    def _maybe_win(self, out: list[Action]) -> None:
        if self.role != "candidate" or len(self.votes) < self._majority():
            return
        self.role = "leader"
        self.leader = self.me
        self.next_index = {p: self.last_index + 1 for p in range(self.n)}
        self.match_index = {p: 0 for p in range(self.n)}
        self.match_index[self.me] = self.last_index
        out.append(SetTimer(self._now + self.config.heartbeat_ms, (_T_HEARTBEAT, self.term)))
        out.append(RequestPayload(self.term))  # the first entry of the term commits the rest
        for p in self.members():
            if p != self.me:
                self._replicate(p, out)

    # -- replication ----------------------------------------------------------------------------

    def _leader_append(self, payload: bytes, out: list[Action]) -> None:
        self.last_index += 1
        self.log[self.last_index] = (self.term, payload)
        self.match_index[self.me] = self.last_index
        self._persist_entry(self.last_index, out)
        self._persist_meta(out)
        for p in self.members():
            if p != self.me:
                self._replicate(p, out)
        self._advance_commit(out)

    def _replicate(self, p: int, out: list[Action]) -> None:
        nxt = self.next_index.get(p, self.last_index + 1)
        prev = nxt - 1
        prev_term = self._term_at(prev)
        if prev_term is None:
            prev_term = self.retained.get(prev, (None, b""))[0]
        if prev_term is None or (prev < self.snap_index and prev not in self.retained):
            out.append(Send(p, InstallSnapshot(self.term, self.snap_index)))
            return
        entries: list[tuple[int, bytes]] = []
        i = nxt
        while i <= self.last_index and len(entries) < self.config.max_sync_blocks:
            e = self.log.get(i) or self.retained.get(i)
            if e is None:
                break
            entries.append(e)
            i += 1
        lo = self.peer_applied.get(p, 0)
        if lo < self.commit_index and lo + 1 not in self.proofs and p in self.peer_applied:
            # the follower holds entries it cannot apply: its commit records are gone here
            out.append(Send(p, InstallSnapshot(self.term, self.commit_index)))
        hi = min(self.commit_index, lo + 2 * self.config.max_sync_blocks)
        proofs = tuple((j, self.proofs[j]) for j in range(lo + 1, hi + 1) if j in self.proofs)
        out.append(
            Send(
                p,
                AppendEntries(
                    self.term, prev, prev_term, tuple(entries), self.commit_index, proofs
                ),
            )
        )

    def _on_append(self, sender: int, m: AppendEntries, out: list[Action]) -> None:
        if m.term < self.term:
            out.append(Send(sender, AppendReply(self.term, False, self.last_index, self.applied)))
            return
        self._become_follower(sender, out)
        self._reset_election(out)
        for j, proof in m.proofs:
            if j > self.applied:
                self.proofs[j] = proof
        if m.prev_index < self.snap_index:
            # already compacted here: skip the overlap
            skip = self.snap_index - m.prev_index
            if skip > len(m.entries):
                out.append(
                    Send(sender, AppendReply(self.term, True, self.snap_index, self.applied))
                )
                return
            entries = m.entries[skip:]
            prev = self.snap_index
        else:
            my_prev_term = self._term_at(m.prev_index)
            if my_prev_term is None or my_prev_term != m.prev_term:
                hint = min(self.last_index, max(m.prev_index - 1, self.snap_index))
                out.append(Send(sender, AppendReply(self.term, False, hint, self.applied)))
                return
            entries, prev = m.entries, m.prev_index
        changed = False
        for k, (term, payload) in enumerate(entries):
            i = prev + 1 + k
            have = self._term_at(i)
            if have == term:
                continue
            if have is not None:  # conflict: drop this entry and everything after it
                for j in range(i, self.last_index + 1):
                    self.log.pop(j, None)
                self.last_index = i - 1
            if i - self.snap_index > self.ring:
                break
            self.log[i] = (term, payload)
            self.last_index = i
            self._persist_entry(i, out)
            changed = True
        if changed:
            self._persist_meta(out)
        match = prev + len(entries)
        match = min(match, self.last_index)
        new_commit = min(m.leader_commit, match)
        if new_commit > self.commit_index:
            self.commit_index = new_commit
        self._apply(out)
        out.append(Send(sender, AppendReply(self.term, True, match, self.applied)))

    def _on_append_reply(self, sender: int, m: AppendReply, out: list[Action]) -> None:
        if self.role != "leader" or m.term != self.term:
            return
        self.peer_applied[sender] = m.applied
        if m.success:
            if m.match_index <= self.match_index.get(sender, 0):
                return  # stale or duplicated reply: the heartbeat covers losses
            self.match_index[sender] = m.match_index
            self.next_index[sender] = max(self.next_index.get(sender, 1), m.match_index + 1)
            self._advance_commit(out)
            if self.next_index[sender] <= self.last_index:
                self._replicate(sender, out)
        else:
            old = self.next_index.get(sender, 1)
            new = max(1, min(old - 1, m.match_index + 1))
            if new < old:  # only a reply that moves us back triggers a resend
                self.next_index[sender] = new
                self._replicate(sender, out)

    def _advance_commit(self, out: list[Action]) -> None:
        members = self.members()
        for idx in range(self.last_index, self.commit_index, -1):
            if self._term_at(idx) != self.term:
                break  # only entries of the current term commit by counting
            if sum(1 for p in members if self.match_index.get(p, 0) >= idx) >= self._majority():
                for j in range(self.applied + 1, idx + 1):
                    if j <= self.commit_index and j in self.proofs:
                        continue
                    term, payload = self.log[j]
                    digest = self.config.hash(payload)
                    bid = block_id_from_digest(self.config, j, term, digest)
                    sig = self.signer.sign(commit_data(self.config, self.term, bid))
                    self.proofs[j] = pack([self.term, term, digest, self.me, sig])
                self.commit_index = idx
                self._apply(out)
                if self.last_index - self.commit_index < self.config.max_inflight:
                    out.append(RequestPayload(self.term))
                break

    def _apply(self, out: list[Action]) -> None:
        done = False
        while self.applied < self.commit_index:
            i = self.applied + 1
            entry = self.log.get(i)
            proof = self.proofs.get(i)
            if entry is None or proof is None:
                break
            term, payload = entry
            bid = block_id_from_digest(self.config, i, term, self.config.hash(payload))
            out.append(Commit(i, bid, payload, proof))
            self.applied = i
            self.retained[i] = entry
            done = True
        if not done:
            return
        out.append(Persist(_K_APPLIED, pack([self.applied])))
        while len(self.retained) > self.config.retain_blocks:
            self.retained.popitem(last=False)
        while len(self.proofs) > self.config.retain_blocks + self.config.max_sync_blocks:
            self.proofs.popitem(last=False)
        if self.applied - self.snap_index >= self.config.snapshot_every:
            self._compact(out)

    def _compact(self, out: list[Action]) -> None:
        """Drop log entries up to the applied index (the node's store holds them)."""
        upto = self.applied
        term = self._term_at(upto)
        if term is None:
            return
        for i in range(self.snap_index + 1, upto + 1):
            m = parse_members(self.log[i][1])
            if m is not None:
                self._snap_members = m
            self.log.pop(i, None)
        self.snap_index, self.snap_term = upto, term
        self._persist_meta(out)
