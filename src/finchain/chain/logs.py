"""Structured logs for node processes: one JSON object per line on stderr (and a file).

Fields passed with ``extra=`` (``peer``, ``height``, ``reason`` …) become top-level keys::

    {"ts": "2026-12-03T18:50:01.123Z", "level": "INFO", "logger": "finchain.chain.node",
     "msg": "committed", "node": "org1-v0", "height": 120, "txs": 1000}
"""

from __future__ import annotations

import datetime as _dt
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from finchain.chain.config import NodeConfig

_STD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line with its ``extra`` fields."""

    def __init__(self, node: str = "") -> None:
        super().__init__()
        self.node = node

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": _dt.datetime.fromtimestamp(record.created, _dt.UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if self.node:
            out["node"] = self.node
        for key, value in record.__dict__.items():
            if key not in _STD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


def setup_logging(config: NodeConfig) -> None:
    """Route the root logger to stderr and ``<data_dir>/node.log`` as JSON lines."""
    fmt = JsonFormatter(config.name)
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(config.log_level.upper())
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(fmt)
    root.addHandler(stream)
    Path(config.data_dir).mkdir(parents=True, exist_ok=True)
    fileh = logging.FileHandler(Path(config.data_dir) / "node.log", encoding="utf-8")
    fileh.setFormatter(fmt)
    root.addHandler(fileh)
    for noisy in ("uvicorn", "uvicorn.error", "websockets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
