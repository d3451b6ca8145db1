"""LMDB block store: atomic block commits, indexes, batches, consensus records, map growth."""

from __future__ import annotations

from pathlib import Path

import pytest

from finchain.chain.storage import BlockStore, StorageError, state_key
from finchain.chain.types import Batch, BlockHeader, Payload, Receipt, Transaction
from finchain.crypto import get_suite

SUITE = get_suite("intl")


def _header(height: int, digests: tuple[bytes, ...] = (), n: int = 0) -> BlockHeader:
    return BlockHeader(
        height=height,
        parent_hash=bytes([height % 256]) * 32,
        timestamp=1000 + height,
        proposer=height % 4,
        block_id=b"\xbb" * 32,
        payload_hash=b"\xcc" * 32,
        batch_digests=digests,
        tx_count=n,
        tx_root=b"\x00" * 32,
        receipt_root=b"\x00" * 32,
        state_digest=bytes([height % 256]) * 32,
        proof=b"proof-%d" % height,
        suite_name=SUITE.name,
    )


def test_blocks_indexes_state_and_reopen(tmp_path: Path) -> None:
    key = SUITE.generate_key()
    txs = [
        Transaction.create(SUITE, key, contract="c", method="m", args={"i": i}, block_limit=5)
        for i in range(3)
    ]
    batch = Batch(txs, SUITE)
    with BlockStore(tmp_path, suite=SUITE) as store:
        assert store.last_height == -1
        store.init_genesis(b"\x01" * 32, _header(0), {state_key("c", b"k"): b"v0"})
        assert store.last_height == 0
        store.put_batches([(batch.digest, batch.encode())])
        assert store.pending_batches() == [batch.digest]
        receipts = [Receipt(t.hash, 0, i) for i, t in enumerate(txs)]
        header = _header(1, (batch.digest,), 3)
        store.commit_block(
            header,
            receipts,
            [txs[0].hash, txs[1].hash, None],
            {state_key("c", b"k"): None, state_key("c", b"n"): b"\x05"},
        )
        with pytest.raises(StorageError):
            store.commit_block(_header(3), [], [], {})
        with pytest.raises(StorageError):
            store.init_genesis(b"\x02" * 32, _header(0), {})
    with BlockStore(tmp_path, suite=SUITE) as store:
        assert store.last_height == 1
        assert store.genesis_hash == b"\x01" * 32
        assert store.pending_batches() == []
        assert store.batch_height(batch.digest) == 1
        block = store.get_block(1)
        assert block is not None and block.header == header
        assert [t.hash for t in block.transactions] == [t.hash for t in txs]
        assert [r.return_value for r in block.receipts] == [0, 1, 2]
        assert store.get_header_by_hash(header.hash) == header
        assert store.get_tx_location(txs[1].hash) == (1, 1)
        assert store.get_tx_location(txs[2].hash) is None  # not indexed on purpose
        found = store.get_receipt(txs[1].hash)
        assert found is not None and found[2].return_value == 1
        got = store.get_transaction(txs[0].hash)
        assert got is not None and got[2] == txs[0]
        assert store.has_txs([txs[0].hash, txs[2].hash]) == [True, False]
        assert store.get_state(state_key("c", b"k")) is None
        assert list(store.scan_state(b"c\x00")) == [(b"c\x00n", b"\x05")]
        rec = store.get_commit_record(1)
        assert rec is not None and rec.proof == b"proof-1"
        assert Payload.decode(rec.payload).batch_digests == (batch.digest,)


def test_consensus_records_and_pending_batches(tmp_path: Path) -> None:
    with BlockStore(tmp_path, suite=SUITE) as store:
        store.persist("vote", b"1")
        store.persist("lock", b"a")
        store.persist("vote", b"2")
        store.put_batches([(b"\x01" * 32, b"x"), (b"\x02" * 32, b"y")])
        assert store.delete_batches([b"\x01" * 32]) == 1
    with BlockStore(tmp_path, suite=SUITE) as store:
        assert dict(store.persisted()) == {"vote": b"2", "lock": b"a"}
        assert store.pending_batches() == [b"\x02" * 32]


def test_map_grows_when_full(tmp_path: Path) -> None:
    with BlockStore(tmp_path, suite=SUITE, map_size=64 * 1024) as store:
        store.init_genesis(b"\x01" * 32, _header(0), {})
        big = {state_key("c", i.to_bytes(4, "big")): b"x" * 1000 for i in range(500)}
        store.commit_block(_header(1), [], [], big)
        assert store.map_size > 64 * 1024
        assert store.get_state(state_key("c", (499).to_bytes(4, "big"))) == b"x" * 1000
