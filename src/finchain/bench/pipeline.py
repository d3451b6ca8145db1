"""``finchain bench pipeline``: the Python ledger pipeline's own ceiling on one core.

One node, in-process, no network and no consensus messages: batches of transfer transactions
arrive as bytes (as from peers), are decoded with the canonical checks and stored as pending;
a payload of batch digests is "ordered" (encoded and decoded as consensus would hand it over);
the block is executed (admission checks, transfer contract, receipts, Merkle roots, state digest)
and committed to LMDB in one write transaction. Signature checks are **skipped** (signatures are
random bytes of the real length): their cost is the separate ``sig_ceiling_tps`` of
``finchain bench chain``. Everything runs on one core (one thread).
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from pathlib import Path

import typer


def command(
    quick: bool = typer.Option(False, "--quick", help="About a minute or less."),
    json_path: Path | None = typer.Option(None, "--json", help="Write figures as flat JSON."),
    suite_name: str = typer.Option("gm", "--suite", help="gm (SM3 hashing) or intl (SHA-256)."),
    txs_total: int = typer.Option(0, "--txs", help="Transactions to commit (0 = default)."),
    batch_size: int = typer.Option(500, "--batch-size", help="Transactions per batch."),
    batches_per_block: int = typer.Option(4, "--batches-per-block", help="Batches per block."),
    accounts: int = typer.Option(10_000, "--accounts", help="Funded accounts."),
    data_dir: Path | None = typer.Option(None, "--dir", help="LMDB directory (default: temp)."),
) -> None:
    """Order, execute and commit transfers to LMDB on one node, signatures skipped."""
    from finchain.bench.report import Figure, report, stamp
    from finchain.chain.contracts import builtin_registry
    from finchain.chain.execution.executor import BlockExecutor
    from finchain.chain.genesis import Genesis, MemberSpec
    from finchain.chain.storage import BlockStore
    from finchain.chain.types import Batch, Payload, Transaction
    from finchain.crypto import get_suite

    total = txs_total or (30_000 if quick else 120_000)
    suite = get_suite(suite_name)
    rng = random.Random(42)
    # accounts: random 65-byte "public keys" (signatures are skipped, so no key pairs needed)
    senders = [b"\x04" + rng.randbytes(64) for _ in range(accounts)]
    addrs = [suite.hash(pk)[-20:] for pk in senders]
    admin = suite.generate_key().public_key().to_bytes()
    genesis = Genesis(
        chain_id="bench",
        suite=suite_name,
        members=(MemberSpec(org="bench", name="Bench", admins=(admin,)),),
        balances=tuple((a, 10**12) for a in addrs),
        contracts=(("transfer", b""),),
    )
    block_txs = batch_size * batches_per_block
    n_blocks = max(1, total // block_txs)
    total = n_blocks * block_txs

    # pre-build the batches as wire bytes (what peers would send)
    wire: list[bytes] = []
    for _ in range(n_blocks * batches_per_block):
        txs = []
        for _ in range(batch_size):
            s = rng.randrange(accounts)
            d = rng.randrange(accounts)
            txs.append(
                Transaction(
                    suite,
                    chain_id="bench",
                    sender=senders[s],
                    nonce=rng.randbytes(16),
                    block_limit=1_000_000,
                    contract="transfer",
                    method="transfer",
                    args={"amount": rng.randint(1, 1000), "to": addrs[d]},
                    signature=b"\x30\x45" + rng.randbytes(69),
                )
            )
        wire.append(Batch(txs, suite).encode())
    tx_bytes = sum(len(w) for w in wire) / total

    tmp = tempfile.TemporaryDirectory(prefix="finchain-pipeline-")
    path = data_dir or Path(tmp.name)
    t_decode = t_exec = t_commit = 0.0
    ok = 0
    with BlockStore(path, suite=suite) as store:
        reg = builtin_registry()
        genesis.initialize(store, reg)
        ex = BlockExecutor(store, reg, chain_id="bench", signature_checker=None)
        clock = time.perf_counter
        cpu0 = time.process_time()
        start = clock()
        for h in range(1, n_blocks + 1):
            t0 = clock()
            raw = wire[(h - 1) * batches_per_block : h * batches_per_block]
            batches = [Batch.decode(r, suite) for r in raw]
            store.put_batches([(b.digest, r) for b, r in zip(batches, raw, strict=True)])
            payload = Payload(
                proposer=0, timestamp=h, batch_digests=tuple(b.digest for b in batches)
            ).encode()
            ordered = Payload.decode(payload)
            t1 = clock()
            executed = ex.execute(
                height=h,
                block_id=suite.hash(payload),
                payload=ordered,
                proof=b"",
                batches={b.digest: b for b in batches},
            )
            t2 = clock()
            ex.commit(executed)
            t3 = clock()
            t_decode += t1 - t0
            t_exec += t2 - t1
            t_commit += t3 - t2
            ok += sum(1 for r in executed.receipts if r.status == 0)
        elapsed = clock() - start
        cpu = time.process_time() - cpu0
        db_bytes = sum(f.stat().st_size for f in (path / "ledger").iterdir())
    tmp.cleanup()

    figures: dict[str, Figure] = {
        "tps": round(total / elapsed, 1),
        "tps_per_cpu_second": round(total / cpu, 1),
        "cpu_share": round(cpu / elapsed, 3),
        "txs": total,
        "blocks": n_blocks,
        "txs_per_block": block_txs,
        "committed_ok": ok,
        "elapsed_s": round(elapsed, 3),
        "decode_order_us_per_tx": round(t_decode / total * 1e6, 2),
        "execute_us_per_tx": round(t_exec / total * 1e6, 2),
        "commit_us_per_tx": round(t_commit / total * 1e6, 2),
        "tx_wire_bytes": round(tx_bytes, 1),
        "lmdb_bytes_per_tx": round(db_bytes / total, 1),
        "suite": suite_name,
        "cores_used": 1,
        "machine": stamp(),
    }
    report(
        "finchain bench pipeline (one node, signatures skipped, one core)",
        figures,
        json_path=json_path,
        notes={"pid": os.getpid(), "note": "shared, loaded box: figures are noisy"},
    )
