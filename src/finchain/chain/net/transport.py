"""The peer network of one node: a listener, dialers with back-off, bounded per-peer queues.

Connections are symmetric once authenticated: a message to a peer leaves on the outbound
connection this node dialled when it is up, otherwise on the newest inbound one the peer dialled.
Every peer has one bounded send queue; when it is full the oldest frame is dropped and counted
(consensus tolerates loss and retransmits by timeouts; batches missing at execution are fetched
again), so a slow peer can never make this node's memory grow without bound.

Example (two nodes on loopback)::

    net = PeerNetwork(host="127.0.0.1", port=0, credentials=creds, verifier=verify,
                      chain_id="demo", dial={"v2": PeerAddress("127.0.0.1", 7002)},
                      on_message=lambda peer, data: ...)
    await net.start()
    net.send("v2", b"hello")
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from finchain.chain.net.frame import DEFAULT_MAX_FRAME, FrameError, encode_frame, read_frame
from finchain.chain.net.handshake import (
    Credentials,
    HandshakeError,
    PeerIdentity,
    PeerVerifier,
    authenticate,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PeerAddress:
    """Where a peer listens."""

    host: str
    port: int


@dataclass(eq=False)
class _Conn:
    identity: PeerIdentity
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    outbound: bool
    closed: bool = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(Exception):
                self.writer.close()


@dataclass(eq=False)
class _Peer:
    name: str
    queue: collections.deque[bytes]
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    conns: list[_Conn] = field(default_factory=list)
    dropped: int = 0
    sender: asyncio.Task[None] | None = None

    def best(self) -> _Conn | None:
        live = [c for c in self.conns if not c.closed]
        for conn in live:
            if conn.outbound:
                return conn
        return live[-1] if live else None


class PeerNetwork:
    """All of one node's authenticated peer connections."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        credentials: Credentials,
        verifier: PeerVerifier,
        chain_id: str,
        dial: dict[str, PeerAddress],
        on_message: Callable[[str, bytes], None],
        on_peer_change: Callable[[str, bool], None] | None = None,
        max_frame: int = DEFAULT_MAX_FRAME,
        queue_limit: int = 4096,
        handshake_timeout_s: float = 5.0,
        backoff_min_s: float = 0.05,
        backoff_max_s: float = 3.0,
    ) -> None:
        self.host = host
        self.port = port
        self.credentials = credentials
        self.verifier = verifier
        self.chain_id = chain_id
        self.dial = dict(dial)
        self.on_message = on_message
        self.on_peer_change = on_peer_change
        self.max_frame = max_frame
        self.queue_limit = queue_limit
        self.handshake_timeout_s = handshake_timeout_s
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.refused = 0
        self._peers: dict[str, _Peer] = {}
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Listen and start dialling every configured peer."""
        self._server = await asyncio.start_server(self._on_inbound, self.host, self.port)
        sock = self._server.sockets[0]
        self.port = int(sock.getsockname()[1])
        for name, addr in self.dial.items():
            self._spawn(self._dial_loop(name, addr))
        log.info("peer transport listening", extra={"host": self.host, "port": self.port})

    async def stop(self) -> None:
        """Close the listener and every connection."""
        self._stopping = True
        if self._server is not None:
            self._server.close()
        for peer in self._peers.values():
            for conn in peer.conns:
                conn.close()
            peer.wake.set()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    # -- sending ---------------------------------------------------------------------------
    def send(self, name: str, payload: bytes) -> None:
        """Queue ``payload`` for peer ``name`` (known or expected); oldest dropped when full."""
        peer = self._peer(name)
        if len(peer.queue) >= self.queue_limit:
            peer.queue.popleft()
            peer.dropped += 1
        peer.queue.append(payload)
        peer.wake.set()

    def broadcast(self, payload: bytes, names: list[str] | None = None) -> None:
        """Queue ``payload`` for each of ``names`` (default: every connected peer)."""
        for name in names if names is not None else self.connected():
            self.send(name, payload)

    def connected(self) -> list[str]:
        """Names of peers with at least one live authenticated connection."""
        return sorted(n for n, p in self._peers.items() if p.best() is not None)

    def identity(self, name: str) -> PeerIdentity | None:
        """The certified identity of a connected peer."""
        peer = self._peers.get(name)
        conn = peer.best() if peer else None
        return conn.identity if conn else None

    def dropped(self) -> int:
        """Frames dropped because a peer's queue was full."""
        return sum(p.dropped for p in self._peers.values())

    # -- internals -------------------------------------------------------------------------
    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _peer(self, name: str) -> _Peer:
        peer = self._peers.get(name)
        if peer is None:
            peer = _Peer(name=name, queue=collections.deque())
            self._peers[name] = peer
            task = asyncio.ensure_future(self._send_loop(peer))
            peer.sender = task
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return peer

    async def _handshake(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, label: str
    ) -> PeerIdentity:
        return await authenticate(
            reader,
            writer,
            credentials=self.credentials,
            verifier=self.verifier,
            chain_id=self.chain_id,
            now_ms=int(time.time() * 1000),
            timeout_s=self.handshake_timeout_s,
            peer_label=label,
        )

    async def _on_inbound(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        addr = writer.get_extra_info("peername")
        label = f"{addr[0]}:{addr[1]}" if addr else "?"
        try:
            identity = await self._handshake(reader, writer, label)
        except HandshakeError as exc:
            self.refused += 1
            log.warning(
                "refused peer", extra={"peer": exc.peer, "addr": label, "reason": exc.reason}
            )
            writer.close()
            return
        except Exception as exc:  # any other failure: treat as a refusal
            self.refused += 1
            log.warning("refused peer", extra={"addr": label, "reason": repr(exc)})
            writer.close()
            return
        await self._serve(_Conn(identity, reader, writer, outbound=False))

    async def _dial_loop(self, name: str, addr: PeerAddress) -> None:
        backoff = self.backoff_min_s
        while not self._stopping:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(addr.host, addr.port), self.handshake_timeout_s
                )
            except (OSError, TimeoutError):
                await asyncio.sleep(backoff * (0.5 + random.random()))
                backoff = min(backoff * 2, self.backoff_max_s)
                continue
            try:
                identity = await self._handshake(reader, writer, name)
                if identity.name != name:
                    raise HandshakeError(f"certificate names {identity.name!r}", peer=name)
            except Exception as exc:  # HandshakeError, or anything a bad answer provokes
                reason = exc.reason if isinstance(exc, HandshakeError) else repr(exc)
                log.warning("dial refused", extra={"peer": name, "reason": reason})
                writer.close()
                await asyncio.sleep(backoff * (0.5 + random.random()))
                backoff = min(backoff * 2, self.backoff_max_s)
                continue
            backoff = self.backoff_min_s
            await self._serve(_Conn(identity, reader, writer, outbound=True))

    async def _serve(self, conn: _Conn) -> None:
        name = conn.identity.name
        peer = self._peer(name)
        was_connected = peer.best() is not None
        peer.conns.append(conn)
        peer.wake.set()
        if not was_connected:
            log.info("peer connected", extra={"peer": name, "outbound": conn.outbound})
            if self.on_peer_change is not None:
                self.on_peer_change(name, True)
        try:
            while not conn.closed:
                data = await read_frame(conn.reader, max_size=self.max_frame)
                try:
                    self.on_message(name, data)
                except Exception:
                    log.exception("message handler failed", extra={"peer": name})
        except (asyncio.IncompleteReadError, ConnectionError, FrameError, OSError) as exc:
            if not self._stopping:
                log.info("peer connection lost", extra={"peer": name, "reason": repr(exc)})
        finally:
            conn.close()
            with contextlib.suppress(ValueError):
                peer.conns.remove(conn)
            if peer.best() is None and self.on_peer_change is not None and not self._stopping:
                self.on_peer_change(name, False)

    async def _send_loop(self, peer: _Peer) -> None:
        while not self._stopping:
            conn = peer.best()
            if conn is None or not peer.queue:
                peer.wake.clear()
                await peer.wake.wait()
                continue
            chunk: list[bytes] = []
            while peer.queue and len(chunk) < 256:
                chunk.append(peer.queue.popleft())
            try:
                conn.writer.write(b"".join(encode_frame(p, max_size=self.max_frame) for p in chunk))
                await asyncio.wait_for(conn.writer.drain(), 10.0)
            except FrameError:
                log.error("dropping oversized frame", extra={"peer": peer.name})
            except (ConnectionError, OSError, TimeoutError):
                conn.close()
                # put them back: they go out on the next connection
                peer.queue.extendleft(reversed(chunk))
