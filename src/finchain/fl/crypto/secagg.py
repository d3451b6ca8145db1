"""Secure aggregation with pairwise masks and drop-out recovery (Bonawitz et al., CCS 2017).

Each client ``i`` holds an X25519 key pair ``(s_i, S_i)`` and a random self-mask seed ``b_i``.
For every other client ``j`` the pair agrees on ``k_ij = HKDF(X25519(s_i, S_j))``; client ``i``
sends

    y_i = x_i + PRG(b_i) + Σ_{j>i} PRG(k_ij) − Σ_{j<i} PRG(k_ij)      (mod 2^64)

so the pairwise masks cancel in ``Σ y_i``. Before sending ``y_i`` each client Shamir-shares
``s_i`` and ``b_i`` among all clients (threshold ``t``). When the server has the survivors'
``y``, survivors reveal their shares of ``b_j`` for every *survivor* ``j`` and of ``s_d`` for every
*dropped* ``d``: the server removes the self-masks and re-derives the dropped clients' pairwise
masks. The server learns only the sum of the survivors' inputs (semi-honest model, a single
recovery round; a client is never asked for both kinds of share of the same peer).

Inputs are ring vectors (``uint64``) — use :func:`finchain.fl.crypto.sharing.encode`.

The classes are sans-I/O: they produce and consume the messages, a protocol moves them.

>>> import numpy as np
>>> clients = [SecAggClient(i, [1, 2, 3], threshold=2, context=b"t") for i in (1, 2, 3)]
>>> keys = {c.index: c.public_key() for c in clients}
>>> shares = {c.index: c.make_shares() for c in clients}
>>> for c in clients:
...     c.receive_shares({j: shares[j][c.index] for j in shares})
>>> xs = {i: np.array(v, np.uint64) for i, v in {1: [1, 2], 2: [10, 20], 3: [5, 5]}.items()}
>>> ys = {c.index: c.masked_input(xs[c.index], keys) for c in clients if c.index != 3}
>>> server = SecAggServer([1, 2, 3], threshold=2, context=b"t", length=2)
>>> reveal = {c.index: c.reveal(survivors=[1, 2], dropped=[3]) for c in clients if c.index != 3}
>>> server.aggregate(ys, keys, reveal).tolist()
[11, 22]
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from finchain.fl.crypto import shamir
from finchain.fl.errors import ProtocolError


def prg(seed: bytes, length: int) -> np.ndarray:
    """A ``uint64`` mask stream from a 32-byte seed (PCG64 seeded by SHA-256 of the seed)."""
    digest = int.from_bytes(hashlib.sha256(b"finchain.secagg.prg" + seed).digest(), "big")
    return np.random.Generator(np.random.PCG64(digest)).integers(
        0, 2**64, size=length, dtype=np.uint64
    )


def _agree(private: X25519PrivateKey, public: bytes, context: bytes) -> bytes:
    shared = private.exchange(X25519PublicKey.from_public_bytes(public))
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"secagg:" + context).derive(
        shared
    )


def _priv_bytes(key: X25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


@dataclass(frozen=True)
class SeedShares:
    """What client ``i`` gives client ``j``: ``j``'s shares of ``s_i`` and ``b_i``."""

    key_share: int
    self_share: int


class SecAggClient:
    """One client's side of the protocol for one aggregation."""

    def __init__(
        self, index: int, members: Sequence[int], *, threshold: int, context: bytes
    ) -> None:
        if index not in members:
            raise ValueError("a client must be one of the members")
        self.index = index
        self.members = sorted(members)
        self.threshold = threshold
        self.context = context
        self._key = X25519PrivateKey.generate()
        self._self_seed = secrets.token_bytes(32)
        self._held: dict[int, SeedShares] = {}

    def public_key(self) -> bytes:
        """``S_i``, broadcast to everyone (server included)."""
        return self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def make_shares(self) -> dict[int, SeedShares]:
        """Shamir shares of ``s_i`` and ``b_i`` for every member (``self`` included)."""
        key_int = int.from_bytes(_priv_bytes(self._key), "big")
        self_int = int.from_bytes(self._self_seed, "big")
        ks = shamir.split(key_int, threshold=self.threshold, holders=self.members)
        bs = shamir.split(self_int, threshold=self.threshold, holders=self.members)
        return {j: SeedShares(ks[j], bs[j]) for j in self.members}

    def receive_shares(self, shares: Mapping[int, SeedShares]) -> None:
        """Keep the shares other clients made for us, keyed by their owner."""
        self._held.update(shares)

    def masked_input(self, x: np.ndarray, public_keys: Mapping[int, bytes]) -> np.ndarray:
        """``y_i`` for the ring vector ``x``."""
        x = np.asarray(x, dtype=np.uint64)
        y = x + prg(self._self_seed, len(x))
        for j in self.members:
            if j == self.index:
                continue
            mask = prg(_agree(self._key, public_keys[j], self.context), len(x))
            if j > self.index:
                y = y + mask
            else:
                y = y - mask
        return y

    def reveal(
        self, *, survivors: Sequence[int], dropped: Sequence[int]
    ) -> dict[str, dict[int, int]]:
        """Shares of ``b_j`` for survivors and of ``s_d`` for dropped clients (never both)."""
        if set(survivors) & set(dropped):
            raise ProtocolError("a client cannot be both a survivor and dropped")
        return {
            "self": {j: self._held[j].self_share for j in survivors if j in self._held},
            "key": {d: self._held[d].key_share for d in dropped if d in self._held},
        }


class SecAggServer:
    """The aggregator: removes masks and returns the survivors' sum."""

    def __init__(
        self, members: Sequence[int], *, threshold: int, context: bytes, length: int
    ) -> None:
        self.members = sorted(members)
        self.threshold = threshold
        self.context = context
        self.length = length

    def aggregate(
        self,
        masked: Mapping[int, np.ndarray],
        public_keys: Mapping[int, bytes],
        reveals: Mapping[int, Mapping[str, Mapping[int, int]]],
    ) -> np.ndarray:
        """Sum of the survivors' ``x`` given their ``y`` and the revealed shares."""
        survivors = sorted(masked)
        dropped = [m for m in self.members if m not in masked]
        if len(survivors) < self.threshold:
            raise ProtocolError(
                f"only {len(survivors)} clients survived, below the threshold {self.threshold}"
            )
        total = np.zeros(self.length, dtype=np.uint64)
        for y in masked.values():
            total = total + np.asarray(y, dtype=np.uint64)
        for j in survivors:
            pts = {h: r["self"][j] for h, r in reveals.items() if j in r.get("self", {})}
            if len(pts) < self.threshold:
                raise ProtocolError(f"not enough shares to remove client {j}'s self-mask")
            seed = shamir.combine(pts).to_bytes(32, "big")
            total = total - prg(seed, self.length)
        for d in dropped:
            pts = {h: r["key"][d] for h, r in reveals.items() if d in r.get("key", {})}
            if len(pts) < self.threshold:
                raise ProtocolError(f"not enough shares to recover dropped client {d}")
            key = X25519PrivateKey.from_private_bytes(shamir.combine(pts).to_bytes(32, "big"))
            for j in survivors:
                mask = prg(_agree(key, public_keys[j], self.context), self.length)
                # client j added +mask if d > j, −mask if d < j: undo it
                if d > j:
                    total = total - mask
                else:
                    total = total + mask
        return total
