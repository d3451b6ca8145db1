"""Indicator queries over the Redis protocol (RESP2) and over HTTP/JSON, on asyncio.

Redis commands (so ``redis-py``, ``redis-cli`` and ``redis-benchmark`` work):

=================================  ======================================================
``PING [msg]``, ``ECHO msg``       liveness
``GET key:indicator.stat``         one value as a bulk string (nil when unknown);
                                   ``GET key`` alone returns every indicator as JSON
``MGET k1 k2 …``                   several ``GET`` at once
``IND.GET key indicator.stat``     the same value, key and indicator apart
``IND.ALL key``                    flat array ``name, value, name, value …``
``IND.LIST``                       the indicator names
``RISK.CHECK key field value …``   evaluate the rules on a hypothetical event now
                                   (no state change); array of ``rule:action:message``
``RULES.LIST``                     ``name, source`` pairs
``RULES.SET name text``            add or replace a rule (hot reload)
``RULES.DEL name``                 remove a rule
``INFO``, ``DBSIZE``, ``CONFIG``,  enough for clients and ``redis-benchmark`` to connect
``COMMAND``, ``SELECT``, ``QUIT``
=================================  ======================================================

Keys are matched as written; a key of only digits also matches the integer key (so
``redis-benchmark -r`` keys such as ``000000012345`` find card 12345).

HTTP: ``GET /v1/indicators/{key}``, ``GET /v1/indicators/{key}/{indicator}``, ``POST /v1/check``
(a JSON event → alerts), ``GET /v1/rules``, ``PUT /v1/rules/{name}`` (body: rule text),
``DELETE /v1/rules/{name}``, ``GET /healthz``. Requests are served between engine batches on the
same event loop, so every answer sees a consistent state.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Hashable
from typing import Any, cast
from urllib.parse import unquote

import orjson

from finchain.stream.engine import Alert, Engine
from finchain.stream.errors import StreamError

__all__ = ["IndicatorService", "serve_http", "serve_resp"]


def _key(text: str) -> list[Hashable]:
    """Candidate engine keys for a key written by a client."""
    out: list[Hashable] = [text]
    if text.isdigit() or (text[:1] == "-" and text[1:].isdigit()):
        out.insert(0, int(text))
    return out


def _num(v: Any) -> bytes:
    if isinstance(v, float):
        if math.isnan(v):
            return b"nan"
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v)).encode()
        return repr(v).encode()
    return str(v).encode()


class IndicatorService:
    """The query side of an engine: lookups, risk checks and rule changes."""

    def __init__(self, engine: Engine, on_rules_changed: Callable[[], None] | None = None) -> None:
        self.engine = engine
        self.on_rules_changed = on_rules_changed
        self.requests = 0

    def get(self, key: str, indicator: str) -> Any:
        eng = self.engine
        if key.isdigit():
            v = eng.indicator(int(key), indicator)
            if v is not None:
                return v
        return eng.indicator(key, indicator)

    def all(self, key: str) -> dict[str, Any]:
        for k in _key(key):
            vals = self.engine.query(k)
            if vals:
                return vals
        return {}

    def check(self, event: dict[str, Any]) -> list[Alert]:
        key_fields = {lb.key for lb in self.engine.lookbacks}
        ev = dict(event)
        for f in key_fields:
            if f in ev and isinstance(ev[f], str):
                cands = _key(ev[f])
                known = [c for c in cands if any(c in lb.state for lb in self.engine.lookbacks)]
                ev[f] = known[0] if known else cands[0]
        return self.engine.check(ev)

    def set_rule(self, name: str, text: str) -> None:
        from finchain.stream.rules import RuleSet

        rules = self.engine.rules
        if rules is None:
            rules = RuleSet()
            rules.add(name, text)
            self.engine.set_rules(rules)
        else:
            rules.add(name, text)
        if self.on_rules_changed is not None:
            self.on_rules_changed()

    def del_rule(self, name: str) -> None:
        if self.engine.rules is None:
            raise StreamError(f"no rule named {name!r}")
        self.engine.rules.remove(name)
        if self.on_rules_changed is not None:
            self.on_rules_changed()

    def rules(self) -> dict[str, str]:
        return {} if self.engine.rules is None else self.engine.rules.sources()


# -- RESP2 -------------------------------------------------------------------------------------
def _bulk(v: bytes | None) -> bytes:
    if v is None:
        return b"$-1\r\n"
    return b"$%d\r\n%s\r\n" % (len(v), v)


def _array(items: list[bytes | None]) -> bytes:
    return b"*%d\r\n" % len(items) + b"".join(_bulk(i) for i in items)


def _error(msg: str) -> bytes:
    return b"-ERR " + msg.replace("\r", " ").replace("\n", " ").encode() + b"\r\n"


class _RespProtocol(asyncio.Protocol):
    def __init__(self, service: IndicatorService) -> None:
        self.service = service
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.proto = 2  # RESP2; ``HELLO 3`` (redis-py 8's default handshake) switches to RESP3

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        out: list[bytes] = []
        pos = 0
        n = len(buf)
        while pos < n:
            if buf[pos] == 42:  # '*'
                end = buf.find(b"\r\n", pos)
                if end < 0:
                    break
                count = int(buf[pos + 1 : end])
                p = end + 2
                args: list[bytes] = []
                complete = True
                for _ in range(count):
                    e2 = buf.find(b"\r\n", p)
                    if e2 < 0:
                        complete = False
                        break
                    ln = int(buf[p + 1 : e2])
                    start = e2 + 2
                    if start + ln + 2 > n:
                        complete = False
                        break
                    args.append(buf[start : start + ln])
                    p = start + ln + 2
                if not complete:
                    break
                pos = p
            else:  # inline command
                end = buf.find(b"\r\n", pos)
                if end < 0:
                    break
                args = buf[pos:end].split()
                pos = end + 2
                if not args:
                    continue
            reply = self.dispatch(args)
            if reply is None:
                if self.transport is not None:
                    self.transport.write(b"".join(out) + b"+OK\r\n")
                    self.transport.close()
                return
            out.append(reply)
        self.buf = buf[pos:]
        if out and self.transport is not None:
            self.transport.write(b"".join(out))

    def dispatch(self, args: list[bytes]) -> bytes | None:
        svc = self.service
        svc.requests += 1
        cmd = args[0].upper()
        try:
            if cmd == b"GET" and len(args) == 2:
                return self._get(args[1])
            if cmd == b"MGET":
                return b"*%d\r\n" % (len(args) - 1) + b"".join(self._get(a) for a in args[1:])
            if cmd == b"IND.GET" and len(args) == 3:
                v = svc.get(args[1].decode(), args[2].decode())
                return self._nil(None if v is None else _num(v))
            if cmd == b"IND.ALL" and len(args) == 2:
                flat: list[bytes | None] = []
                for name, v in svc.all(args[1].decode()).items():
                    flat += [name.encode(), _num(v)]
                return _array(flat)
            if cmd == b"IND.LIST":
                return _array([n.encode() for n in svc.engine.indicator_names()])
            if cmd == b"RISK.CHECK" and len(args) >= 2 and len(args) % 2 == 0:
                return self._check(args)
            if cmd == b"RULES.LIST":
                flat = []
                for name, src in svc.rules().items():
                    flat += [name.encode(), src.encode()]
                return _array(flat)
            if cmd == b"RULES.SET" and len(args) == 3:
                svc.set_rule(args[1].decode(), args[2].decode())
                return b"+OK\r\n"
            if cmd == b"RULES.DEL" and len(args) == 2:
                svc.del_rule(args[1].decode())
                return b"+OK\r\n"
            if cmd == b"PING":
                return _bulk(args[1]) if len(args) > 1 else b"+PONG\r\n"
            if cmd == b"ECHO" and len(args) == 2:
                return _bulk(args[1])
            if cmd == b"INFO":
                eng = svc.engine
                text = (
                    "# Server\r\nredis_version:7.0.0-finchain\r\nfinchain_stream:1\r\n"
                    f"# Stats\r\nrequests:{svc.requests}\r\nevents:{eng.offset}\r\n"
                    f"late_events:{eng.late_count}\r\nwatermark:{eng.watermark}\r\n"
                    f"# Keyspace\r\nkeys:{len(eng.keys())}\r\n"
                )
                return _bulk(text.encode())
            if cmd == b"DBSIZE":
                return b":%d\r\n" % len(svc.engine.keys())
            if cmd == b"QUIT":
                return None
            if cmd in (b"CONFIG", b"COMMAND"):
                return b"*0\r\n"
            if cmd == b"HELLO":
                return self._hello(args)
            if cmd in (b"SELECT", b"CLIENT", b"AUTH"):
                return b"+OK\r\n"
            return _error(f"unknown command or wrong arguments: {args[0].decode(errors='replace')}")
        except (StreamError, ValueError, UnicodeDecodeError) as exc:
            return _error(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)

    def _hello(self, args: list[bytes]) -> bytes:
        version = int(args[1]) if len(args) > 1 else self.proto
        if version not in (2, 3):
            return b"-NOPROTO unsupported protocol version\r\n"
        self.proto = version
        info: list[tuple[bytes, bytes]] = [(b"server", b"finchain-stream"), (b"version", b"7.0.0")]
        body = b"".join(_bulk(k) + _bulk(v) for k, v in info) + _bulk(b"proto")
        body += b":%d\r\n" % version + _bulk(b"mode") + _bulk(b"standalone")
        head = b"%%%d\r\n" % (len(info) + 2) if version == 3 else b"*%d\r\n" % (2 * len(info) + 4)
        return head + body

    def _nil(self, v: bytes | None) -> bytes:
        if v is None:
            return b"_\r\n" if self.proto == 3 else b"$-1\r\n"
        return _bulk(v)

    def _get(self, raw: bytes) -> bytes:
        text = raw.decode()
        key, sep, ind = text.rpartition(":")
        if sep and ind:
            v = self.service.get(key, ind)
            return self._nil(None if v is None else _num(v))
        vals = self.service.all(text)
        return self._nil(orjson.dumps(vals, option=orjson.OPT_SERIALIZE_NUMPY) if vals else None)

    def _check(self, args: list[bytes]) -> bytes:
        event: dict[str, Any] = {}
        key_fields = [lb.key for lb in self.service.engine.lookbacks]
        event[key_fields[0] if key_fields else "key"] = args[1].decode()
        for i in range(2, len(args), 2):
            name = args[i].decode()
            raw = args[i + 1].decode()
            try:
                event[name] = int(raw)
            except ValueError:
                try:
                    event[name] = float(raw)
                except ValueError:
                    event[name] = raw
        alerts = self.service.check(event)
        return _array([f"{a.rule}:{a.action}:{a.message}".encode() for a in alerts])


async def serve_resp(
    service: IndicatorService, host: str = "127.0.0.1", port: int = 0
) -> asyncio.Server:
    """Start the Redis-protocol server; ``server.sockets[0].getsockname()[1]`` is the port."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: _RespProtocol(service), host, port)


