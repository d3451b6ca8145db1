"""Dense integer ids for keys, a batch at a time.

Non-negative integer keys (card numbers, account ids) are looked up in a direct-address numpy
table, so interning a batch is one gather; any other key (strings, tuples) goes through a dict.

>>> ki = KeyIndex()
>>> ki.lookup([7, 3, 7]).tolist(), ki.lookup([3, 9]).tolist(), ki.key(2)
([0, 1, 0], [1, 2], 9)
>>> ki2 = KeyIndex()
>>> ki2.lookup(["a", "b", "a"]).tolist()
[0, 1, 0]
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

__all__ = ["KeyIndex"]

_TABLE_LIMIT = 1 << 26


class KeyIndex:
    """Key → dense id (0, 1, 2 … in order of first appearance)."""

    def __init__(self) -> None:
        self.keys: list[Hashable] = []
        self.ids: dict[Hashable, int] = {}
        self.table: np.ndarray | None = np.full(1024, -1, np.int64)
        self._arr: np.ndarray | None = None  # keys as an array (table mode), grown on demand

    def __len__(self) -> int:
        return len(self.keys)

    def key(self, i: int) -> Hashable:
        return self.keys[i]

    def get(self, key: Hashable) -> int | None:
        return self.ids.get(key)

    def lookup(self, keys: Sequence[Hashable] | np.ndarray) -> np.ndarray:
        """Ids of ``keys`` (new keys get new ids), as an int64 array."""
        if self.table is not None:
            arr = keys if isinstance(keys, np.ndarray) else np.asarray(keys)
            if arr.dtype.kind in "iu" and (
                len(arr) == 0 or (int(arr.min()) >= 0 and int(arr.max()) < _TABLE_LIMIT)
            ):
                return self._lookup_table(arr.astype(np.int64, copy=False))
            self.table = None  # keys that do not fit: dict mode from now on
        return self._lookup_dict(keys)

    def _lookup_table(self, arr: np.ndarray) -> np.ndarray:
        table = self.table
        assert table is not None
        if len(arr) == 0:
            return np.zeros(0, np.int64)
        top = int(arr.max())
        if top >= len(table):
            size = len(table)
            while size <= top:
                size *= 2
            grown = np.full(size, -1, np.int64)
            grown[: len(table)] = table
            table = self.table = grown
        idx = table[arr]
        if (idx < 0).any():
            new = arr[idx < 0]
            _, first = np.unique(new, return_index=True)
            fresh = new[np.sort(first)]
            ids = np.arange(len(self.keys), len(self.keys) + len(fresh), dtype=np.int64)
            table[fresh] = ids
            for k, i in zip(fresh.tolist(), ids.tolist(), strict=True):
                self.ids[k] = i
            self.keys.extend(fresh.tolist())
            idx = table[arr]
        return idx

    def _lookup_dict(self, keys: Sequence[Hashable] | np.ndarray) -> np.ndarray:
        seq: Any = keys.tolist() if isinstance(keys, np.ndarray) else keys
        ids = self.ids
        get = ids.get
        out = [get(k, -1) for k in seq]
        if -1 in out:
            for i, v in enumerate(out):
                if v == -1:
                    k = seq[i]
                    got = ids.get(k)
                    if got is None:
                        got = ids[k] = len(self.keys)
                        self.keys.append(k)
                    out[i] = got
        return np.asarray(out, dtype=np.int64)

    def key_array(self, idx: np.ndarray) -> Any:
        """Keys of ids ``idx``: an int64 array for integer keys, else a list."""
        if self.table is None:
            return self.keys_of(idx)
        arr = self._arr
        if arr is None or len(arr) < len(self.keys):
            old = 0 if arr is None else len(arr)
            tail = np.asarray(self.keys[old:], dtype=np.int64)
            arr = self._arr = tail if arr is None else np.concatenate([arr, tail])
        return arr[idx]

    def keys_of(self, idx: np.ndarray) -> list[Hashable]:
        keys = self.keys
        return [keys[i] for i in idx.tolist()]
