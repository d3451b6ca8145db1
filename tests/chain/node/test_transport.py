"""Peer transport on loopback: framing, mutual authentication, refusal, reconnect."""

from __future__ import annotations

import asyncio

import msgpack
import pytest

from finchain.chain.net import (
    Credentials,
    FrameError,
    HandshakeError,
    PeerAddress,
    PeerIdentity,
    PeerNetwork,
    encode_frame,
    read_frame,
)
from finchain.crypto import get_suite

SUITE = get_suite("gm")


class ToyCA:
    """A root key that signs name+key pairs: enough to exercise the handshake's checks."""

    def __init__(self) -> None:
        self.key = SUITE.generate_key()

    def issue(self, name: str) -> Credentials:
        node_key = SUITE.generate_key()
        body = msgpack.packb([name, node_key.public_key().to_bytes()])
        cert = msgpack.packb([body, SUITE.sign(self.key, body)])
        return Credentials(name=name, certificate=cert, key=node_key, suite=SUITE)

    def verifier(self):  # type: ignore[no-untyped-def]
        root = self.key.public_key()

        def verify(cert: bytes, now_ms: int) -> PeerIdentity:
            body, sig = msgpack.unpackb(cert)
            if not SUITE.is_valid(root, body, sig):
                raise HandshakeError("certificate not issued by the consortium CA")
            name, pub = msgpack.unpackb(body)
            return PeerIdentity(name, "org", "validator", SUITE.load_public_key(pub))

        return verify


async def _wait(cond, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)


def test_frame_limits() -> None:
    async def go() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(encode_frame(b"abc") + encode_frame(b"x" * 100))
        assert await read_frame(reader) == b"abc"
        with pytest.raises(FrameError):
            await read_frame(reader, max_size=10)

    asyncio.run(go())
    with pytest.raises(FrameError):
        encode_frame(b"x" * 11, max_size=10)


def test_two_members_talk_and_outsider_is_refused() -> None:
    async def go() -> None:
        ca = ToyCA()
        got: dict[str, list[tuple[str, bytes]]] = {"a": [], "b": []}
        a = PeerNetwork(
            host="127.0.0.1",
            port=0,
            credentials=ca.issue("a"),
            verifier=ca.verifier(),
            chain_id="c1",
            dial={},
            on_message=lambda p, d: got["a"].append((p, d)),
        )
        await a.start()
        b = PeerNetwork(
            host="127.0.0.1",
            port=0,
            credentials=ca.issue("b"),
            verifier=ca.verifier(),
            chain_id="c1",
            dial={"a": PeerAddress("127.0.0.1", a.port)},
            on_message=lambda p, d: got["b"].append((p, d)),
        )
        await b.start()
        try:
            await _wait(lambda: a.connected() == ["b"] and b.connected() == ["a"])
            b.send("a", b"ping")
            await _wait(lambda: got["a"] == [("b", b"ping")])
            a.send("b", b"pong")  # goes back over the connection b dialled
            await _wait(lambda: got["b"] == [("a", b"pong")])

            # an outsider with a certificate from another CA is refused and logged
            rogue_ca = ToyCA()
            rogue = PeerNetwork(
                host="127.0.0.1",
                port=0,
                credentials=rogue_ca.issue("b"),
                verifier=rogue_ca.verifier(),
                chain_id="c1",
                dial={"a": PeerAddress("127.0.0.1", a.port)},
                on_message=lambda p, d: None,
            )
            await rogue.start()
            await _wait(lambda: a.refused >= 1)
            assert rogue.connected() == []
            await rogue.stop()

            # a member that steals b's certificate but lacks b's key fails the challenge
            stolen = Credentials("b", b.credentials.certificate, SUITE.generate_key(), SUITE)
            thief = PeerNetwork(
                host="127.0.0.1",
                port=0,
                credentials=stolen,
                verifier=ca.verifier(),
                chain_id="c1",
                dial={"a": PeerAddress("127.0.0.1", a.port)},
                on_message=lambda p, d: None,
            )
            refused = a.refused
            await thief.start()
            await _wait(lambda: a.refused > refused)
            await thief.stop()
            # a raw TCP client that speaks garbage is refused too
            _reader, writer = await asyncio.open_connection("127.0.0.1", a.port)
            refused = a.refused
            writer.write(encode_frame(b"\xc1garbage"))
            await writer.drain()
            await _wait(lambda: a.refused > refused)
            writer.close()
        finally:
            await b.stop()
            await a.stop()

    asyncio.run(go())


def test_reconnects_after_peer_restart() -> None:
    async def go() -> None:
        ca = ToyCA()
        got: list[bytes] = []
        cred_a = ca.issue("a")
        a = PeerNetwork(
            host="127.0.0.1",
            port=0,
            credentials=cred_a,
            verifier=ca.verifier(),
            chain_id="c",
            dial={},
            on_message=lambda p, d: got.append(d),
        )
        await a.start()
        port = a.port
        b = PeerNetwork(
            host="127.0.0.1",
            port=0,
            credentials=ca.issue("b"),
            verifier=ca.verifier(),
            chain_id="c",
            dial={"a": PeerAddress("127.0.0.1", port)},
            on_message=lambda p, d: None,
            backoff_max_s=0.2,
        )
        await b.start()
        try:
            await _wait(lambda: b.connected() == ["a"])
            await a.stop()
            await _wait(lambda: b.connected() == [])
            b.send("a", b"queued while down")
            a = PeerNetwork(
                host="127.0.0.1",
                port=port,
                credentials=cred_a,
                verifier=ca.verifier(),
                chain_id="c",
                dial={},
                on_message=lambda p, d: got.append(d),
            )
            await a.start()
            await _wait(lambda: b"queued while down" in got)
        finally:
            await b.stop()
            await a.stop()

    asyncio.run(go())
