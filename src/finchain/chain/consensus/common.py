"""What every consensus algorithm shares: signer/verifier seams, configuration, wire helpers.

The node signs consensus messages with the chain's suite (SM2 on gm chains); the simulator plugs in
:class:`HmacKeyring`, a cheap deterministic scheme, so thousands of seeds run in seconds.

>>> ring = HmacKeyring(n=4, seed=7)
>>> sig = ring.signer(2).sign(b"vote")
>>> ring.verifier().verify(2, b"vote", sig), ring.verifier().verify(1, b"vote", sig)
(True, False)
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import msgpack

from finchain.chain.errors import ChainError

HashFn = Callable[[bytes], bytes]

#: the largest integer accepted on the wire (non-negative, fits a signed 64-bit word)
MAX_INT = (1 << 63) - 1


class ConsensusError(ChainError):
    """A consensus misconfiguration (unknown algorithm, bad replica count or id)."""


@runtime_checkable
class Signer(Protocol):
    """Signs on behalf of this replica (the node implements it with its SM2 key)."""

    def sign(self, data: bytes) -> bytes:
        """Signature over ``data``."""
        ...


@runtime_checkable
class Verifier(Protocol):
    """Checks a signature of replica ``replica_id`` (index into the validator list)."""

    def verify(self, replica_id: int, data: bytes, signature: bytes) -> bool:
        """True when ``signature`` is ``replica_id``'s valid signature over ``data``."""
        ...


def sha256(data: bytes) -> bytes:
    """The default block hash (gm chains pass SM3 via ``ConsensusConfig(hash=...)``)."""
    return hashlib.sha256(data).digest()


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsensusConfig:
    """Tunables shared by all algorithms; defaults suit a LAN.

    Times are integer milliseconds.  ``backoff`` multiplies the view timeout after every
    consecutive timeout, capped at ``max_timeout_ms``.  ``hash`` computes block ids (pass
    ``finchain.crypto.get_suite("gm").hash`` on gm chains).  ``seed`` feeds the only randomness
    (Raft's election jitter); it must differ per replica and be fixed per restart schedule.

    >>> ConsensusConfig().base_timeout_ms
    1000
    >>> ConsensusConfig(base_timeout_ms=0)
    Traceback (most recent call last):
    ...
    finchain.chain.consensus.common.ConsensusError: base_timeout_ms must be positive
    """

    base_timeout_ms: int = 1000
    max_timeout_ms: int = 16_000
    backoff: int = 2
    hash: HashFn = field(default=sha256)
    chain_id: bytes = b""
    #: committed blocks kept in memory to serve lagging peers (older ones: node-level sync)
    retain_blocks: int = 512
    #: most blocks in one sync response
    max_sync_blocks: int = 64
    #: largest payload a leader may propose (bytes)
    max_payload_bytes: int = 1 << 20
    #: PBFT: a checkpoint every this many sequence numbers; the log window is 2 intervals
    checkpoint_interval: int = 16
    #: PBFT: most sequence numbers a primary keeps in flight (pipelining depth)
    max_inflight: int = 4
    #: Raft: heartbeat period; election timeout drawn in [election_min_ms, 2*election_min_ms)
    heartbeat_ms: int = 150
    election_min_ms: int = 1000
    #: Raft: compact the log into a snapshot beyond this many committed entries
    snapshot_every: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        for name in (
            "base_timeout_ms",
            "max_timeout_ms",
            "backoff",
            "retain_blocks",
            "max_sync_blocks",
            "max_payload_bytes",
            "checkpoint_interval",
            "max_inflight",
            "heartbeat_ms",
            "election_min_ms",
            "snapshot_every",
        ):
            if getattr(self, name) <= 0:
                raise ConsensusError(f"{name} must be positive")
        if self.max_timeout_ms < self.base_timeout_ms:
            raise ConsensusError("max_timeout_ms must be >= base_timeout_ms")

    def view_timeout(self, consecutive_timeouts: int) -> int:
        """Timeout for a view after ``consecutive_timeouts`` timeouts in a row (integer back-off).

        >>> [ConsensusConfig().view_timeout(k) for k in range(6)]
        [1000, 2000, 4000, 8000, 16000, 16000]
        """
        t = self.base_timeout_ms
        for _ in range(consecutive_timeouts):
            t *= self.backoff
            if t >= self.max_timeout_ms:
                return self.max_timeout_ms
        return t


