"""The LMDB block store.

One environment (``<dir>/ledger/``) holds named databases:

============== ================================ =========================================
database       key                              value
============== ================================ =========================================
``meta``       ``b"last_height"`` …             8-byte big-endian height, genesis hash, …
``headers``    height (u64be)                   :meth:`BlockHeader.encode`
``hashes``     header hash                      height (u64be)
``receipts``   height (u64be)                   encoded list of receipt arrays of the block
``txindex``    transaction hash                 height (u64be) ‖ position (u32be)
``state``      contract ‖ 0x00 ‖ key            value
``batches``    batch digest                     :meth:`Batch.encode` (pending and committed)
``batchheight`` batch digest                    height (u64be) it committed at
``pending``    batch digest                     empty (stored, not yet in a block)
``consensus``  utf-8 key                        :class:`~finchain.chain.consensus.base.Persist`
============== ================================ =========================================

**Crash safety.** :meth:`BlockStore.commit_block` writes header, hash index, receipts, transaction
index, state changes, batch heights and ``last_height`` in *one* LMDB write transaction: after a
process crash at any instant the store reopens with either all of block ``h`` or none of it.
Data pages are fsynced at each commit and the meta page lazily (LMDB's ``NOMETASYNC``): a power
cut may roll back the last committed block (the node fetches it again) but cannot corrupt the
file. Consensus safety records (:meth:`BlockStore.persist`) are followed by a full
``env.sync(force=True)``, so they are on disk before :meth:`persist` returns.

**Growth.** The map starts at ``map_size`` (8 GiB of address space by default; the file itself
grows only as pages are used) and doubles whenever a write finds it full; the failed
transaction is retried with the same data. LMDB resizes only while no transaction of this
process is open, which the large default makes a rare event.
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import lmdb

from finchain.chain.codec import decode, encode_trusted
from finchain.chain.storage.errors import StorageError
from finchain.chain.types import (
    Batch,
    Block,
    BlockHeader,
    Digest,
    Height,
    Payload,
    Receipt,
    Transaction,
)
from finchain.crypto import CryptoSuite

T = TypeVar("T")

_U64 = struct.Struct(">Q")
_LOC = struct.Struct(">QI")
_DBS = (
    "meta",
    "headers",
    "hashes",
    "receipts",
    "txindex",
    "state",
    "batches",
    "batchheight",
    "pending",
    "consensus",
)
DEFAULT_MAP_SIZE = 8 << 30  # address space only: the file grows with use (no WRITEMAP)
_MAX_MAP_SIZE = 1 << 40


def state_key(contract: str, key: bytes) -> bytes:
    """The store's key for ``key`` in ``contract``'s namespace.

    >>> state_key("transfer", b"\\x01")
    b'transfer\\x00\\x01'
    """
    return contract.encode() + b"\x00" + key


@dataclass(frozen=True, slots=True)
class CommitRecord:
    """What consensus committed at a height: enough for a lagging peer to replay the decision."""

    height: Height
    block_id: bytes
    payload: bytes
    proof: bytes


class BlockStore:
    """Blocks, receipts, transaction index, state, batches and consensus records in one LMDB env.

    Open one per node directory per process (LMDB forbids opening an environment twice in one
    process). Reads are thread-safe; writes are serialised by an internal lock.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        suite: CryptoSuite,
        map_size: int = DEFAULT_MAP_SIZE,
        sync: bool = True,
    ) -> None:
        self.path = Path(path)
        self.suite = suite
        env_dir = self.path / "ledger"
        env_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._env = lmdb.open(
                str(env_dir),
                map_size=map_size,
                max_dbs=len(_DBS) + 2,
                sync=sync,
                # data pages are synced at every commit, the meta page lazily: a power cut can
                # lose the last committed block (consensus re-delivers it) but never corrupt the
                # store; persist() syncs fully because consensus safety records must survive.
                metasync=False,
                readahead=False,
                max_readers=256,
            )
        except lmdb.Error as exc:
            raise StorageError(f"cannot open block store at {env_dir}: {exc}") from exc
        self._dbs = {name: self._env.open_db(name.encode()) for name in _DBS}
        self._meta = self._dbs["meta"]
        self._headers = self._dbs["headers"]
        self._hashes = self._dbs["hashes"]
        self._receipts = self._dbs["receipts"]
        self._txindex = self._dbs["txindex"]
        self._state = self._dbs["state"]
        self._batches = self._dbs["batches"]
        self._batchheight = self._dbs["batchheight"]
        self._pending = self._dbs["pending"]
        self._consensus = self._dbs["consensus"]
        self._write_lock = threading.Lock()
        self._closed = False

    # -- lifecycle -----------------------------------------------------------------------------
    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._env.close()

    def __enter__(self) -> BlockStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def map_size(self) -> int:
        return int(self._env.info()["map_size"])

    def _write(self, fn: Callable[[lmdb.Transaction], T]) -> T:
        """Run ``fn`` in one write transaction, growing the map and retrying when it is full."""
        with self._write_lock:
            while True:
                try:
                    with self._env.begin(write=True) as txn:
                        return fn(txn)
                except lmdb.MapFullError:
                    size = self.map_size
                    if size >= _MAX_MAP_SIZE:
                        raise StorageError(f"block store at {self.path} is full") from None
                    try:
                        self._env.set_mapsize(size * 2)
                    except lmdb.Error as exc:
                        raise StorageError(
                            f"block store at {self.path} is full and cannot grow: {exc}"
                        ) from exc

    # -- metadata ------------------------------------------------------------------------------
    @property
    def last_height(self) -> Height:
        """Height of the last committed block; 0 after genesis; -1 for an empty store."""
        with self._env.begin() as txn:
            raw = txn.get(b"last_height", db=self._meta)
        return -1 if raw is None else _U64.unpack(raw)[0]

    @property
    def genesis_hash(self) -> bytes | None:
        with self._env.begin() as txn:
            raw = txn.get(b"genesis_hash", db=self._meta)
        return None if raw is None else bytes(raw)

    def get_meta(self, key: str) -> bytes | None:
        with self._env.begin() as txn:
            raw = txn.get(b"x:" + key.encode(), db=self._meta)
        return None if raw is None else bytes(raw)

    def put_meta(self, key: str, value: bytes) -> None:
        """Store a small node-local value (not part of consensus state)."""
        self._write(lambda txn: txn.put(b"x:" + key.encode(), value, db=self._meta))

    # -- genesis and blocks --------------------------------------------------------------------
    def init_genesis(
        self, genesis_hash: bytes, header: BlockHeader, state_writes: dict[bytes, bytes]
    ) -> None:
        """Write block 0 and the genesis state once (again with the same hash: a no-op)."""
        existing = self.genesis_hash
        if existing is not None:
            if existing != genesis_hash:
                raise StorageError(
                    f"store at {self.path} belongs to another chain "
                    f"(genesis {existing.hex()[:16]}…, not {genesis_hash.hex()[:16]}…)"
                )
            return
        if header.height != 0:
            raise StorageError("the genesis header must have height 0")

        def write(txn: lmdb.Transaction) -> None:
            txn.put(b"genesis_hash", genesis_hash, db=self._meta)
            self._put_block(txn, header, [], [], state_writes)

        self._write(write)

    def _put_block(
        self,
        txn: lmdb.Transaction,
        header: BlockHeader,
        receipts: Sequence[Receipt] | bytes,
        tx_hashes: Sequence[bytes | None],
        state_writes: dict[bytes, bytes | None] | dict[bytes, bytes],
    ) -> None:
        h = _U64.pack(header.height)
        txn.put(h, header.encode(), db=self._headers)
        txn.put(header.hash_with(self.suite), h, db=self._hashes)
        if isinstance(receipts, bytes):
            txn.put(h, receipts, db=self._receipts)
        else:
            txn.put(h, encode_trusted([r.to_list() for r in receipts]), db=self._receipts)
        height = header.height
        pack = _LOC.pack
        index = [(th, pack(height, i)) for i, th in enumerate(tx_hashes) if th is not None]
        if index:
            txn.cursor(db=self._txindex).putmulti(index, overwrite=False)
        puts = []
        state = self._state
        for key, value in state_writes.items():
            if value is None:
                txn.delete(key, db=state)
            else:
                puts.append((key, value))
        if puts:
            txn.cursor(db=state).putmulti(puts)
        for digest in header.batch_digests:
            txn.put(digest, h, db=self._batchheight)
            txn.delete(digest, db=self._pending)
        txn.put(b"last_height", h, db=self._meta)

    def commit_block(
        self,
        header: BlockHeader,
        receipts: Sequence[Receipt] | bytes,
        tx_hashes: Sequence[bytes | None],
        state_writes: dict[bytes, bytes | None],
        *,
        new_batches: Sequence[tuple[Digest, bytes]] = (),
    ) -> None:
        """Atomically store block ``header.height`` (which must follow :attr:`last_height`).

        ``receipts`` are the block's receipts (or their pre-encoded list); ``tx_hashes`` the
        hashes to index, position by position (``None`` for a transaction that must not be
        indexed, e.g. a rejected replay); ``state_writes`` full state keys → new value or ``None``
        to delete; ``new_batches`` ``(digest, bytes)`` of the block's batches not stored yet.
        Everything lands in one write transaction.
        """

        def write(txn: lmdb.Transaction) -> None:
            raw = txn.get(b"last_height", db=self._meta)
            last = -1 if raw is None else _U64.unpack(raw)[0]
            if header.height != last + 1:
                raise StorageError(
                    f"block {header.height} does not follow the last stored block {last}"
                )
            if new_batches:
                txn.cursor(db=self._batches).putmulti(list(new_batches), overwrite=False)
            self._put_block(txn, header, receipts, tx_hashes, state_writes)

        self._write(write)

    def get_header(self, height: Height) -> BlockHeader | None:
        with self._env.begin() as txn:
            raw = txn.get(_U64.pack(height), db=self._headers)
        return None if raw is None else BlockHeader.decode(bytes(raw), self.suite.name)

    def get_header_by_hash(self, block_hash: bytes) -> BlockHeader | None:
        with self._env.begin() as txn:
            raw = txn.get(block_hash, db=self._hashes)
            if raw is None:
                return None
            data = txn.get(raw, db=self._headers)
        return None if data is None else BlockHeader.decode(bytes(data), self.suite.name)

    def get_receipts(self, height: Height) -> list[Receipt]:
        with self._env.begin() as txn:
            raw = txn.get(_U64.pack(height), db=self._receipts)
        if raw is None:
            return []
        return [Receipt.from_list(r) for r in decode(bytes(raw))]

    def get_transactions(self, header: BlockHeader) -> list[Transaction]:
        """The block's transactions in execution order (read back from its batches)."""
        out: list[Transaction] = []
        with self._env.begin() as txn:
            for digest in header.batch_digests:
                raw = txn.get(digest, db=self._batches)
                if raw is None:
                    raise StorageError(
                        f"batch {digest.hex()[:16]}… of block {header.height} is missing"
                    )
                out.extend(Batch.decode(bytes(raw), self.suite).transactions)
        return out

    def get_block(self, height: Height, *, with_receipts: bool = True) -> Block | None:
        header = self.get_header(height)
        if header is None:
            return None
        txs = self.get_transactions(header)
        receipts = self.get_receipts(height) if with_receipts else []
        return Block(header, tuple(txs), tuple(receipts))

    def get_commit_record(self, height: Height) -> CommitRecord | None:
        """``(height, block_id, payload, proof)`` as consensus committed it (for peer catch-up)."""
        header = self.get_header(height)
        if header is None or height == 0:
            return None
        payload = Payload(header.proposer, header.timestamp, header.batch_digests).encode()
        return CommitRecord(height, header.block_id, payload, header.proof)

    # -- transactions and receipts -------------------------------------------------------------
    def get_tx_location(self, tx_hash: bytes) -> tuple[Height, int] | None:
        """``(height, position)`` where ``tx_hash`` committed, or ``None``."""
        with self._env.begin() as txn:
            raw = txn.get(tx_hash, db=self._txindex)
        if raw is None:
            return None
        height, pos = _LOC.unpack(raw)
        return height, pos

    def has_tx(self, tx_hash: bytes) -> bool:
        with self._env.begin() as txn:
            return txn.get(tx_hash, db=self._txindex) is not None

    def has_txs(self, tx_hashes: Sequence[bytes]) -> list[bool]:
        """Membership of many hashes in the transaction index, in one read transaction."""
        with self._env.begin() as txn:
            get = txn.get
            db = self._txindex
            return [get(h, db=db) is not None for h in tx_hashes]

    def get_receipt(self, tx_hash: bytes) -> tuple[Height, int, Receipt] | None:
        loc = self.get_tx_location(tx_hash)
        if loc is None:
            return None
        height, pos = loc
        receipts = self.get_receipts(height)
        if pos >= len(receipts):
            raise StorageError(f"receipt {pos} of block {height} is missing")
        return height, pos, receipts[pos]

    def get_transaction(self, tx_hash: bytes) -> tuple[Height, int, Transaction] | None:
        loc = self.get_tx_location(tx_hash)
        if loc is None:
            return None
        height, pos = loc
        header = self.get_header(height)
        if header is None:
            raise StorageError(f"block {height} indexed but missing")
        return height, pos, self.get_transactions(header)[pos]

    # -- state ---------------------------------------------------------------------------------
    def read_txn(self) -> lmdb.Transaction:
        """A read transaction (a consistent snapshot); use as a context manager."""
        return self._env.begin(db=self._state, buffers=False)

    def get_state(self, key: bytes) -> bytes | None:
        with self._env.begin() as txn:
            raw = txn.get(key, db=self._state)
        return None if raw is None else bytes(raw)

    def scan_state(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Committed state entries whose full key starts with ``prefix``, in key order."""
        with self._env.begin() as txn:
            cur = txn.cursor(db=self._state)
            items: list[tuple[bytes, bytes]] = []
            if cur.set_range(prefix):
                for key, value in cur:
                    if not key.startswith(prefix):
                        break
                    items.append((bytes(key), bytes(value)))
        yield from items

    def state_db(self) -> Any:
        """The LMDB handle of the state database (for :meth:`read_txn` users)."""
        return self._state

    # -- batches -------------------------------------------------------------------------------
    def put_batches(self, batches: Sequence[tuple[Digest, bytes]]) -> None:
        """Store received batches (pending until a block commits them), in one transaction."""
        if not batches:
            return

        def write(txn: lmdb.Transaction) -> None:
            txn.cursor(db=self._batches).putmulti(list(batches), overwrite=False)
            committed = self._batchheight
            fresh = [(d, b"") for d, _ in batches if txn.get(d, db=committed) is None]
            if fresh:
                txn.cursor(db=self._pending).putmulti(fresh)

        self._write(write)

    def get_batch(self, digest: Digest) -> bytes | None:
        with self._env.begin() as txn:
            raw = txn.get(digest, db=self._batches)
        return None if raw is None else bytes(raw)

    def has_batch(self, digest: Digest) -> bool:
        with self._env.begin() as txn:
            return txn.get(digest, db=self._batches) is not None

    def batch_height(self, digest: Digest) -> Height | None:
        """Height at which batch ``digest`` committed, or ``None`` while pending/unknown."""
        with self._env.begin() as txn:
            raw = txn.get(digest, db=self._batchheight)
        return None if raw is None else _U64.unpack(raw)[0]

    def pending_batches(self) -> list[Digest]:
        """Digests of stored batches not yet committed in a block (in digest order)."""
        with self._env.begin() as txn:
            return [bytes(d) for d, _ in txn.cursor(db=self._pending)]

    def forget_pending(self, digests: Sequence[Digest]) -> int:
        """Take batches off the pending index (not restored after a restart) but keep their
        bytes, so that they can still be served and executed should a block name them."""

        def write(txn: lmdb.Transaction) -> int:
            return sum(1 for d in digests if txn.delete(d, db=self._pending))

        return self._write(write)

    def delete_batches(self, digests: Sequence[Digest]) -> int:
        """Drop *pending* batches (committed ones are kept); returns how many were removed."""

        def write(txn: lmdb.Transaction) -> int:
            n = 0
            for d in digests:
                if txn.delete(d, db=self._pending):
                    txn.delete(d, db=self._batches)
                    n += 1
            return n

        return self._write(write)

    # -- consensus safety records --------------------------------------------------------------
    def persist(self, key: str, value: bytes) -> None:
        """Durably store a consensus safety record (synced to disk before returning)."""
        self._write(lambda txn: txn.put(key.encode(), value, db=self._consensus))
        self._env.sync(True)

    def replace_persisted(self, records: dict[str, bytes]) -> None:
        """Drop every consensus record and store ``records`` instead (synced; offline use only:
        the forge gives each copied validator store its own replica's records)."""

        def write(txn: lmdb.Transaction) -> None:
            txn.drop(self._consensus, delete=False)
            for key, value in records.items():
                txn.put(key.encode(), value, db=self._consensus)

        self._write(write)
        self._env.sync(True)

    def sync(self) -> None:
        """Flush everything to disk (after writes made with ``sync=False``)."""
        self._env.sync(True)

    def persisted(self) -> list[tuple[str, bytes]]:
        """All consensus records (for :func:`finchain.chain.consensus.base.restore`)."""
        with self._env.begin() as txn:
            return [(bytes(k).decode(), bytes(v)) for k, v in txn.cursor(db=self._consensus)]


__all__ = ["DEFAULT_MAP_SIZE", "BlockStore", "CommitRecord", "state_key"]
