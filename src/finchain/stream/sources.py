"""Sources: replay of CSV/Parquet files, a generic JSON WebSocket subscription (the chain node's
``newBlocks`` and contract-event feeds), and NATS JetStream partitions.

Every source yields ``(position, columns)`` batches; ``position`` is what a checkpoint stores
to resume from (row offset for files, the last JetStream sequence for NATS, the count of
messages for a WebSocket feed, which cannot be replayed and is therefore at-most-once across a
crash unless the subscribe message resumes from the position, see ``resume_field``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from finchain.stream.errors import StreamError

__all__ = ["ReplaySource", "WebSocketSource", "dig"]


class ReplaySource:
    """Columns of a CSV or Parquet file in event-time order, cut into batches.

    ``time_field`` is converted to integer milliseconds with ``time_scale`` (ULB's ``Time`` is
    in seconds: scale 1000); ``sort`` orders rows by time first (stable); ``constant`` adds
    columns with one value (e.g. a global key for data without one).

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> _ = open(path, "w").write("Time,Amount\\n2,5\\n1,3\\n")
    >>> src = ReplaySource(path, time_field="Time", time_scale=1000, sort=True,
    ...                    constant={"all": "*"})
    >>> [(pos, cols["ts"].tolist(), cols["Amount"].tolist()) for pos, cols in src.batches(0, 10)]
    [(2, [1000, 2000], [3, 5])]
    """

    def __init__(
        self,
        path: str | Path,
        *,
        time_field: str = "ts",
        time_scale: float = 1,
        sort: bool = False,
        constant: Mapping[str, Any] | None = None,
        columns: list[str] | None = None,
    ) -> None:
        path = Path(path)
        if not path.exists():
            raise StreamError(f"no such file: {path}")
        if path.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            table = pq.read_table(path, columns=columns)
            frame = table.to_pandas()
        else:
            import pandas as pd

            frame = pd.read_csv(path, usecols=columns)
        if time_field not in frame.columns:
            raise StreamError(
                f"{path}: no time column {time_field!r} (columns: "
                f"{', '.join(map(str, frame.columns[:12]))})"
            )
        if sort:
            frame = frame.sort_values(time_field, kind="stable").reset_index(drop=True)
        self.cols: dict[str, np.ndarray] = {str(c): frame[c].to_numpy() for c in frame.columns}
        self.cols["ts"] = np.rint(frame[time_field].to_numpy(dtype=np.float64) * time_scale).astype(
            np.int64
        )
        for name, value in (constant or {}).items():
            self.cols[name] = np.full(len(frame), value, dtype=object)
        self.n = len(frame)

    def __len__(self) -> int:
        return self.n

    def batches(self, start: int, size: int) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        """Batches from row ``start``; each comes with the row position after it."""
        for a in range(start, self.n, size):
            b = min(self.n, a + size)
            yield b, {k: v[a:b] for k, v in self.cols.items()}


def dig(obj: Any, path: str) -> Any:
    """Follow a dotted path into nested JSON (``params.result.events``); None when absent.

    >>> dig({"params": {"result": {"height": 7}}}, "params.result.height")
    7
    """
    for part in path.split(".") if path else []:
        if isinstance(obj, Mapping):
            obj = obj.get(part)
        elif isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return None
    return obj


class WebSocketSource:
    """Events from a JSON WebSocket subscription (any server; the chain node is configuration).

    ``subscribe`` is sent after connecting (a dict is sent as JSON, e.g. a JSON-RPC
    ``{"method": "subscribe", "params": ["newBlocks"]}``). Each received message is reduced to
    events with ``items_path`` (dotted path to an object or a list of objects, default
    ``params.result``, the JSON-RPC notification shape); ``fields`` maps output column →
    dotted path inside an event; ``time_path`` gives the event time (``time_scale`` to reach
    milliseconds). Messages without items (subscription acknowledgements) are skipped.
    """

    def __init__(
        self,
        url: str,
        *,
        subscribe: Any = None,
        items_path: str = "params.result",
        fields: Mapping[str, str] | None = None,
        time_path: str = "timestamp",
        time_scale: float = 1,
        batch: int = 100,
        batch_timeout: float = 0.05,
    ) -> None:
        self.url = url
        self.subscribe = subscribe
        self.items_path = items_path
        self.fields = dict(fields or {})
        self.time_path = time_path
        self.time_scale = time_scale
        self.batch = batch
        self.batch_timeout = batch_timeout
        self.received = 0

    def _events(self, message: Any) -> list[dict[str, Any]]:
        items = dig(message, self.items_path)
        if items is None:
            return []
        if isinstance(items, Mapping):
            items = [items]
        out = []
        for item in items:
            if not isinstance(item, Mapping):
                continue
            t = dig(item, self.time_path)
            if t is None:
                continue
            row = {"ts": round(float(t) * self.time_scale)}
            if self.fields:
                for col, path in self.fields.items():
                    row[col] = dig(item, path)
            else:
                row.update({k: v for k, v in item.items() if not isinstance(v, Mapping | list)})
            out.append(row)
        return out

    async def batches(
        self, limit: int | None = None
    ) -> AsyncIterator[tuple[int, dict[str, list[Any]]]]:
        """Batches of events as they arrive (at most ``batch`` events or ``batch_timeout`` s)."""
        import asyncio

        import websockets

        async with websockets.connect(self.url) as ws:
            if self.subscribe is not None:
                msg = (
                    self.subscribe
                    if isinstance(self.subscribe, str)
                    else json.dumps(self.subscribe)
                )
                await ws.send(msg)
            rows: list[dict[str, Any]] = []
            total = 0
            while limit is None or total < limit:
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout=self.batch_timeout)
                except TimeoutError:
                    raw = None
                except websockets.ConnectionClosed:
                    break
                if raw is not None:
                    try:
                        rows.extend(self._events(json.loads(raw)))
                    except ValueError:
                        continue
                if rows and (raw is None or len(rows) >= self.batch):
                    self.received += len(rows)
                    total += len(rows)
                    names = list(dict.fromkeys(k for r in rows for k in r))
                    yield self.received, {k: [r.get(k) for r in rows] for k in names}
                    rows = []
            if rows:
                self.received += len(rows)
                names = list(dict.fromkeys(k for r in rows for k in r))
                yield self.received, {k: [r.get(k) for r in rows] for k in names}
