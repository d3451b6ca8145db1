"""Mutual authentication of two consortium members over a fresh TCP connection.

Both sides run the same four steps (so neither waits on the other to speak first)::

    A -> B  HELLO {v, chain, cert_A, nonce_A}        B -> A  HELLO {v, chain, cert_B, nonce_B}
    A -> B  AUTH  {sig_A(T(A))}                      B -> A  AUTH  {sig_B(T(B))}

    T(X) = "finchain/handshake/v1" | chain | nonce_peer | nonce_X | hash(cert_X)

Each side checks the other's certificate against the consortium trust store (root CA and
revocation list, via a :class:`PeerVerifier`) and the signature over its *own* fresh nonce with the
certificate's public key. A replayed AUTH fails because the nonce is new for every connection; a
stolen certificate without the node key fails the signature. Any failure raises
:class:`HandshakeError` and the connection is closed.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Protocol

import msgpack

from finchain.chain.errors import ChainError
from finchain.chain.net.frame import encode_frame, read_frame
from finchain.crypto import CryptoSuite, PrivateKey, PublicKey

PROTOCOL_VERSION = 1
_DOMAIN = b"finchain/handshake/v1"
_NONCE_LEN = 32
_HANDSHAKE_MAX_FRAME = 64 * 1024


class HandshakeError(ChainError):
    """A peer could not prove it is a certified member of this chain."""

    def __init__(self, message: str, *, peer: str = "?") -> None:
        super().__init__(f"handshake with {peer} refused: {message}")
        self.peer = peer
        self.reason = message


@dataclass(frozen=True, slots=True)
class PeerIdentity:
    """Who is on the other end, as certified by the consortium CA."""

    name: str
    org: str
    role: str
    public_key: PublicKey


class PeerVerifier(Protocol):
    """Checks a presented certificate; returns the certified identity or raises HandshakeError."""

    def __call__(self, certificate: bytes, now_ms: int) -> PeerIdentity: ...


@dataclass(frozen=True, slots=True)
class Credentials:
    """What this node presents: its certificate and the key the certificate names."""

    name: str
    certificate: bytes
    key: PrivateKey
    suite: CryptoSuite


def _transcript(
    suite: CryptoSuite, chain: str, peer_nonce: bytes, own_nonce: bytes, cert: bytes
) -> bytes:
    return b"|".join((_DOMAIN, chain.encode(), peer_nonce, own_nonce, suite.hash(cert)))


async def authenticate(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    credentials: Credentials,
    verifier: PeerVerifier,
    chain_id: str,
    now_ms: int,
    timeout_s: float = 5.0,
    peer_label: str = "?",
) -> PeerIdentity:
    """Run the handshake on an open connection; the peer's identity, or :class:`HandshakeError`."""
    try:
        return await asyncio.wait_for(
            _authenticate(reader, writer, credentials, verifier, chain_id, now_ms, peer_label),
            timeout_s,
        )
    except TimeoutError as exc:
        raise HandshakeError("timed out", peer=peer_label) from exc
    except (asyncio.IncompleteReadError, ConnectionError) as exc:
        raise HandshakeError("connection closed during handshake", peer=peer_label) from exc


async def _authenticate(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    credentials: Credentials,
    verifier: PeerVerifier,
    chain_id: str,
    now_ms: int,
    peer_label: str,
) -> PeerIdentity:
    suite = credentials.suite
    own_nonce = os.urandom(_NONCE_LEN)
    hello = {
        "v": PROTOCOL_VERSION,
        "chain": chain_id,
        "cert": credentials.certificate,
        "nonce": own_nonce,
    }
    writer.write(encode_frame(msgpack.packb(hello), max_size=_HANDSHAKE_MAX_FRAME))
    await writer.drain()
    raw = await read_frame(reader, max_size=_HANDSHAKE_MAX_FRAME)
    try:
        peer_hello = msgpack.unpackb(raw)
        version = peer_hello["v"]
        peer_chain = peer_hello["chain"]
        peer_cert = peer_hello["cert"]
        peer_nonce = peer_hello["nonce"]
    except Exception as exc:
        raise HandshakeError("malformed hello", peer=peer_label) from exc
    if version != PROTOCOL_VERSION:
        raise HandshakeError(
            f"protocol version {version!r} is not {PROTOCOL_VERSION}", peer=peer_label
        )
    if peer_chain != chain_id:
        raise HandshakeError(f"peer is on chain {peer_chain!r}, not {chain_id!r}", peer=peer_label)
    if not isinstance(peer_nonce, bytes) or len(peer_nonce) != _NONCE_LEN:
        raise HandshakeError("bad challenge", peer=peer_label)
    if peer_nonce == own_nonce:
        raise HandshakeError("challenge reflected", peer=peer_label)
    if not isinstance(peer_cert, bytes):
        raise HandshakeError("no certificate", peer=peer_label)
    identity = verifier(peer_cert, now_ms)  # raises HandshakeError

    signature = suite.sign(
        credentials.key,
        _transcript(suite, chain_id, peer_nonce, own_nonce, credentials.certificate),
    )
    writer.write(encode_frame(msgpack.packb({"sig": signature}), max_size=_HANDSHAKE_MAX_FRAME))
    await writer.drain()
    raw = await read_frame(reader, max_size=_HANDSHAKE_MAX_FRAME)
    try:
        peer_sig = msgpack.unpackb(raw)["sig"]
    except Exception as exc:
        raise HandshakeError("malformed auth", peer=identity.name) from exc
    expected = _transcript(suite, chain_id, own_nonce, peer_nonce, peer_cert)
    if not isinstance(peer_sig, bytes) or not suite.is_valid(
        identity.public_key, expected, peer_sig
    ):
        raise HandshakeError(
            "challenge signature does not match the certificate's key", peer=identity.name
        )
    return identity
