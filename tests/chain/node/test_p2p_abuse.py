"""The peer port under bad input: garbage, cut frames, certificate-less or garbled HELLOs are
refused without disturbing real members, and a dialler keeps retrying whatever a squatter on
a peer's address answers."""

from __future__ import annotations

import asyncio
import os
import struct

import msgpack
import pytest

from finchain.chain.net import (
    Credentials,
    HandshakeError,
    PeerAddress,
    PeerIdentity,
    PeerNetwork,
    encode_frame,
)
from finchain.chain.net.identity import decode_bundle
from finchain.crypto import get_suite

SUITE = get_suite("gm")


@pytest.mark.parametrize("item", [2**62, 2**40, 5, -1, "text", [b"x"], None])
def test_bundle_items_must_be_bytes(item: object) -> None:
    # bytes(2**62) would be an allocation of 2**62 bytes (MemoryError, or worse, success)
    with pytest.raises(HandshakeError, match="malformed certificate bundle"):
        decode_bundle(msgpack.packb([item]))


class _CA:
    def __init__(self) -> None:
        self.key = SUITE.generate_key()

    def issue(self, name: str) -> Credentials:
        node_key = SUITE.generate_key()
        body = msgpack.packb([name, node_key.public_key().to_bytes()])
        cert = msgpack.packb([body, SUITE.sign(self.key, body)])
        return Credentials(name=name, certificate=cert, key=node_key, suite=SUITE)

    def verify(self, cert: bytes, now_ms: int) -> PeerIdentity:
        try:
            body, sig = msgpack.unpackb(cert)
            name, pub = msgpack.unpackb(body)
        except Exception as exc:
            raise HandshakeError(f"garbled certificate ({exc})") from None
        if not SUITE.is_valid(self.key.public_key(), body, sig):
            raise HandshakeError("certificate not issued by the consortium CA")
        return PeerIdentity(name, "org", "validator", SUITE.load_public_key(pub))


async def _wait(cond, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)


def _hello(cert: object, chain: str = "c") -> bytes:
    return encode_frame(
        msgpack.packb({"v": 1, "chain": chain, "cert": cert, "nonce": os.urandom(32)})
    )


def test_inbound_garbage_refused_and_members_still_connect() -> None:
    async def go() -> None:
        ca = _CA()
        got: list[bytes] = []
        a = PeerNetwork(
            host="127.0.0.1",
            port=0,
            credentials=ca.issue("a"),
            verifier=ca.verify,
            chain_id="c",
            dial={},
            on_message=lambda p, d: got.append(d),
            handshake_timeout_s=1.0,
        )
        await a.start()
        outsider = _CA().issue("mallory")
        attacks = [
            os.urandom(300),
            struct.pack(">I", 2**31) + b"x" * 8,  # announced frame far over the limit
            struct.pack(">I", 1000) + b"x" * 10,  # cut short, then closed
            encode_frame(msgpack.packb([1, 2, 3])),
            _hello(None),  # no certificate at all
            _hello(b"garbage"),
            _hello(outsider.certificate),  # certificate from another CA
            _hello(ca.issue("x").certificate, chain="other"),
        ]
        try:

            async def attack(payload: bytes) -> bytes:
                reader, writer = await asyncio.open_connection("127.0.0.1", a.port)
                writer.write(payload)
                await writer.drain()
                if payload.startswith(struct.pack(">I", 1000)):
                    writer.close()
                data = await reader.read()  # until the node closes the connection
                writer.close()
                return data

            # a bounded flood: every attack 5 times, all at once
            await asyncio.wait_for(asyncio.gather(*(attack(p) for p in attacks * 5)), 30)
            await _wait(lambda: a.refused >= len(attacks) * 5)
            assert a.connected() == []
            b = PeerNetwork(
                host="127.0.0.1",
                port=0,
                credentials=ca.issue("b"),
                verifier=ca.verify,
                chain_id="c",
                dial={"a": PeerAddress("127.0.0.1", a.port)},
                on_message=lambda p, d: None,
            )
            await b.start()
            try:
                await _wait(lambda: b.connected() == ["a"])
                b.send("a", b"member message")
                await _wait(lambda: b"member message" in got)
            finally:
                await b.stop()
        finally:
            await a.stop()

    asyncio.run(go())


def test_dialler_keeps_retrying_after_an_unexpected_verifier_error() -> None:
    async def go() -> None:
        ca = _CA()
        connections = 0

        async def squatter(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal connections
            connections += 1
            writer.write(_hello(b"whatever"))
            await writer.drain()
            await reader.read()
            writer.close()

        server = await asyncio.start_server(squatter, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]

        def broken_verifier(cert: bytes, now_ms: int) -> PeerIdentity:
            raise RuntimeError("verifier bug")

        b = PeerNetwork(
            host="127.0.0.1",
            port=0,
            credentials=ca.issue("b"),
            verifier=broken_verifier,
            chain_id="c",
            dial={"a": PeerAddress("127.0.0.1", port)},
            on_message=lambda p, d: None,
            backoff_min_s=0.01,
            backoff_max_s=0.05,
        )
        await b.start()
        try:
            # the dial loop must survive the first failure and come back
            await _wait(lambda: connections >= 3)
        finally:
            await b.stop()
            server.close()

    asyncio.run(go())
