"""The consensus interface every algorithm (HotStuff, PBFT, Raft) implements.

Consensus is a **sans-I/O state machine**: it never reads a clock, touches a socket or the disk, or
draws randomness. The node (or the deterministic simulator) feeds it inputs and carries out the
actions it returns:

inputs
    :meth:`Consensus.on_start`, :meth:`Consensus.on_message` (a decoded message from a peer),
    :meth:`Consensus.on_timer` (a timer it asked for fired), :meth:`Consensus.on_payload`
    (the leader's next payload — batch digests — is available).
actions (returned, in order)
    :class:`Persist` (write safety state durably *before* any later :class:`Send` leaves),
    :class:`Send`, :class:`SetTimer`, :class:`RequestPayload`, :class:`Commit`,
    :class:`SyncRequired`.

Ordering contract for drivers: execute actions in list order; a :class:`Persist` must be durable
before the driver transmits any :class:`Send` that follows it. This is how a restarted replica is
kept from equivocating.

Catch-up: a replica fetches recent blocks from its peers inside the protocol. When it lags further
than peers keep in memory it returns :class:`SyncRequired`; the node then fetches committed
``(height, block_id, payload, proof)`` records from peers' block stores, starting at
``from_height``, and feeds them in order to :meth:`Consensus.on_synced_commit`, which checks each
proof and answers with the usual :class:`Commit` (so the node applies synced and live blocks the
same way).  After a restart a replica may re-emit a :class:`Commit` for a height the node already
stored (the crash fell between storing a block and the Persist that follows the Commit); drivers
treat a repeated ``(height, block_id)`` as a no-op.

Compatible extensions (added after the first version, nothing removed): :class:`SyncRequired`,
:meth:`Consensus.on_synced_commit`.  Drivers that predate them simply never sync beyond the
in-protocol window.

Time is an integer count of milliseconds supplied by the driver; replica ids are indexes into the
validator list, identical on every replica.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

ReplicaId = int
Millis = int


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``message`` to replica ``to`` (``None`` = broadcast to every other replica)."""

    to: ReplicaId | None
    message: Any


@dataclass(frozen=True, slots=True)
class SetTimer:
    """Call :meth:`Consensus.on_timer` with ``token`` at time ``at`` (replaces an equal token)."""

    at: Millis
    token: Any


@dataclass(frozen=True, slots=True)
class RequestPayload:
    """This replica leads next: call :meth:`Consensus.on_payload` with what to propose."""

    view: int


@dataclass(frozen=True, slots=True)
class Persist:
    """Durably store ``value`` under ``key`` before any later Send leaves."""

    key: str
    value: bytes


@dataclass(frozen=True, slots=True)
class Commit:
    """A block is final. Emitted once per height, heights consecutive from 1.

    ``payload`` is what the leader proposed (opaque to consensus: batch digests);
    ``proof`` is the algorithm's encoded commit certificate (e.g. a HotStuff QC) that a
    light client or observer can check against the validator set.
    """

    height: int
    block_id: bytes
    payload: bytes
    proof: bytes


@dataclass(frozen=True, slots=True)
class SyncRequired:
    """Peers no longer hold the blocks this replica misses: fetch committed blocks from their
    stores starting at ``from_height`` and feed them to :meth:`Consensus.on_synced_commit`.
    ``hint`` names a replica believed to have them (``None``: ask any)."""

    from_height: int
    hint: ReplicaId | None = None


Action = Send | SetTimer | RequestPayload | Persist | Commit | SyncRequired


class Consensus(abc.ABC):
    """One replica of a consensus protocol."""

    #: short name used in genesis (``"hotstuff"``, ``"pbft"``, ``"raft"``)
    name: str = ""

    @abc.abstractmethod
    def on_start(self, now: Millis) -> list[Action]:
        """The replica starts (fresh or after restoring persisted state)."""

    @abc.abstractmethod
    def on_message(self, sender: ReplicaId, message: Any, now: Millis) -> list[Action]:
        """A message from ``sender`` arrived (already authenticated as coming from that peer)."""

    @abc.abstractmethod
    def on_timer(self, token: Any, now: Millis) -> list[Action]:
        """A timer set with :class:`SetTimer` fired."""

    @abc.abstractmethod
    def on_payload(self, view: int, payload: bytes, now: Millis) -> list[Action]:
        """The payload asked for by :class:`RequestPayload` is ready."""

    def on_synced_commit(
        self, height: int, block_id: bytes, payload: bytes, proof: bytes, now: Millis
    ) -> list[Action]:
        """A committed block fetched by the node from a peer's store (after :class:`SyncRequired`).

        ``height`` must be ``committed_height + 1`` and ``proof`` must check; otherwise nothing
        happens (returns ``[]``).  On success returns a :class:`Commit` for it (and any Persist).
        """
        return []

    @abc.abstractmethod
    def encode_message(self, message: Any) -> bytes:
        """Canonical bytes of a message, for the wire."""

    @abc.abstractmethod
    def decode_message(self, data: bytes) -> Any:
        """Inverse of :meth:`encode_message`; raises ``ValueError`` on malformed input."""

    @property
    @abc.abstractmethod
    def committed_height(self) -> int:
        """Height of the last block this replica committed."""


def quorum_size(n: int) -> int:
    """Votes needed in a BFT system of ``n`` replicas: ``n - f`` with ``f = (n - 1) // 3``."""
    return n - (n - 1) // 3


def max_faulty(n: int) -> int:
    """``f``: Byzantine replicas tolerated among ``n``."""
    return (n - 1) // 3


def restore(persisted: Sequence[tuple[str, bytes]]) -> dict[str, bytes]:
    """Turn a driver's stored ``Persist`` records (last write wins) into a lookup."""
    out: dict[str, bytes] = {}
    for key, value in persisted:
        out[key] = value
    return out