# -- HTTP --------------------------------------------------------------------------------------
async def _http_handle(
    service: IndicatorService, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _version = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            length = int(headers.get("content-length", "0") or 0)
            body = await reader.readexactly(length) if length else b""
            status, payload = _http_route(service, method, target, body)
            data = orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)
            close = headers.get("connection", "").lower() == "close"
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\n"
                f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n".encode()
                + data
            )
            await writer.drain()
            if close:
                break
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


def _http_route(
    service: IndicatorService, method: str, target: str, body: bytes
) -> tuple[str, Any]:
    path = target.split("?", 1)[0]
    parts = [unquote(p) for p in path.strip("/").split("/")]
    try:
        if method == "GET" and parts == ["healthz"]:
            return "200 OK", {"ok": True, "events": service.engine.offset}
        if method == "GET" and len(parts) == 3 and parts[:2] == ["v1", "indicators"]:
            vals = service.all(parts[2])
            if not vals:
                return "404 Not Found", {"error": f"unknown key {parts[2]!r}"}
            return "200 OK", {"key": parts[2], "indicators": vals}
        if method == "GET" and len(parts) == 4 and parts[:2] == ["v1", "indicators"]:
            v = service.get(parts[2], parts[3])
            if v is None:
                return "404 Not Found", {"error": f"no {parts[3]!r} for key {parts[2]!r}"}
            return "200 OK", {"key": parts[2], "indicator": parts[3], "value": v}
        if method == "POST" and parts == ["v1", "check"]:
            event = orjson.loads(body or b"{}")
            if not isinstance(event, dict):
                return "400 Bad Request", {"error": "body must be a JSON object"}
            alerts = service.check(event)
            return "200 OK", {
                "alerts": [
                    {"rule": a.rule, "action": a.action, "message": a.message} for a in alerts
                ]
            }
        if method == "GET" and parts == ["v1", "rules"]:
            return "200 OK", service.rules()
        if method in ("PUT", "POST") and len(parts) == 3 and parts[:2] == ["v1", "rules"]:
            service.set_rule(parts[2], body.decode())
            return "200 OK", {"ok": True}
        if method == "DELETE" and len(parts) == 3 and parts[:2] == ["v1", "rules"]:
            service.del_rule(parts[2])
            return "200 OK", {"ok": True}
        return "404 Not Found", {"error": f"no route {method} {path}"}
    except StreamError as exc:
        return "400 Bad Request", {"error": str(exc)}
    except orjson.JSONDecodeError as exc:
        return "400 Bad Request", {"error": f"bad JSON: {exc}"}


async def serve_http(
    service: IndicatorService, host: str = "127.0.0.1", port: int = 0
) -> asyncio.Server:
    """Start the HTTP/JSON server; the port is in ``server.sockets[0].getsockname()[1]``."""
    return await asyncio.start_server(lambda r, w: _http_handle(service, r, w), host, port)
