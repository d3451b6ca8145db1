"""State and source offsets checkpointed together in LMDB.

One LMDB write transaction stores the engine's whole state (windows, lookbacks, reorder buffer,
watermark, rule sources) *and* the source position it corresponds to, so a restarted worker
resumes from a consistent pair: replaying the source from that position reproduces exactly the
outputs an uninterrupted run produces after it. Outputs written between the checkpoint and a
crash are produced again on replay; sinks make that harmless by writing idempotently (keyed by
the input offset of the event, see :mod:`finchain.stream.sinks`).

>>> import tempfile
>>> from finchain.stream import Engine
>>> eng = Engine()
>>> _ = eng.add_lookback("spend", key="card", field="amount", span="5m")
>>> _ = eng.process({"ts": [0, 10], "card": ["a", "a"], "amount": [3, 4]})
>>> with tempfile.TemporaryDirectory() as d:
...     cp = Checkpointer(d)
...     cp.save(eng, {"csv": 2})
...     restored, position = cp.load()
...     cp.close()
>>> position, restored.query("a")["spend.sum"]
({'csv': 2}, 7)
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import lmdb

from finchain.stream.engine import Engine
from finchain.stream.errors import CheckpointError

__all__ = ["Checkpointer"]

_FORMAT = 1


class Checkpointer:
    """An LMDB file holding the latest (engine state, source position) of one worker/partition."""

    def __init__(self, path: str | Path, *, name: str = "main", map_size: int = 1 << 32) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.name = name.encode()
        self.env = lmdb.open(
            str(self.path), map_size=map_size, subdir=True, max_dbs=4, sync=True, metasync=True
        )
        self.saves = 0

    def save(self, engine: Engine, position: Any) -> None:
        """Atomically replace the checkpoint with ``engine``'s state at source ``position``."""
        blob = pickle.dumps((_FORMAT, engine, position), protocol=pickle.HIGHEST_PROTOCOL)
        with self.env.begin(write=True) as txn:
            txn.put(self.name, blob)
        self.saves += 1

    def load(self) -> tuple[Engine, Any] | tuple[None, None]:
        """The saved (engine, position), or ``(None, None)`` when there is none yet."""
        with self.env.begin() as txn:
            blob = txn.get(self.name)
        if blob is None:
            return None, None
        try:
            fmt, engine, position = pickle.loads(bytes(blob))
        except Exception as exc:  # a damaged or foreign file
            raise CheckpointError(f"unreadable checkpoint in {self.path}: {exc}") from exc
        if fmt != _FORMAT:
            raise CheckpointError(f"checkpoint format {fmt} in {self.path}, expected {_FORMAT}")
        return engine, position

    def close(self) -> None:
        self.env.close()
