"""HTTP and WebSocket front of a node, on Starlette served by uvicorn inside the node's loop.

Routes:

* ``POST /`` — JSON-RPC 2.0 (single request or batch);
* ``GET /ws`` — WebSocket: JSON-RPC ``subscribe``/``unsubscribe``, then notifications
  ``{"jsonrpc": "2.0", "method": "subscription", "params": {"subscription": ID, "result": …}}``;
* ``GET /health`` — ``{"ok": true, "height": H}`` once the node serves;
* ``GET /metrics`` — Prometheus text exposition.

Subscription topics: ``newBlocks`` (options ``{"txHashes": true}`` adds the block's transaction
hashes) and ``events`` (filter ``{"contract": NAME, "event": NAME}``, both optional). A subscriber
that falls more than ``queue_limit`` notifications behind is disconnected with close code 1013 —
never silently skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from finchain.chain.rpc.jsonrpc import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    PARSE_ERROR,
    Dispatcher,
    RpcError,
)

log = logging.getLogger(__name__)

_ids = itertools.count(1)

#: largest HTTP request body read (bytes); a bigger one is answered 413 without reading it all
MAX_BODY = 32 * 1024 * 1024
#: subscriptions one WebSocket connection may hold at once
MAX_SUBSCRIPTIONS = 64
#: subscriptions the whole node serves at once
MAX_HUB_SUBSCRIPTIONS = 1024


def notification(sid: str, result: bytes) -> bytes:
    """The JSON-RPC notification of an already serialised ``result`` to subscription ``sid``."""
    return (
        b'{"jsonrpc":"2.0","method":"subscription","params":{"subscription":'
        + orjson.dumps(sid)
        + b',"result":'
        + result
        + b"}}"
    )


@dataclass(eq=False)
class _Subscription:
    sid: str
    topic: str
    options: dict[str, Any]
    queue: asyncio.Queue[bytes]  #: serialised results, shared between subscribers
    overflow: asyncio.Event = field(default_factory=asyncio.Event)


class EventHub:
    """Fans committed blocks and contract events out to WebSocket subscribers.

    Each block or event is serialised once and the bytes shared by every subscriber's queue
    (a copy per subscriber made thousands of idle subscriptions cost gigabytes)."""

    def __init__(
        self, *, queue_limit: int = 10_000, max_subscribers: int = MAX_HUB_SUBSCRIPTIONS
    ) -> None:
        self.queue_limit = queue_limit
        self.max_subscribers = max_subscribers
        self._subs: dict[str, _Subscription] = {}

    def subscribe(self, topic: str, options: dict[str, Any]) -> _Subscription:
        if topic not in ("newBlocks", "events"):
            raise RpcError(INVALID_PARAMS, f"unknown topic {topic!r}; use newBlocks or events")
        if len(self._subs) >= self.max_subscribers:
            raise RpcError(
                INVALID_REQUEST,
                f"this node serves at most {self.max_subscribers} subscriptions; try later",
            )
        sub = _Subscription(
            f"0x{next(_ids):x}", topic, dict(options or {}), asyncio.Queue(self.queue_limit)
        )
        self._subs[sub.sid] = sub
        return sub

    def unsubscribe(self, sid: str) -> bool:
        return self._subs.pop(sid, None) is not None

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def publish(
        self, block: dict[str, Any], tx_hashes: list[str], events: list[dict[str, Any]]
    ) -> None:
        """Notify subscribers of one committed block and the events its receipts carry."""
        if not self._subs:
            return
        plain: bytes | None = None
        with_hashes: bytes | None = None
        event_bytes: dict[int, bytes] = {}
        for sub in list(self._subs.values()):
            if sub.topic == "newBlocks":
                if sub.options.get("txHashes"):
                    if with_hashes is None:
                        with_hashes = orjson.dumps(dict(block, txHashes=tx_hashes))
                    self._put(sub, with_hashes)
                else:
                    if plain is None:
                        plain = orjson.dumps(block)
                    self._put(sub, plain)
            else:
                want_c = sub.options.get("contract")
                want_e = sub.options.get("event")
                for i, ev in enumerate(events):
                    if want_c is not None and ev.get("contract") != want_c:
                        continue
                    if want_e is not None and ev.get("event") != want_e:
                        continue
                    raw = event_bytes.get(i)
                    if raw is None:
                        raw = event_bytes[i] = orjson.dumps(ev)
                    self._put(sub, raw)

    def _put(self, sub: _Subscription, result: bytes) -> None:
        try:
            sub.queue.put_nowait(result)
        except asyncio.QueueFull:
            sub.overflow.set()
            self._subs.pop(sub.sid, None)


class RpcServer:
    """Serves a :class:`Dispatcher`, an :class:`EventHub`, health and metrics over HTTP."""

    def __init__(
        self,
        *,
        dispatcher: Dispatcher,
        hub: EventHub,
        host: str,
        port: int,
        metrics: Callable[[], bytes],
        health: Callable[[], dict[str, Any]],
        max_body: int = MAX_BODY,
        max_subscriptions: int = MAX_SUBSCRIPTIONS,
    ) -> None:
        self.dispatcher = dispatcher
        self.max_body = max_body
        self.max_subscriptions = max_subscriptions
        self.hub = hub
        self.host = host
        self.port = port
        self._metrics = metrics
        self._health = health
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None
        self.app = Starlette(
            routes=[
                Route("/", self._rpc, methods=["POST"]),
                Route("/health", self._health_route, methods=["GET"]),
                Route("/metrics", self._metrics_route, methods=["GET"]),
                WebSocketRoute("/ws", self._ws),
            ]
        )

    async def start(self) -> None:
        import uvicorn

        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self.port,
            loop="none",
            lifespan="off",
            log_level="warning",
            access_log=False,
            ws_max_size=16 * 1024 * 1024,
            timeout_keep_alive=30,
            ws_ping_interval=None,
        )
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # the node owns signals
        self._task = asyncio.ensure_future(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises the bind error
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self._task, 5)

    async def _rpc(self, request: Request) -> Response:
        body = await self._read_body(request)
        if body is None:
            too_big = RpcError(INVALID_REQUEST, f"request body exceeds {self.max_body} bytes")
            return Response(
                orjson.dumps({"jsonrpc": "2.0", "id": None, "error": too_big.to_json()}),
                status_code=413,
                media_type="application/json",
            )
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            answer: Any = {
                "jsonrpc": "2.0",
                "id": None,
                "error": RpcError(PARSE_ERROR, "request is not valid JSON").to_json(),
            }
        else:
            answer = await self.dispatcher.handle(payload)
        if answer is None:
            return Response(status_code=204)
        return Response(orjson.dumps(answer), media_type="application/json")

    async def _read_body(self, request: Request) -> bytes | None:
        """The request body, or ``None`` once it is known to exceed :attr:`max_body`."""
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            return None
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    async def _health_route(self, request: Request) -> Response:
        return Response(orjson.dumps(self._health()), media_type="application/json")

    async def _metrics_route(self, request: Request) -> Response:
        return Response(self._metrics(), media_type="text/plain; version=0.0.4")

    async def _ws(self, ws: WebSocket) -> None:
        await ws.accept()
        subs: dict[str, _Subscription] = {}
        pumps: set[asyncio.Task[None]] = set()
        lock = asyncio.Lock()

        async def send(data: bytes) -> None:
            async with lock:
                await ws.send_text(data.decode())

        async def pump(sub: _Subscription) -> None:
            # the helper tasks are cancelled on every way out (a pump is cancelled when its
            # connection closes; left pending they were logged "Task was destroyed")
            over = asyncio.ensure_future(sub.overflow.wait())
            try:
                while True:
                    get = asyncio.ensure_future(sub.queue.get())
                    try:
                        await asyncio.wait({get, over}, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        got = get.done()
                        if not got:
                            get.cancel()
                    if got:
                        await send(notification(sub.sid, get.result()))
                        continue
                    subs.pop(sub.sid, None)
                    with contextlib.suppress(Exception):
                        await ws.close(code=1013, reason="subscriber too slow; notifications lost")
                    return
            finally:
                over.cancel()

        def sync_pumps() -> None:
            """One pump per live subscription of this connection (at most max_subscriptions)."""
            running = set()
            for task in list(pumps):
                if task.get_name() in subs:
                    running.add(task.get_name())
                else:  # unsubscribed
                    task.cancel()
                    pumps.discard(task)
            for sub in subs.values():
                if sub.sid not in running:
                    task = asyncio.ensure_future(pump(sub))
                    task.set_name(sub.sid)
                    pumps.add(task)
                    task.add_done_callback(pumps.discard)

        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:  # a binary frame: accept UTF-8 JSON there too
                    try:
                        text = (message.get("bytes") or b"").decode()
                    except UnicodeDecodeError:
                        text = ""
                answer = await self._ws_request(text, subs)
                sync_pumps()
                await send(orjson.dumps(answer))
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            for sid in subs:
                self.hub.unsubscribe(sid)
            for task in pumps:
                task.cancel()

    async def _ws_request(self, text: str, subs: dict[str, _Subscription]) -> dict[str, Any]:
        try:
            req = orjson.loads(text)
        except orjson.JSONDecodeError:
            return {
                "jsonrpc": "2.0",
                "id": None,
                "error": RpcError(PARSE_ERROR, "not valid JSON").to_json(),
            }
        rid = req.get("id") if isinstance(req, dict) else None
        method = req.get("method") if isinstance(req, dict) else None
        params = req.get("params", []) if isinstance(req, dict) else []
        try:
            if method == "subscribe":
                topic, options = _topic_params(params)
                if len(subs) >= self.max_subscriptions:
                    raise RpcError(
                        INVALID_REQUEST,
                        f"at most {self.max_subscriptions} subscriptions per connection",
                    )
                sub = self.hub.subscribe(topic, options)
                subs[sub.sid] = sub
                return {"jsonrpc": "2.0", "id": rid, "result": sub.sid}
            if method == "unsubscribe":
                if isinstance(params, list) and params:
                    sid = params[0]
                elif isinstance(params, dict) and "id" in params:
                    sid = params["id"]
                else:
                    raise RpcError(INVALID_PARAMS, "unsubscribe takes [subscription id]")
                # only this connection's own subscriptions: ids are guessable
                ok = subs.pop(str(sid), None) is not None and self.hub.unsubscribe(str(sid))
                return {"jsonrpc": "2.0", "id": rid, "result": ok}
        except RpcError as exc:
            return {"jsonrpc": "2.0", "id": rid, "error": exc.to_json()}
        except (AttributeError, IndexError, TypeError, ValueError) as exc:
            return {
                "jsonrpc": "2.0",
                "id": rid,
                "error": RpcError(INVALID_PARAMS, str(exc)).to_json(),
            }
        answer = await self.dispatcher.handle(req)
        return answer or {"jsonrpc": "2.0", "id": rid, "result": None}


def _topic_params(params: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(params, dict):
        topic, options = params.get("topic"), params.get("filter")
    elif isinstance(params, list) and params:
        topic, options = params[0], params[1] if len(params) > 1 else None
    else:
        raise RpcError(INVALID_PARAMS, "subscribe takes [topic, filter]")
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise RpcError(INVALID_PARAMS, "a subscription filter must be an object")
    return str(topic), options
