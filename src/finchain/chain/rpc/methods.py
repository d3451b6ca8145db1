"""The node's JSON-RPC methods (reference in ``docs/chain.md``).

Binary values travel as ``"0x…"`` hex strings. Contract arguments and results are JSON-like;
a ``bytes`` value inside them is written ``{"$hex": "…"}`` so it survives JSON both ways
(:func:`to_json` / :func:`from_json`).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from finchain.chain.mempool import (
    BAD_SIGNATURE,
    BLOCK_LIMIT,
    DUPLICATE,
    MempoolFull,
)
from finchain.chain.rpc import jsonrpc as codes
from finchain.chain.rpc.jsonrpc import Dispatcher, RpcError
from finchain.chain.types import BlockHeader, Receipt
from finchain.crypto import CryptoSuite

if TYPE_CHECKING:
    from finchain.chain.node import Node

_REASON_CODES = {
    BAD_SIGNATURE: codes.INVALID_SIGNATURE,
    DUPLICATE: codes.DUPLICATE,
    BLOCK_LIMIT: codes.BLOCK_LIMIT,
}


def hx(data: bytes) -> str:
    """``0x``-prefixed hex."""
    return "0x" + data.hex()


def unhex(value: Any, what: str = "value") -> bytes:
    """Inverse of :func:`hx`; ``RpcError(INVALID_PARAMS)`` for anything else."""
    if not isinstance(value, str):
        raise RpcError(codes.INVALID_PARAMS, f"{what} must be a hex string")
    text = value[2:] if value.startswith(("0x", "0X")) else value
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise RpcError(codes.INVALID_PARAMS, f"{what} is not valid hex") from None


def to_json(value: Any) -> Any:
    """Contract data → JSON (``bytes`` become ``{"$hex": …}``)."""
    if isinstance(value, bytes):
        return {"$hex": value.hex()}
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return value


def from_json(value: Any) -> Any:
    """Inverse of :func:`to_json`; ``RpcError(INVALID_PARAMS)`` for a ``$hex`` that is not hex."""
    if isinstance(value, dict):
        if set(value) == {"$hex"} and isinstance(value["$hex"], str):
            try:
                return bytes.fromhex(value["$hex"])
            except ValueError:
                raise RpcError(codes.INVALID_PARAMS, "a $hex value is not valid hex") from None
        return {k: from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value


def header_json(header: BlockHeader, suite: CryptoSuite) -> dict[str, Any]:
    return {
        "height": header.height,
        "hash": hx(header.hash_with(suite)),
        "parentHash": hx(header.parent_hash),
        "timestamp": header.timestamp,
        "proposer": header.proposer,
        "blockId": hx(header.block_id),
        "payloadHash": hx(header.payload_hash),
        "batchDigests": [hx(d) for d in header.batch_digests],
        "txCount": header.tx_count,
        "txRoot": hx(header.tx_root),
        "receiptRoot": hx(header.receipt_root),
        "stateDigest": hx(header.state_digest),
        "proof": hx(header.proof),
        "raw": hx(header.encode()),
    }


def block_summary(header: BlockHeader, suite: CryptoSuite) -> dict[str, Any]:
    """What ``newBlocks`` subscribers receive."""
    return {
        "height": header.height,
        "hash": hx(header.hash_with(suite)),
        "timestamp": header.timestamp,
        "txCount": header.tx_count,
        "proposer": header.proposer,
    }


def receipt_json(receipt: Receipt, height: int, index: int) -> dict[str, Any]:
    return {
        "txHash": hx(receipt.tx_hash),
        "height": height,
        "index": index,
        "status": receipt.status,
        "ok": receipt.ok,
        "returnValue": to_json(receipt.return_value),
        "error": receipt.error,
        "events": [{"contract": c, "event": n, "data": to_json(d)} for c, n, d in receipt.events],
        "raw": hx(receipt.encode()),
    }


def register_methods(d: Dispatcher, node: Node) -> None:
    """Attach every method to ``d``, bound to ``node``."""
    ledger = node.ledger
    suite = node.suite
    hash_len = len(suite.hash(b""))

    def tx_hash(value: Any) -> bytes:
        """A transaction hash parameter: hex of exactly the suite's digest size."""
        raw = unhex(value, "hash")
        if len(raw) != hash_len:
            raise RpcError(
                codes.INVALID_PARAMS, f"hash must be {hash_len} bytes ({2 * hash_len} hex digits)"
            )
        return raw

    async def sendTransactions(txs: list[str]) -> list[dict[str, Any]]:
        if not isinstance(txs, list):
            raise RpcError(codes.INVALID_PARAMS, "txs must be a list of hex strings")
        limit = node.config.mempool.max_request_txs
        if len(txs) > limit:
            raise RpcError(codes.INVALID_PARAMS, f"at most {limit} transactions per call")
        raws = [unhex(t, "transaction") for t in txs]
        try:
            results = await node.mempool.admit(raws, head=node.height)
        except MempoolFull as exc:
            node.metrics.mempool_rejected.labels("full").inc(len(raws))
            raise RpcError(
                codes.MEMPOOL_FULL,
                str(exc),
                {"size": exc.size, "capacity": exc.capacity, "wanted": exc.wanted},
            ) from None
        out = []
        for r in results:
            item: dict[str, Any] = {"hash": hx(r.hash) if r.hash else None}
            if r.reason is not None:
                node.metrics.mempool_rejected.labels(r.reason).inc()
                item["error"] = {
                    "code": _REASON_CODES.get(r.reason, codes.TX_REJECTED),
                    "reason": r.reason,
                    "message": r.message,
                }
            out.append(item)
        if not node.is_validator:
            while node.mempool.loose:
                batch = node.mempool.cut_batch()
                if batch is None:
                    break
                await node.submit_batch_from_observer(batch)
        return out

    async def sendTransaction(tx: str) -> str:
        (result,) = await sendTransactions([tx])
        if "error" in result:
            err = result["error"]
            raise RpcError(err["code"], err["message"], {"hash": result["hash"]})
        return str(result["hash"])

    async def getTransactionReceipt(hash: str) -> dict[str, Any] | None:
        found = ledger.store.get_receipt(tx_hash(hash))
        if found is None:
            return None
        height, index, receipt = found
        return receipt_json(receipt, height, index)

    async def getTransactionReceipts(hashes: list[str]) -> list[dict[str, Any] | None]:
        if not isinstance(hashes, list):
            raise RpcError(codes.INVALID_PARAMS, "hashes must be a list of hex strings")
        # no count limit (a block may hold 64k transactions; the HTTP body limit bounds it),
        # but the lookups do not yield: let the node's loop run every thousand of them
        out = []
        for i, h in enumerate(hashes):
            out.append(await getTransactionReceipt(h))
            if i % 1000 == 999:
                await asyncio.sleep(0)
        return out

    async def getTransaction(hash: str) -> dict[str, Any] | None:
        found = ledger.store.get_transaction(tx_hash(hash))
        if found is None:
            return None
        height, index, tx = found
        return {
            "hash": hx(tx.hash),
            "height": height,
            "index": index,
            "contract": tx.contract,
            "method": tx.method,
            "args": to_json(tx.args),
            "sender": hx(tx.sender),
            "blockLimit": tx.block_limit,
            "raw": hx(tx.encode()),
        }

    def _header(height: int) -> BlockHeader:
        if not isinstance(height, int) or isinstance(height, bool) or not 0 <= height < 2**63:
            raise RpcError(codes.INVALID_PARAMS, "height must be a non-negative 64-bit integer")
        header = ledger.store.get_header(height)
        if header is None:
            raise RpcError(codes.NOT_FOUND, f"no block at height {height} (head is {node.height})")
        return header

    async def getBlockHeader(height: int) -> dict[str, Any]:
        return header_json(_header(height), suite)

    async def getBlockByHeight(height: int, full: bool = False) -> dict[str, Any]:
        header = _header(height)
        block = ledger.store.get_block(height, with_receipts=full)
        assert block is not None
        out = header_json(header, suite)
        if full:
            out["transactions"] = [hx(t.encode()) for t in block.transactions]
            out["receipts"] = [receipt_json(r, height, i) for i, r in enumerate(block.receipts)]
        else:
            out["transactions"] = [hx(t.hash) for t in block.transactions]
        return out

    async def getTransactionProof(hash: str) -> dict[str, Any]:
        proof = ledger.tx_proof(tx_hash(hash))
        if proof is None:
            raise RpcError(codes.NOT_FOUND, f"transaction {hash} is not committed here")
        return proof

    async def getReceiptProof(hash: str) -> dict[str, Any]:
        proof = ledger.receipt_proof(tx_hash(hash))
        if proof is None:
            raise RpcError(codes.NOT_FOUND, f"transaction {hash} is not committed here")
        return proof

    async def call(contract: str, method: str, args: dict[str, Any] | None = None) -> Any:
        try:
            value = await asyncio.get_running_loop().run_in_executor(
                None, ledger.call, contract, method, from_json(args or {})
            )
        except RpcError:
            raise
        except Exception as exc:
            raise RpcError(codes.CALL_FAILED, str(exc)) from None
        return to_json(value)

    async def getStatus() -> dict[str, Any]:
        assert node.net is not None
        return {
            "name": node.config.name,
            "role": node.config.role,
            "chainId": ledger.chain_id,
            "suite": suite.name,
            "consensus": node.config.consensus,
            "height": node.height,
            "round": getattr(node.consensus, "current_round", None),
            "mempool": len(node.mempool),
            "mempoolCapacity": node.mempool.capacity,
            "batchesPending": node.mempool.batch_count(),
            "peers": len(node.net.connected()),
            "validators": list(node.validators),
            "epoch": node.epoch,
            "uptimeS": round(__import__("time").time() - node.started_at, 1),
        }

    async def getPeers() -> list[dict[str, Any]]:
        assert node.net is not None
        connected = set(node.net.connected())
        out = []
        for p in node.config.peers:
            out.append(
                {
                    "name": p.name,
                    "role": p.role,
                    "host": p.host,
                    "p2pPort": p.p2p_port,
                    "rpcPort": p.rpc_port,
                    "connected": p.name in connected,
                    "height": node._peer_heights.get(p.name),
                }
            )
        return out

    async def getHeaderCertificate(height: int) -> dict[str, Any]:
        header = _header(height)
        raw = node.header_certificate(height)
        if raw is None:
            raise RpcError(
                codes.NOT_FOUND,
                f"no header certificate for block {height} yet (head {node.height})",
            )
        from finchain.chain.proofs import HeaderCertificate

        cert = HeaderCertificate.decode(raw)
        return {
            "height": height,
            "header": hx(header.encode()),
            "signatures": [[i, hx(sig)] for i, sig in cert.signatures],
        }

    async def getGenesis() -> dict[str, Any]:
        return ledger.genesis_json()

    async def getCommittee(epoch: int | None = None) -> dict[str, Any]:
        spec = ledger.committee_spec
        if spec is None:
            raise RpcError(
                codes.NOT_FOUND,
                "this chain has no committee section: its genesis validators run every block",
            )
        if epoch is None:
            epoch = node.epoch
        if not isinstance(epoch, int) or isinstance(epoch, bool) or not 0 <= epoch < 2**62:
            raise RpcError(codes.INVALID_PARAMS, "epoch must be a non-negative integer")
        rec = ledger.committee(epoch)
        if rec is None:
            raise RpcError(
                codes.NOT_FOUND,
                f"no committee recorded for epoch {epoch} yet (it is drawn when block "
                f"{epoch * spec.epoch_blocks} executes; head is {node.height})",
            )
        return {
            "epoch": epoch,
            "size": spec.size,
            "epochBlocks": spec.epoch_blocks,
            "firstHeight": spec.first_height(epoch),
            "lastHeight": spec.last_height(epoch),
            "anchorHeight": epoch * spec.epoch_blocks,
            "anchor": hx(rec.anchor),
            "members": [
                {"org": o, "node": n, "publicKey": hx(k)}
                for o, n, k in zip(rec.orgs, rec.nodes, rec.keys, strict=True)
            ],
        }

    for fn in (
        sendTransactions,
        sendTransaction,
        getTransactionReceipt,
        getTransactionReceipts,
        getTransaction,
        getBlockHeader,
        getBlockByHeight,
        getTransactionProof,
        getReceiptProof,
        call,
        getStatus,
        getPeers,
        getGenesis,
        getHeaderCertificate,
        getCommittee,
    ):
        d.register(fn.__name__, fn)
