"""The gateway's reading store (LMDB): every accepted reading, its batch and its Merkle proof.

Keys: ``r/<reading id>`` → reading + signature + batch + index; ``b/<batch id>`` → root and
leaf list. A reading id is ``<device id>:<counter>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lmdb
import orjson

from finchain.crypto import get_suite
from finchain.crypto.merkle import MerkleProof, MerkleTree
from finchain.scf.iot.reading import DEVICE_SUITE, leaf


def reading_id(reading: dict[str, Any]) -> str:
    return f"{reading['device']}:{reading['counter']}"


class ReadingStore:
    """Accepted readings and anchored batches, crash-safe (one LMDB write per batch)."""

    def __init__(self, path: Path, *, map_size: int = 1 << 30) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self._env = lmdb.open(str(path), map_size=map_size, subdir=True, max_dbs=0)

    def close(self) -> None:
        self._env.close()

    def save_batch(
        self, batch_id: str, readings: list[tuple[dict[str, Any], bytes]]
    ) -> tuple[bytes, MerkleTree]:
        """Store a batch; returns its Merkle root and tree (leaves in arrival order)."""
        tree = MerkleTree(get_suite(DEVICE_SUITE), [leaf(r, s) for r, s in readings])
        with self._env.begin(write=True) as txn:
            ids = []
            for index, (reading, sig) in enumerate(readings):
                rid = reading_id(reading)
                ids.append(rid)
                record = {"reading": reading, "sig": sig.hex(), "batch": batch_id, "index": index}
                txn.put(f"r/{rid}".encode(), orjson.dumps(record))
            txn.put(
                f"b/{batch_id}".encode(),
                orjson.dumps({"root": tree.root.hex(), "ids": ids, "anchored": False}),
            )
        return tree.root, tree

    def mark_anchored(self, batch_id: str, where: str) -> None:
        with self._env.begin(write=True) as txn:
            key = f"b/{batch_id}".encode()
            raw = txn.get(key)
            if raw is None:
                raise KeyError(batch_id)
            batch = orjson.loads(raw)
            batch["anchored"] = where
            txn.put(key, orjson.dumps(batch))

    def batch(self, batch_id: str) -> dict[str, Any] | None:
        with self._env.begin() as txn:
            raw = txn.get(f"b/{batch_id}".encode())
        return None if raw is None else orjson.loads(raw)

    def reading(self, rid: str) -> dict[str, Any] | None:
        with self._env.begin() as txn:
            raw = txn.get(f"r/{rid}".encode())
        return None if raw is None else orjson.loads(raw)

    def proof(self, rid: str) -> dict[str, Any]:
        """Everything needed to check reading ``rid`` against the root anchored on chain."""
        record = self.reading(rid)
        if record is None:
            raise KeyError(rid)
        batch = self.batch(record["batch"])
        assert batch is not None
        readings = []
        for other in batch["ids"]:
            r = self.reading(other)
            assert r is not None
            readings.append((r["reading"], bytes.fromhex(r["sig"])))
        tree = MerkleTree(get_suite(DEVICE_SUITE), [leaf(r, s) for r, s in readings])
        proof: MerkleProof = tree.proof(record["index"])
        return {
            "reading_id": rid,
            "reading": record["reading"],
            "signature": record["sig"],
            "batch": record["batch"],
            "root": batch["root"],
            "anchored": batch["anchored"],
            "proof": proof.encode().hex(),
        }

    def count(self) -> int:
        with self._env.begin() as txn:
            return sum(1 for k, _ in txn.cursor() if k.startswith(b"r/"))
