"""Authenticated peer transport on asyncio.

Only certified members of the consortium connect: each side of a TCP connection presents its
member certificate and signs a fresh challenge chosen by the other side with its node key
(:mod:`finchain.chain.net.handshake`). Frames are length-prefixed with a maximum size
(:mod:`finchain.chain.net.frame`); :class:`PeerNetwork` keeps one bounded send queue per peer,
redials lost peers with exponential back-off and applies timeouts to every blocking step.

TLS is not used: Python's :mod:`ssl` cannot do SM2 certificates, so authentication happens at the
application level. Frames are not encrypted (loopback and private links are assumed; put a
WireGuard/IPsec tunnel between hosts that talk over untrusted networks).
"""

from finchain.chain.net.frame import DEFAULT_MAX_FRAME, FrameError, encode_frame, read_frame
from finchain.chain.net.handshake import Credentials, HandshakeError, PeerIdentity, PeerVerifier
from finchain.chain.net.transport import PeerAddress, PeerNetwork

__all__ = [
    "DEFAULT_MAX_FRAME",
    "Credentials",
    "FrameError",
    "HandshakeError",
    "PeerAddress",
    "PeerIdentity",
    "PeerNetwork",
    "PeerVerifier",
    "encode_frame",
    "read_frame",
]
