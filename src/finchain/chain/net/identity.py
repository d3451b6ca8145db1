"""Consortium identities for the peer handshake, backed by :mod:`finchain.crypto.ca`.

A node presents a *certificate bundle*: its own member certificate (role ``node``) followed by
the organisation CA certificate(s) that issued it, so peers need only the consortium root (and
its revocation lists) to check it. :class:`ConsortiumVerifier` accepts a bundle when the trust
store verifies the chain at the current time and the leaf is a node certificate of this chain's
suite; anything else — a self-made CA, a revoked or expired certificate, a user certificate, a
garbled bundle — raises :class:`~finchain.chain.net.handshake.HandshakeError`.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgpack

from finchain.chain.net.handshake import HandshakeError, PeerIdentity
from finchain.crypto.ca import TrustStore
from finchain.crypto.cert import MemberCertificate
from finchain.crypto.errors import CryptoError


def encode_bundle(cert: MemberCertificate, chain: Sequence[MemberCertificate] = ()) -> bytes:
    """The bytes a node presents in its HELLO."""
    return msgpack.packb([cert.to_bytes(), *(c.to_bytes() for c in chain)], use_bin_type=True)  # type: ignore[no-any-return]


def decode_bundle(data: bytes) -> tuple[MemberCertificate, list[MemberCertificate]]:
    """Inverse of :func:`encode_bundle`; :class:`HandshakeError` when malformed."""
    try:
        items = msgpack.unpackb(data, raw=False)
        if not isinstance(items, list) or not items or len(items) > 5:
            raise ValueError("bad bundle")
        if not all(isinstance(b, bytes) for b in items):
            # bytes(n) of an integer item would allocate n bytes: refuse before that
            raise ValueError("bundle items must be certificate bytes")
        certs = [MemberCertificate.from_bytes(bytes(b)) for b in items]
    except (ValueError, TypeError, CryptoError, msgpack.ExtraData) as exc:
        raise HandshakeError(f"malformed certificate bundle ({exc})") from None
    return certs[0], certs[1:]


class ConsortiumVerifier:
    """Checks peers' certificate bundles against the consortium trust store."""

    def __init__(self, trust: TrustStore, *, suite: str) -> None:
        self.trust = trust
        self.suite = suite

    def __call__(self, certificate: bytes, now_ms: int) -> PeerIdentity:
        leaf, chain = decode_bundle(certificate)
        label = f"{leaf.org}/{leaf.name}"
        try:
            self.trust.verify(leaf, now_ms, chain=chain)
        except CryptoError as exc:
            raise HandshakeError(f"certificate not trusted: {exc}", peer=label) from None
        if leaf.role != "node":
            raise HandshakeError(f"certificate role is {leaf.role!r}, not 'node'", peer=label)
        if leaf.suite != self.suite:
            raise HandshakeError(
                f"certificate suite {leaf.suite!r} is not {self.suite!r}", peer=label
            )
        try:
            key = leaf.load_public_key()
        except CryptoError as exc:
            raise HandshakeError(f"certificate key unusable: {exc}", peer=label) from None
        return PeerIdentity(leaf.name, leaf.org, leaf.node_type, key)
