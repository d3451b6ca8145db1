"""A fault-injecting TCP proxy: one listener per directed link, driven in-process or by socket.

Each :class:`LinkProxy` listens on ``127.0.0.1`` and forwards every accepted connection to one
target address. While forwarding it can

* **cut** the link: close every open connection and close new ones at once (a partition);
* **delay** every frame by ``delay_ms`` plus a uniform ``jitter_ms`` (order is kept, as TCP would);
* **drop** whole frames with probability ``drop`` (the node protocol's 4-byte length-prefixed
  frames; the first two frames each way — the handshake — always pass) or, with ``reset``,
  close the connection at that probability per frame instead;
* **corrupt** frames with probability ``corrupt`` (one byte flipped: a forging network, which BFT
  algorithms must refuse and crash-fault ones are not built for);
* **heal**: back to a clean pipe.

A :class:`ProxyHub` runs many proxies on one event loop in a background thread so a synchronous
scenario runner can steer them; :meth:`ProxyHub.serve_control` adds a JSON-lines control socket
(``{"op": "cut", "link": "a>b"}`` → ``{"ok": true}``) for steering from another process.

>>> hub = ProxyHub()
>>> hub.start()
>>> p = hub.add("a>b", ("127.0.0.1", 9))   # forwards to the discard port (nobody listens)
>>> p.port > 0
True
>>> hub.cut("a>b"); hub.state("a>b")["cut"]
True
>>> hub.heal(); hub.state("a>b")["cut"]
False
>>> hub.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import struct
import threading
import time
from collections.abc import Coroutine
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from finchain.chain.errors import ChainError

_T = TypeVar("_T")
_HEADER = struct.Struct(">I")
#: frames per direction that always pass (the node handshake is HELLO then AUTH)
HANDSHAKE_FRAMES = 2
_MAX_FRAME = 64 * 1024 * 1024


class FaultError(ChainError):
    """A fault scenario or proxy command is malformed or cannot be carried out."""


@dataclass(slots=True)
class LinkFaults:
    """What a link currently does to traffic (all zero/false: a clean pipe)."""

    cut: bool = False
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    drop: float = 0.0
    reset: bool = False
    corrupt: float = 0.0

    def clean(self) -> bool:
        return (
            not self.cut
            and self.delay_ms == 0
            and self.jitter_ms == 0
            and self.drop == 0
            and self.corrupt == 0
        )


class LinkProxy:
    """One listening port that forwards to ``target`` through the current :class:`LinkFaults`."""

    def __init__(self, name: str, target: tuple[str, int], *, seed: int = 0) -> None:
        self.name = name
        self.target = target
        self.faults = LinkFaults()
        self.port = 0
        self.connections = 0
        self.frames = 0
        self.dropped = 0
        self.resets = 0
        self.corrupted = 0
        self._rng = random.Random(f"{seed}/{name}")
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, port: int = 0) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self._close_all()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    def set(self, **changes: Any) -> None:
        """Change faults (``cut``, ``delay_ms``, ``jitter_ms``, ``drop``, ``reset``)."""
        for key, value in changes.items():
            if not hasattr(self.faults, key):
                raise FaultError(f"unknown link fault {key!r}")
            setattr(self.faults, key, type(getattr(self.faults, key))(value))
        for key in ("drop", "corrupt"):
            p = getattr(self.faults, key)
            if not 0.0 <= p <= 1.0:
                raise FaultError(f"{key} probability {p} is not within [0, 1]")
        if self.faults.cut:
            self._close_all()

    def heal(self) -> None:
        self.faults = LinkFaults()

    def state(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "port": self.port,
            "target": list(self.target),
            **asdict(self.faults),
            "connections": self.connections,
            "frames": self.frames,
            "dropped": self.dropped,
            "resets": self.resets,
            "corrupted": self.corrupted,
        }

    def _close_all(self) -> None:
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.faults.cut:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(*self.target), 5)
        except (OSError, TimeoutError):
            writer.transport.abort()
            return
        if self.faults.cut:  # cut while connecting
            writer.transport.abort()
            up_writer.transport.abort()
            return
        self.connections += 1
        self._writers.update((writer, up_writer))
        pair = (writer, up_writer)
        self._spawn(self._pump(reader, up_writer, pair))
        self._spawn(self._pump(up_reader, writer, pair))

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
    ) -> None:
        """Copy frames one way, applying the link's faults frame by frame."""
        release = 0.0
        seen = 0
        try:
            while True:
                header = await reader.readexactly(_HEADER.size)
                (length,) = _HEADER.unpack(header)
                if length > _MAX_FRAME:
                    break
                body = await reader.readexactly(length)
                seen += 1
                self.frames += 1
                f = self.faults
                if f.cut:
                    break
                if seen > HANDSHAKE_FRAMES and f.drop > 0 and self._rng.random() < f.drop:
                    if f.reset:
                        self.resets += 1
                        break
                    self.dropped += 1
                    continue
                corrupt = seen > HANDSHAKE_FRAMES and f.corrupt > 0 and body
                if corrupt and self._rng.random() < f.corrupt:
                    self.corrupted += 1
                    i = self._rng.randrange(len(body))
                    body = body[:i] + bytes([body[i] ^ 0x5A]) + body[i + 1 :]
                if f.delay_ms > 0 or f.jitter_ms > 0:
                    now = time.monotonic()
                    wait = (f.delay_ms + self._rng.uniform(0, f.jitter_ms)) / 1000.0
                    release = max(release, now + wait)
                    await asyncio.sleep(release - now)
                    if self.faults.cut:
                        break
                writer.write(header + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            for w in pair:
                self._writers.discard(w)
                w.transport.abort()


class ProxyHub:
    """Many :class:`LinkProxy` objects on one event loop in a daemon thread."""

    def __init__(self, *, seed: int = 0) -> None:
        self.seed = seed
        self.proxies: dict[str, LinkProxy] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._control: asyncio.Server | None = None

    def start(self) -> None:
        self._thread.start()

    def _run(self, coro: Coroutine[Any, Any, _T], timeout: float = 10.0) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        async def go() -> Any:
            return fn(*args, **kwargs)

        return self._run(go())

    def add(self, name: str, target: tuple[str, int], *, port: int = 0) -> LinkProxy:
        """Listen for link ``name`` (forwarding to ``target``); the proxy (``.port`` is set)."""
        if name in self.proxies:
            raise FaultError(f"link {name!r} already has a proxy")
        proxy = LinkProxy(name, target, seed=self.seed)
        self._run(proxy.start(port))
        self.proxies[name] = proxy
        return proxy

    def remove(self, name: str) -> None:
        """Stop and forget link ``name``'s proxy."""
        proxy = self._get(name)
        self._run(proxy.stop())
        del self.proxies[name]

    def _get(self, name: str) -> LinkProxy:
        try:
            return self.proxies[name]
        except KeyError:
            raise FaultError(f"no link {name!r}; known: {sorted(self.proxies)}") from None

    def set(self, name: str, **changes: Any) -> None:
        self._call(self._get(name).set, **changes)

    def cut(self, name: str) -> None:
        self.set(name, cut=True)

    def heal(self, name: str | None = None) -> None:
        """Heal one link, or every link when ``name`` is ``None``."""
        targets = [self._get(name)] if name is not None else list(self.proxies.values())
        for p in targets:
            self._call(p.heal)

    def state(self, name: str) -> dict[str, Any]:
        return self._call(self._get(name).state)  # type: ignore[no-any-return]

    def totals(self) -> dict[str, int]:
        """Connections, frames, dropped frames and resets summed over every link."""
        out = {"connections": 0, "frames": 0, "dropped": 0, "resets": 0, "corrupted": 0}
        for p in self.proxies.values():
            for k in out:
                out[k] += int(getattr(p, k))
        return out

    def serve_control(self, port: int = 0) -> int:
        """A JSON-lines control socket on 127.0.0.1; returns its port.

        Requests: ``{"op": "cut"|"heal"|"set"|"state"|"links", "link": NAME, ...faults}``.
        """

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while line := await reader.readline():
                    writer.write(json.dumps(self._command(line)).encode() + b"\n")
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                writer.close()

        async def go() -> int:
            self._control = await asyncio.start_server(handle, "127.0.0.1", port)
            return int(self._control.sockets[0].getsockname()[1])

        return self._run(go())

    def _command(self, line: bytes) -> dict[str, Any]:
        try:
            req = json.loads(line)
            op = req.pop("op")
            link = req.pop("link", None)
            if op == "links":
                return {"ok": True, "links": sorted(self.proxies)}
            if op == "heal":
                targets = [self._get(link)] if link else list(self.proxies.values())
                for p in targets:
                    p.heal()
                return {"ok": True}
            proxy = self._get(str(link))
            if op == "cut":
                proxy.set(cut=True)
            elif op == "set":
                proxy.set(**req)
            elif op != "state":
                raise FaultError(f"unknown op {op!r}")
            return {"ok": True, "state": proxy.state()}
        except (FaultError, KeyError, TypeError, ValueError) as exc:
            return {"ok": False, "error": str(exc)}

    def stop(self) -> None:
        async def go() -> None:
            if self._control is not None:
                self._control.close()
            for p in self.proxies.values():
                await p.stop()

        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                self._run(go(), timeout=15)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        self._loop.close()