class HmacKeyring:
    """Deterministic per-replica HMAC-SHA256 keys: the simulator's stand-in for SM2.

    Each replica's secret derives from ``seed`` and its id; a Byzantine replica in the
    simulator only gets its own :meth:`signer`, so it cannot forge honest votes.
    """

    def __init__(self, *, n: int, seed: int = 0) -> None:
        self._keys = [
            hashlib.sha256(b"finchain-sim-key|%d|%d" % (seed, i)).digest() for i in range(n)
        ]

    def signer(self, replica_id: int) -> Signer:
        return _HmacSigner(self._keys[replica_id])

    def verifier(self) -> Verifier:
        return _HmacVerifier(self._keys)


class _HmacSigner:
    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        self._key = key

    def sign(self, data: bytes) -> bytes:
        return hmac.digest(self._key, data, "sha256")


class _HmacVerifier:
    __slots__ = ("_keys",)

    def __init__(self, keys: Sequence[bytes]) -> None:
        self._keys = keys

    def verify(self, replica_id: int, data: bytes, signature: bytes) -> bool:
        if not 0 <= replica_id < len(self._keys):
            return False
        return hmac.compare_digest(hmac.digest(self._keys[replica_id], data, "sha256"), signature)


# -- canonical wire encoding --------------------------------------------------------------------
# Messages are nested lists of non-negative ints, bytes and None, packed with msgpack.  msgpack
# always picks the shortest form, so re-packing a decoded value reproduces canonical bytes;
# decoding rejects anything that does not round-trip (non-minimal ints, maps, strings, floats,
# trailing data).


def pack(value: Any) -> bytes:
    """Canonical bytes of a nested list of ints/bytes/None.

    >>> pack([1, b"ab", None, [2]]).hex()
    '9401c4026162c09102'
    """
    return msgpack.packb(value, use_bin_type=True)  # type: ignore[no-any-return]


def unpack(data: bytes, *, max_len: int = 64 << 20) -> Any:
    """Inverse of :func:`pack` for untrusted bytes; ``ValueError`` unless canonical.

    >>> unpack(pack([1, b"x"]))
    [1, b'x']
    >>> unpack(b"\\xc1")
    Traceback (most recent call last):
    ...
    ValueError: malformed message
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ValueError("message must be bytes")
    data = bytes(data)
    if len(data) > max_len:
        raise ValueError("message too large")
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=True,
            max_str_len=0,
            max_map_len=0,
            max_ext_len=0,
        )
    except Exception:
        raise ValueError("malformed message") from None
    if pack(value) != data:
        raise ValueError("non-canonical message")
    return value


def as_int(value: Any, *, upper: int = MAX_INT) -> int:
    """``value`` if it is a wire int in ``[0, upper]``; ``ValueError`` otherwise."""
    if type(value) is not int or not 0 <= value <= upper:
        raise ValueError("expected a non-negative integer")
    return value


def as_bytes(value: Any, *, length: int | None = None, max_len: int = 64 << 20) -> bytes:
    """``value`` if it is bytes (of ``length`` when given); ``ValueError`` otherwise."""
    if type(value) is not bytes:
        raise ValueError("expected bytes")
    if length is not None and len(value) != length:
        raise ValueError(f"expected {length} bytes")
    if len(value) > max_len:
        raise ValueError("bytes too long")
    return value


def as_list(value: Any, *, length: int | None = None, max_len: int = 1 << 20) -> list[Any]:
    """``value`` if it is a list (of ``length`` when given); ``ValueError`` otherwise."""
    if type(value) is not list:
        raise ValueError("expected a list")
    if length is not None and len(value) != length:
        raise ValueError(f"expected a list of {length}")
    if len(value) > max_len:
        raise ValueError("list too long")
    return value
