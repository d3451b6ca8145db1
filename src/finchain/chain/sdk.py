"""Python SDK: sign, submit in batches, wait for receipts, query, call views, subscribe, prove.

>>> # doctest: +SKIP
>>> async with Client("http://127.0.0.1:28000") as c:
...     acct = c.account(key)                       # signs with the chain's suite
...     tx = await acct.transaction("transfer", "transfer", {"to": bob, "amount": 5})
...     receipt = (await c.submit_and_wait([tx]))[0]
...     assert receipt["ok"]
...     async for block in c.subscribe("newBlocks"):
...         print(block["height"])

Every call raises :class:`RpcError` (with the node's ``code`` and ``message``) when the node
refuses; :class:`SdkError` for transport problems and timeouts.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import orjson

from finchain.chain.errors import ChainError
from finchain.chain.rpc.jsonrpc import RpcError
from finchain.chain.rpc.methods import from_json, hx, to_json, unhex
from finchain.chain.types import Transaction
from finchain.crypto import CryptoSuite, PrivateKey, get_suite


class SdkError(ChainError):
    """The node could not be reached, answered garbage, or a wait timed out."""


class Account:
    """A signing key bound to a client (knows the chain id, suite and current height)."""

    def __init__(self, client: Client, key: PrivateKey, suite: CryptoSuite) -> None:
        self.client = client
        self.key = key
        self.suite = suite
        self.public_key = key.public_key().to_bytes()
        self.address = suite.address(key.public_key())

    async def transaction(
        self,
        contract: str,
        method: str,
        args: dict[str, Any] | None = None,
        *,
        valid_for: int = 500,
    ) -> Transaction:
        """A signed transaction valid for ``valid_for`` blocks from the current head."""
        calls = [(contract, method, args or {})]
        return (await self.transactions(calls, valid_for=valid_for))[0]

    async def transactions(
        self, calls: Sequence[tuple[str, str, dict[str, Any]]], *, valid_for: int = 500
    ) -> list[Transaction]:
        """Sign many calls ``(contract, method, args)`` against one status query."""
        status = await self.client.status()
        limit = int(status["height"]) + valid_for
        chain_id = str(status["chainId"])
        return [
            Transaction.create(
                self.suite,
                self.key,
                contract=c,
                method=m,
                args=a,
                block_limit=limit,
                chain_id=chain_id,
            )
            for c, m, a in calls
        ]


class Client:
    """An asynchronous client of one node's JSON-RPC and WebSocket endpoints."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.AsyncClient(timeout=timeout)
        self._ids = itertools.count(1)
        self._status: dict[str, Any] | None = None

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    # -- raw calls -------------------------------------------------------------------------
    async def request(self, method: str, *params: Any) -> Any:
        """Call ``method``; the result, or :class:`RpcError` with the node's code and message."""
        body = orjson.dumps(
            {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        )
        try:
            resp = await self._http.post(
                self.url + "/", content=body, headers={"content-type": "application/json"}
            )
        except httpx.HTTPError as exc:
            raise SdkError(f"cannot reach node at {self.url}: {exc}") from exc
        try:
            answer = orjson.loads(resp.content)
        except orjson.JSONDecodeError as exc:
            raise SdkError(f"node at {self.url} answered HTTP {resp.status_code}") from exc
        if "error" in answer:
            err = answer["error"]
            raise RpcError(int(err.get("code", -32603)), str(err.get("message")), err.get("data"))
        return answer.get("result")

    # -- queries ---------------------------------------------------------------------------
    async def status(self) -> dict[str, Any]:
        status: dict[str, Any] = await self.request("getStatus")
        self._status = status
        return status

    async def suite(self) -> CryptoSuite:
        status = self._status or await self.status()
        return get_suite(str(status["suite"]))

    def account(self, key: PrivateKey) -> Account:
        from finchain.crypto import get_suite as _get

        return Account(self, key, _get(key.public_key().suite_name))

    async def height(self) -> int:
        return int((await self.status())["height"])

    async def block(self, height: int, *, full: bool = False) -> dict[str, Any]:
        return await self.request("getBlockByHeight", height, full)  # type: ignore[no-any-return]

    async def header(self, height: int) -> dict[str, Any]:
        return await self.request("getBlockHeader", height)  # type: ignore[no-any-return]

    async def receipt(self, tx_hash: bytes | str) -> dict[str, Any] | None:
        return await self.request("getTransactionReceipt", _h(tx_hash))  # type: ignore[no-any-return]

    async def receipts(self, tx_hashes: Sequence[bytes | str]) -> list[dict[str, Any] | None]:
        return await self.request(  # type: ignore[no-any-return]
            "getTransactionReceipts", [_h(h) for h in tx_hashes]
        )

    async def call(self, contract: str, method: str, args: dict[str, Any] | None = None) -> Any:
        """Run a view method on the node's latest state."""
        return from_json(await self.request("call", contract, method, to_json(args or {})))

    async def tx_proof(self, tx_hash: bytes | str) -> dict[str, Any]:
        return await self.request("getTransactionProof", _h(tx_hash))  # type: ignore[no-any-return]

    async def receipt_proof(self, tx_hash: bytes | str) -> dict[str, Any]:
        return await self.request("getReceiptProof", _h(tx_hash))  # type: ignore[no-any-return]

    async def header_certificate(self, height: int) -> dict[str, Any]:
        return await self.request("getHeaderCertificate", height)  # type: ignore[no-any-return]

    async def prove(self, tx_hash: bytes | str, *, genesis: str | Any) -> Any:
        """Prove a committed transaction and its receipt against the validators of ``genesis``
        (a path to the genesis file obtained out of band): a verified
        :class:`~finchain.chain.light.Proved`."""
        from finchain.chain.light import LightClient

        light = LightClient.from_genesis_file(genesis)
        return await light.prove(self, tx_hash)

    async def committee(self, epoch: int | None = None) -> dict[str, Any]:
        """The committee recorded on chain for ``epoch`` (default: the node's current epoch)."""
        args = () if epoch is None else (epoch,)
        return await self.request("getCommittee", *args)  # type: ignore[no-any-return]

    async def genesis(self) -> dict[str, Any]:
        return await self.request("getGenesis")  # type: ignore[no-any-return]

    # -- submission ------------------------------------------------------------------------
    async def submit(
        self, txs: Sequence[Transaction | bytes], *, chunk: int = 2000
    ) -> list[dict[str, Any]]:
        """Send transactions in chunks; one ``{"hash", "error"?}`` per transaction.

        A full mempool raises :class:`RpcError` with code ``-32001`` (nothing of that chunk was
        taken; earlier chunks were).
        """
        out: list[dict[str, Any]] = []
        raws = [t.encode() if isinstance(t, Transaction) else bytes(t) for t in txs]
        for i in range(0, len(raws), chunk):
            out.extend(await self.request("sendTransactions", [hx(r) for r in raws[i : i + chunk]]))
        return out

    async def wait_receipts(
        self, tx_hashes: Sequence[bytes | str], *, timeout: float = 30.0, poll: float = 0.1
    ) -> list[dict[str, Any]]:
        """Wait until every transaction has a receipt; :class:`SdkError` after ``timeout``."""
        hashes = [_h(h) for h in tx_hashes]
        found: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout
        while True:
            todo = [h for h in hashes if h not in found]
            if not todo:
                return [found[h] for h in hashes]
            for h, r in zip(todo, await self.receipts(todo), strict=True):
                if r is not None:
                    found[h] = r
            if len(found) == len(hashes):
                continue
            if time.monotonic() > deadline:
                raise SdkError(
                    f"{len(hashes) - len(found)} of {len(hashes)} transactions not"
                    f" committed within {timeout:.0f} s"
                )
            await asyncio.sleep(poll)

    async def submit_and_wait(
        self, txs: Sequence[Transaction], *, timeout: float = 30.0
    ) -> list[dict[str, Any]]:
        """Submit and wait for every receipt; :class:`RpcError` if a transaction was refused."""
        results = await self.submit(txs)
        for r in results:
            if "error" in r:
                err = r["error"]
                raise RpcError(int(err["code"]), f"{r['hash']}: {err['message']}")
        return await self.wait_receipts([r["hash"] for r in results], timeout=timeout)

    # -- subscriptions ---------------------------------------------------------------------
    async def subscribe(
        self, topic: str, options: dict[str, Any] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield notifications of ``topic`` (``newBlocks`` or ``events``) until the caller stops."""
        import websockets

        ws_url = "ws" + self.url[len("http") :] + "/ws"
        async with websockets.connect(ws_url, max_size=64 * 1024 * 1024) as ws:
            await ws.send(
                orjson.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": 1,
                        "method": "subscribe",
                        "params": [topic, options or {}],
                    }
                ).decode()
            )
            answer = orjson.loads(await ws.recv())
            if "error" in answer:
                err = answer["error"]
                raise RpcError(int(err["code"]), str(err["message"]))
            sid = answer["result"]
            async for raw in ws:
                msg = orjson.loads(raw)
                params = msg.get("params") or {}
                if msg.get("method") == "subscription" and params.get("subscription") == sid:
                    yield params["result"]


def _h(value: bytes | str) -> str:
    return hx(value) if isinstance(value, bytes) else value


__all__ = ["Account", "Client", "RpcError", "SdkError", "unhex"]
