"""Live indicators for scoring: the seam between the scoring service and the stream engine.

The stream engine (``finchain.stream``) serves per-entity indicators (counts, sums and ratios over
windows) over HTTP and the Redis protocol. The scoring service takes any :class:`IndicatorSource`
and merges what it returns into a request's features before encoding (fields sent in the request
win over indicators of the same name). Three implementations:

- :class:`StaticIndicators`: an in-memory mapping (tests, batch replays);
- :class:`HttpIndicators`: ``GET`` a URL template such as
  ``http://127.0.0.1:8700/v1/indicators/{key}`` returning a JSON object (either the indicators
  themselves or ``{"indicators": {...}}``);
- :class:`RedisIndicators`: ``HGETALL <prefix><key>`` on any Redis-protocol server
  (``redis://host:port/0?prefix=ind:``); a plain string value is read as a JSON object.

Results are cached per key for ``ttl`` seconds; a failing source yields no indicators (the
model treats them as missing) and is counted in ``errors``, so scoring never fails because the
stream engine is down.

Example:
    >>> src = StaticIndicators({"c1": {"txn_count_7d": 3}})
    >>> src.fetch("c1"), src.fetch("nobody")
    ({'txn_count_7d': 3.0}, {})
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

log = logging.getLogger(__name__)


@runtime_checkable
class IndicatorSource(Protocol):
    """Anything that returns the current indicators of one entity."""

    def fetch(self, key: str) -> dict[str, float]:
        """Indicator name → value for ``key`` (empty when unknown or unavailable)."""
        ...


def _floats(raw: Mapping[Any, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in raw.items():
        name = k.decode() if isinstance(k, bytes) else str(k)
        if isinstance(v, bytes):
            v = v.decode()
        try:
            out[name] = float(v)
        except (TypeError, ValueError):
            continue
    return out


class StaticIndicators:
    """Indicators held in memory."""

    def __init__(self, table: Mapping[str, Mapping[str, Any]]) -> None:
        self.table = {k: _floats(v) for k, v in table.items()}

    def fetch(self, key: str) -> dict[str, float]:
        return dict(self.table.get(key, {}))


class _Cached:
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.errors = 0
        self._cache: dict[str, tuple[float, dict[str, float]]] = {}
        self._lock = threading.Lock()

    def fetch(self, key: str) -> dict[str, float]:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        try:
            value = self._fetch(key)
        except Exception as exc:  # a down stream engine must not fail scoring
            self.errors += 1
            log.warning("indicator fetch for %s failed: %s", key, exc)
            return {}
        with self._lock:
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[key] = (now, value)
        return value

    def _fetch(self, key: str) -> dict[str, float]:
        raise NotImplementedError


class HttpIndicators(_Cached):
    """Indicators from an HTTP endpoint (the stream engine's query API)."""

    def __init__(self, url_template: str, *, timeout: float = 0.2, ttl: float = 1.0) -> None:
        import httpx

        super().__init__(ttl)
        if "{key}" not in url_template:
            url_template = url_template.rstrip("/") + "/{key}"
        self.url_template = url_template
        self._client = httpx.Client(timeout=timeout)

    def _fetch(self, key: str) -> dict[str, float]:
        r = self._client.get(self.url_template.format(key=urllib.parse.quote(key, safe="")))
        if r.status_code == 404:
            return {}
        r.raise_for_status()
        body = r.json()
        if isinstance(body, dict) and isinstance(body.get("indicators"), dict):
            body = body["indicators"]
        return _floats(body) if isinstance(body, dict) else {}


class RedisIndicators(_Cached):
    """Indicators from a Redis-protocol server: a hash (or a JSON string) per entity."""

    def __init__(self, url: str, *, prefix: str = "", timeout: float = 0.2, ttl: float = 1.0):
        import redis

        super().__init__(ttl)
        parsed = urllib.parse.urlsplit(url)
        query = urllib.parse.parse_qs(parsed.query)
        self.prefix = query.pop("prefix", [prefix])[0]
        clean = urllib.parse.urlunsplit(parsed._replace(query=""))
        self._client = redis.Redis.from_url(
            clean, socket_timeout=timeout, socket_connect_timeout=timeout
        )

    def _fetch(self, key: str) -> dict[str, float]:
        name = self.prefix + key
        kind = self._client.type(name)
        kind = kind.decode() if isinstance(kind, bytes) else str(kind)
        if kind == "hash":
            return _floats(self._client.hgetall(name))
        if kind == "string":
            raw = self._client.get(name)
            body = json.loads(raw) if raw else {}
            return _floats(body) if isinstance(body, dict) else {}
        return {}


def indicator_source_from_url(url: str, **kwargs: Any) -> IndicatorSource:
    """``http(s)://…`` → :class:`HttpIndicators`; ``redis://…`` → :class:`RedisIndicators`."""
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme in ("http", "https"):
        return HttpIndicators(url, **kwargs)
    if scheme in ("redis", "rediss", "unix"):
        return RedisIndicators(url, **kwargs)
    from finchain.risk.errors import RiskError

    raise RiskError(f"indicator source must be an http(s):// or redis:// URL, got {url!r}")
