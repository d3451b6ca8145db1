"""SQLite store of alerts: one row per alert id (the de-duplication key's digest).

Saving an alert that already exists updates it in place — its evidence grows, its status can
move to superseded — so repeated matches of one case never produce duplicate rows.

>>> from finchain.regtech.chainwatch.model import Alert, Edge
>>> s = AlertStore(":memory:")
>>> a = Alert("fan_out", "fan_out|a@1", 1, 10, ["a", "b"], [Edge("t1", "a", "b", 5, 10, 1)])
>>> s.save([a]); s.save([a])
1
1
>>> s.count()
1
>>> s.get(a.alert_id)["edges"][0]["tx_id"]
't1'
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from finchain.regtech.chainwatch.model import Alert

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY,
    typology TEXT NOT NULL,
    block INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    first_block INTEGER NOT NULL,
    score REAL NOT NULL,
    superseded_by TEXT,
    source TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_typology ON alerts(typology, block);
CREATE INDEX IF NOT EXISTS alerts_block ON alerts(block);
"""


class AlertStore:
    """Alerts in one SQLite file (``":memory:"`` for a throw-away store); thread-safe."""

    def __init__(self, path: str | Path) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def save(self, alerts: Sequence[Alert], *, source: str = "") -> int:
        """Insert or update ``alerts``; returns how many rows were written."""
        rows = []
        for a in alerts:
            body = a.to_dict()
            rows.append(
                (
                    a.alert_id,
                    a.typology,
                    a.block,
                    a.timestamp,
                    int(a.details.get("first_block", a.block)),
                    a.score,
                    a.superseded_by,
                    source,
                    json.dumps(body, default=str),
                )
            )
        with self._lock, self._db:
            self._db.executemany(
                "INSERT INTO alerts VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
                "typology=excluded.typology, block=excluded.block, timestamp=excluded.timestamp,"
                " score=excluded.score, superseded_by=excluded.superseded_by, body=excluded.body",
                rows,
            )
        return len(rows)

    def get(self, alert_id: str) -> dict[str, Any] | None:
        """One alert with its evidence, or None."""
        with self._lock:
            row = self._db.execute("SELECT body FROM alerts WHERE id=?", (alert_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def list(
        self,
        *,
        typology: str | None = None,
        since_block: int | None = None,
        include_superseded: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Alerts, newest block first, without their edge lists (see :meth:`get`)."""
        where: list[str] = []
        args: list[object] = []
        if typology:
            where.append("typology=?")
            args.append(typology)
        if since_block is not None:
            where.append("block>=?")
            args.append(since_block)
        if not include_superseded:
            where.append("superseded_by IS NULL")
        sql = "SELECT body FROM alerts"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY block DESC, id LIMIT ? OFFSET ?"
        with self._lock:
            rows = self._db.execute(sql, [*args, limit, offset]).fetchall()
        out = []
        for (body,) in rows:
            d = json.loads(body)
            d["tx_count"] = len(d.pop("edges", []))
            out.append(d)
        return out

    def count(self, *, include_superseded: bool = True) -> int:
        """Number of stored alerts."""
        sql = "SELECT COUNT(*) FROM alerts"
        if not include_superseded:
            sql += " WHERE superseded_by IS NULL"
        with self._lock:
            return int(self._db.execute(sql).fetchone()[0])

    def counts_by_typology(self) -> dict[str, int]:
        """Open (not superseded) alerts per typology."""
        with self._lock:
            rows = self._db.execute(
                "SELECT typology, COUNT(*) FROM alerts WHERE superseded_by IS NULL "
                "GROUP BY typology ORDER BY typology"
            ).fetchall()
        return {t: int(n) for t, n in rows}

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
