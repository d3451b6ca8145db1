"""A model registry on disk: versions, data fingerprints, metrics, timestamps and status.

Layout of a model directory::

    DIR/registry.json         {"champion": "v0002", "versions": [{version, kind, status, ...}]}
    DIR/v0001/pipeline.pkl    the pickled :class:`~finchain.risk.pipeline.RiskPipeline`
    DIR/v0001/meta.json       the same record as in registry.json, plus the full metrics

Every write goes to a temporary file first and is moved into place with ``os.replace`` under an
exclusive ``flock``, so a reader (the scoring service) sees either the old or the new registry,
never half of one. Status is one of ``champion``, ``challenger`` or ``retired``; exactly one
version is champion.

Pickles run code when loaded: only load model directories you wrote yourself.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from finchain.risk.errors import ModelNotFoundError
from finchain.risk.pipeline import RiskPipeline

STATUSES = ("champion", "challenger", "retired")


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class ModelRegistry:
    """Versions of one model family in one directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def index_path(self) -> Path:
        return self.root / "registry.json"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def read_index(self) -> dict[str, Any]:
        if not self.index_path.is_file():
            raise ModelNotFoundError(f"no model registry in {self.root} (train one first)")
        return dict(json.loads(self.index_path.read_text(encoding="utf-8")))

    def _write_index(self, index: dict[str, Any]) -> None:
        _atomic_write(self.index_path, json.dumps(index, indent=2, default=float).encode())

    def versions(self) -> list[dict[str, Any]]:
        return list(self.read_index()["versions"])

    def champion(self) -> str:
        return str(self.read_index()["champion"])

    def add(
        self,
        pipeline: RiskPipeline,
        *,
        data_sha256: list[str],
        metrics: dict[str, Any],
        status: str = "challenger",
        parent: str | None = None,
        note: str = "",
    ) -> str:
        """Store a new version; with ``status="champion"`` it is promoted at once."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        with self._locked():
            index = (
                self.read_index()
                if self.index_path.is_file()
                else {"champion": None, "versions": []}
            )
            version = f"v{len(index['versions']) + 1:04d}"
            vdir = self.root / version
            vdir.mkdir(parents=True, exist_ok=False)
            record = {
                "version": version,
                "kind": pipeline.kind,
                "status": "challenger",
                "created": _now(),
                "data_sha256": data_sha256,
                "metrics": _flat(metrics),
                "parent": parent,
                "note": note,
            }
            _atomic_write(vdir / "pipeline.pkl", pickle.dumps(pipeline, protocol=5))
            _atomic_write(vdir / "meta.json", json.dumps(record, indent=2, default=float).encode())
            index["versions"].append(record)
            if status == "champion" or index["champion"] is None:
                self._promote_in(index, version)
            self._write_index(index)
            return version

    def promote(self, version: str) -> None:
        """Make ``version`` the champion; the previous champion is retired."""
        with self._locked():
            index = self.read_index()
            self._promote_in(index, version)
            self._write_index(index)

    @staticmethod
    def _promote_in(index: dict[str, Any], version: str) -> None:
        found = False
        for rec in index["versions"]:
            if rec["version"] == version:
                rec["status"] = "champion"
                rec["promoted"] = _now()
                found = True
            elif rec["status"] == "champion":
                rec["status"] = "retired"
                rec["retired"] = _now()
        if not found:
            raise ModelNotFoundError(f"no version {version!r} in the registry")
        index["champion"] = version

    def load(self, version: str | None = None) -> tuple[str, RiskPipeline]:
        """Load a version (default: the champion)."""
        version = version or self.champion()
        path = self.root / version / "pipeline.pkl"
        if not path.is_file():
            raise ModelNotFoundError(f"no version {version!r} in {self.root}")
        with open(path, "rb") as fh:
            pipe = pickle.load(fh)
        if not isinstance(pipe, RiskPipeline):
            raise ModelNotFoundError(f"{path} does not hold a risk pipeline")
        return version, pipe

    def record(self, version: str) -> dict[str, Any]:
        for rec in self.versions():
            if rec["version"] == version:
                return rec
        raise ModelNotFoundError(f"no version {version!r} in the registry")


def _flat(metrics: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (round(v, 6) if isinstance(v, float) else v)
        for k, v in metrics.items()
        if isinstance(v, int | float | str | bool) or v is None
    }
