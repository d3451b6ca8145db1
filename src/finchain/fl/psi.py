"""Private set intersection by commutative ECDH on P-256 (Meadows 1986; Huberman et al. 1999).

Each party has a secret scalar (``a`` for the host, ``b`` for the guest). Ids are hashed to the
curve, ``H(id)``, and raised to the secret: ``b·(a·H(id)) = a·(b·H(id))``, so doubly-blinded
values match exactly when the ids match, and a single-blinded value reveals nothing about an
id the other side does not hold (decisional Diffie–Hellman).

Only x-coordinates travel: ``x(k·P) = x(k·(−P))``, so x-only scalar multiplication commutes
too, and OpenSSL's ECDH ("exchange") does it fast through ``cryptography``.

Hash to curve (try-and-increment): ``x = SHA-256("finchain-psi-v1" ‖ counter ‖ id) mod p``
for counter = 0, 1, … until ``x³ − 3x + b`` is a square mod ``p``; the point is the one with that
x. This is not the constant-time RFC 9380 map, but the time it leaks depends only on the id's
own hash, which an observer of the protocol does not see. Roughly half of the x values succeed,
so two hashes are needed on average.

Protocol (the guest learns the intersection and tells the host which of its rows are in it)::

    guest → host : x(b·H(g))  for the guest's ids
    host  → guest: x(a·b·H(g)) in the same order, and x(a·H(h)) for the host's ids (shuffled)
    guest        : x(b·a·H(h)); the guest ids whose double value appears are the intersection
    guest → host : the positions (in the host's shuffled list) that matched

>>> a, b = PsiKey(), PsiKey()
>>> left, right = ["1", "2", "3", "x"], ["3", "4", "1"]
>>> hb = [b.blind_id(i) for i in left]
>>> ha = [a.blind_id(i) for i in right]
>>> dbl_left = {a.blind(v) for v in hb}
>>> sorted(i for i, v in zip(right, ha) if b.blind(v) in dbl_left)
['1', '3']
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import Any

import gmpy2
from cryptography.hazmat.primitives.asymmetric import ec

from finchain.fl.transport.base import Channel

_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
_DST = b"finchain-psi-v1"


def hash_to_x(identifier: str) -> bytes:
    """The 32-byte x-coordinate of ``H(identifier)`` on P-256 (try-and-increment)."""
    raw = identifier.encode()
    for counter in range(256):
        digest = hashlib.sha256(_DST + counter.to_bytes(1, "big") + raw).digest()
        x = int.from_bytes(digest, "big") % _P
        rhs = (x * x * x - 3 * x + _B) % _P
        if gmpy2.legendre(rhs, _P) == 1:
            return x.to_bytes(32, "big")
    raise ValueError("hash to curve failed")  # probability 2^-256


class PsiKey:
    """One party's secret ECDH scalar."""

    def __init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())

    def blind(self, x: bytes) -> bytes:
        """``x(k·P)`` for the point ``P`` with x-coordinate ``x``."""
        point = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x02" + x)
        return self._key.exchange(ec.ECDH(), point)

    def blind_id(self, identifier: str) -> bytes:
        """``x(k·H(id))``."""
        return self.blind(hash_to_x(identifier))


def psi_guest(channel: Channel, host: str, ids: Sequence[str]) -> list[str]:
    """The guest's side: returns the intersection in the guest's order."""
    key = PsiKey()
    channel.send(host, "psi/guest", {"blinded": [key.blind_id(i) for i in ids]})
    reply = channel.recv(host, "psi/host")
    double_guest = reply["double"]
    host_double = {key.blind(v): pos for pos, v in enumerate(reply["host"])}
    inter: list[str] = []
    matched: list[int] = []
    for i, d in zip(ids, double_guest, strict=True):
        pos = host_double.get(d)
        if pos is not None:
            inter.append(i)
            matched.append(pos)
    channel.send(host, "psi/result", {"positions": matched})
    return inter


def psi_host(channel: Channel, guest: str, ids: Sequence[str]) -> list[str]:
    """The host's side: returns the intersection (order as the guest sees it)."""
    key = PsiKey()
    order = list(range(len(ids)))
    random.SystemRandom().shuffle(order)
    msg = channel.recv(guest, "psi/guest")
    payload: dict[str, Any] = {
        "double": [key.blind(v) for v in msg["blinded"]],
        "host": [key.blind_id(ids[i]) for i in order],
    }
    channel.send(guest, "psi/host", payload)
    res = channel.recv(guest, "psi/result")
    return [ids[order[p]] for p in res["positions"]]
