"""Crash safety: a writer process killed with SIGKILL at arbitrary instants leaves a store that
reopens consistent — the last block complete, and the state equal to a re-execution."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from finchain.chain.contracts import builtin_registry
from finchain.chain.execution.executor import BlockExecutor
from finchain.chain.genesis import Genesis, MemberSpec, ValidatorSpec
from finchain.chain.storage import BlockStore
from finchain.chain.types import Batch, Payload
from finchain.crypto import get_suite

WRITER = r"""
import sys, random
from pathlib import Path
from finchain.chain.contracts import builtin_registry
from finchain.chain.execution.executor import BlockExecutor
from finchain.chain.genesis import Genesis
from finchain.chain.storage import BlockStore
from finchain.chain.types import Batch, Payload, Transaction
from finchain.crypto import get_suite

data, genesis_path, keys_path = sys.argv[1:4]
suite = get_suite("intl")
genesis = Genesis.load(genesis_path)
keys = [suite.load_private_key(bytes.fromhex(h)) for h in Path(keys_path).read_text().split()]
addrs = [suite.address(k.public_key()) for k in keys]
store = BlockStore(data, suite=suite, map_size=256 * 1024)  # small: growth happens mid-run
reg = builtin_registry()
genesis.initialize(store, reg)
ex = BlockExecutor(store, reg, chain_id=genesis.chain_id, signature_checker=None)
rng = random.Random()
print("ready", flush=True)
while True:
    h = store.last_height + 1
    batches = []
    for _ in range(rng.randint(1, 3)):
        txs = []
        for _ in range(rng.randint(1, 40)):
            s, d = rng.randrange(len(keys)), rng.randrange(len(keys))
            txs.append(Transaction.create(suite, keys[s], contract="transfer", method="transfer",
                        args={"to": addrs[d], "amount": rng.randint(1, 300)},
                        block_limit=h + 5, chain_id=genesis.chain_id))
        batches.append(Batch(txs, suite))
    # some batches arrive before their block (pending), as in a node
    store.put_batches([(b.digest, b.encode()) for b in batches[:1]])
    payload = Payload(proposer=h % 4, timestamp=h, batch_digests=tuple(b.digest for b in batches))
    ex.apply(height=h, block_id=suite.hash(b"%d" % h), payload=payload, proof=b"p",
             batches={b.digest: b for b in batches})
"""


def _check_consistent(data: Path, genesis: Genesis, scratch: Path) -> int:
    suite = get_suite("intl")
    reg = builtin_registry()
    with BlockStore(data, suite=suite) as store:
        last = store.last_height
        assert last >= 0
        assert store.get_header(last + 1) is None
        # replay every block into a fresh store and compare
        with BlockStore(scratch, suite=suite) as fresh:
            genesis.initialize(fresh, reg)
            ex = BlockExecutor(fresh, reg, chain_id=genesis.chain_id, signature_checker=None)
            for h in range(1, last + 1):
                header = store.get_header(h)
                assert header is not None
                receipts = store.get_receipts(h)
                txs = store.get_transactions(header)
                assert len(receipts) == len(txs) == header.tx_count
                for pos, r in enumerate(receipts):
                    if r.status != 2:
                        assert store.get_tx_location(r.tx_hash) == (h, pos)
                rec = store.get_commit_record(h)
                assert rec is not None
                batches = {
                    d: Batch.decode(store.get_batch(d) or b"", suite) for d in header.batch_digests
                }
                done = ex.apply(
                    height=h,
                    block_id=rec.block_id,
                    payload=Payload.decode(rec.payload),
                    proof=rec.proof,
                    batches=batches,
                )
                assert done.header == header
            assert list(fresh.scan_state(b"")) == list(store.scan_state(b""))
    return last


@pytest.mark.xdist_group("crash")
def test_sigkill_mid_write_leaves_store_consistent(tmp_path: Path) -> None:
    suite = get_suite("intl")
    keys = [suite.generate_key() for _ in range(6)]
    genesis = Genesis(
        chain_id="crash",
        suite="intl",
        validators=(
            ValidatorSpec(
                index=0,
                node_id="v0",
                org="o",
                public_key=keys[0].public_key().to_bytes(),
                host="127.0.0.1",
                port=1,
            ),
        ),
        members=(MemberSpec(org="o", name="O", admins=(keys[0].public_key().to_bytes(),)),),
        balances=tuple((suite.address(k.public_key()), 10_000) for k in keys),
        contracts=(("transfer", b""),),
    )
    gpath = tmp_path / "genesis.json"
    genesis.save(gpath)
    kpath = tmp_path / "keys.txt"
    kpath.write_text(" ".join(k.to_bytes().hex() for k in keys))
    data = tmp_path / "node"
    rng = random.Random(7)
    heights = []
    for round_ in range(4):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(data), str(gpath), str(kpath)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.strip() == b"ready", proc.stderr.read() if proc.stderr else b""
            time.sleep(rng.uniform(0.3, 1.2))
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        heights.append(_check_consistent(data, genesis, tmp_path / f"replay{round_}"))
    assert heights[-1] > 0, heights
    assert heights == sorted(heights)
    print("heights after each kill:", heights)
