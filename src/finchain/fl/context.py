"""What a role function gets: the channel, the job, its own party spec, and a progress hook."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from finchain.fl.data import read_table
from finchain.fl.job import JobSpec, PartySpec
from finchain.fl.transport.base import Channel


@dataclass
class PartyContext:
    """One party's running state."""

    job: JobSpec
    me: PartySpec
    channel: Channel
    workdir: Path
    emit_lines: bool = True
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def base_dir(self) -> Path:
        """Folder of the job file (data paths are relative to it)."""
        return Path(self.job.base_dir)

    def names(self, role: str) -> list[str]:
        """Names of the parties with ``role``."""
        return [p.name for p in self.job.by_role(role)]

    def read(self, which: str | None = None) -> pd.DataFrame:
        """This party's table (``data`` or ``test_data``)."""
        path = which or self.me.data
        if path is None:
            raise ValueError(f"party {self.me.name} has no data")
        return read_table(path, self.base_dir)

    def emit(self, event: str, **fields: Any) -> None:
        """Report an event (a JSON line on stdout for the coordinator)."""
        rec = {"event": event, "party": self.me.name, "t": round(time.time(), 3), **fields}
        self.events.append(rec)
        if self.emit_lines:
            sys.stdout.write(json.dumps(rec, default=_json_default) + "\n")
            sys.stdout.flush()

    def progress(self, metrics: dict[str, Any]) -> None:
        """Per-round metrics."""
        self.emit("progress", **metrics)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)
