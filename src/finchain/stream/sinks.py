"""Sinks for alerts, window results, late events and per-event indicator values.

All sinks are idempotent, which is what makes recovery exact: after a crash the worker replays
the source from its last checkpoint and produces some outputs a second time, and

* :class:`SqliteSink` (the store the console reads) keys alerts by ``(rule, offset)``, late
  events by ``offset``, per-event values by ``(offset, indicator)`` and windows by
  ``(name, key, start)`` (the last firing wins, so an ``update`` replaces the ``final``);
* :class:`WebhookSink` sends ``Idempotency-Key: rule:offset`` with every alert;
* :class:`NatsSink` publishes with ``Nats-Msg-Id: rule:offset``, which JetStream's duplicate
  window drops.

>>> import tempfile, os
>>> from finchain.stream.engine import Alert
>>> db = SqliteSink(os.path.join(tempfile.mkdtemp(), "out.db"))
>>> a = Alert("velocity", "alert", "too fast", "c1", 1000, 41)
>>> db.write_alerts([a, a]); db.count("alerts")
1
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from finchain.stream.engine import Alert, BatchResult
from finchain.stream.lookback import as_list
from finchain.stream.windows import WindowOutput

__all__ = ["NatsSink", "SqliteSink", "WebhookSink", "alert_json"]


def _plain(v: Any) -> Any:
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    return v


def alert_json(a: Alert) -> bytes:
    return json.dumps(
        {
            "rule": a.rule,
            "action": a.action,
            "message": a.message,
            "key": _plain(a.key),
            "ts": int(a.ts),
            "offset": int(a.offset),
        }
    ).encode()


class SqliteSink:
    """Results in one SQLite file (WAL mode, one transaction per batch)."""

    def __init__(self, path: str | Path, *, values: bool = False) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path))
        self.values = values
        self.db.executescript(
            """
            PRAGMA journal_mode=WAL;
            CREATE TABLE IF NOT EXISTS alerts (rule TEXT, offset INTEGER, action TEXT,
                message TEXT, key TEXT, ts INTEGER, PRIMARY KEY (rule, offset));
            CREATE TABLE IF NOT EXISTS windows (name TEXT, key TEXT, start INTEGER, end_ INTEGER,
                kind TEXT, vals TEXT, fired_at INTEGER, PRIMARY KEY (name, key, start));
            CREATE TABLE IF NOT EXISTS late (offset INTEGER PRIMARY KEY, row TEXT);
            CREATE TABLE IF NOT EXISTS indicator_values (offset INTEGER, name TEXT, value REAL,
                PRIMARY KEY (offset, name));
            """
        )

    def write(self, res: BatchResult) -> None:
        with self.db:
            self._alerts(res.alerts)
            for w in res.windows:
                self._windows(w)
            if res.late:
                self.db.executemany(
                    "INSERT OR IGNORE INTO late VALUES (?, ?)",
                    [
                        (int(r["_offset"]), json.dumps({k: _plain(v) for k, v in r.items()}))
                        for r in res.late
                    ],
                )
            if self.values and res.values:
                offs = as_list(res.released["_offset"])
                rows: list[tuple[int, str, Any]] = []
                for name, col in res.values.items():
                    vals = as_list(col)
                    rows.extend((int(o), name, _plain(v)) for o, v in zip(offs, vals, strict=True))
                self.db.executemany("INSERT OR IGNORE INTO indicator_values VALUES (?, ?, ?)", rows)

    def write_alerts(self, alerts: Sequence[Alert]) -> None:
        with self.db:
            self._alerts(alerts)

    def _alerts(self, alerts: Sequence[Alert]) -> None:
        if alerts:
            self.db.executemany(
                "INSERT OR IGNORE INTO alerts VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (a.rule, int(a.offset), a.action, a.message, str(_plain(a.key)), int(a.ts))
                    for a in alerts
                ],
            )

    def _windows(self, w: WindowOutput) -> None:
        keys, start, end = as_list(w.keys), as_list(w.start), as_list(w.end)
        cols = {s: as_list(c) for s, c in w.values.items()}
        rows = []
        for i in range(len(keys)):
            vals = json.dumps({s: _plain(c[i]) for s, c in cols.items()})
            rows.append(
                (w.name, str(keys[i]), int(start[i]), int(end[i]), w.kind, vals, int(w.offset))
            )
        if w.kind == "retract":
            self.db.executemany(
                "DELETE FROM windows WHERE name=? AND key=? AND start=?",
                [(r[0], r[1], r[2]) for r in rows],
            )
        else:
            self.db.executemany("INSERT OR REPLACE INTO windows VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def count(self, table: str) -> int:
        if table not in ("alerts", "windows", "late", "indicator_values"):
            raise ValueError(table)
        return int(self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def close(self) -> None:
        self.db.close()


class WebhookSink:
    """POST each alert as JSON to ``url`` (``Idempotency-Key`` header = ``rule:offset``)."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        import httpx

        self.url = url
        self.client = httpx.Client(timeout=timeout)

    def write(self, res: BatchResult) -> None:
        for a in res.alerts:
            self.client.post(
                self.url,
                content=alert_json(a),
                headers={
                    "Content-Type": "application/json",
                    "Idempotency-Key": f"{a.rule}:{a.offset}",
                },
            )

    def close(self) -> None:
        self.client.close()


class NatsSink:
    """Publish alerts to JetStream ``subject`` (deduplicated by ``Nats-Msg-Id``)."""

    def __init__(self, js: Any, subject: str) -> None:
        self.js = js
        self.subject = subject

    async def write(self, res: BatchResult) -> None:
        for a in res.alerts:
            await self.js.publish(
                self.subject, alert_json(a), headers={"Nats-Msg-Id": f"{a.rule}:{a.offset}"}
            )
