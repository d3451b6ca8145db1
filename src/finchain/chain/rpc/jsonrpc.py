"""JSON-RPC 2.0 dispatch: requests (single or batch) in, responses out; errors with codes.

Error codes: the standard ones (-32700 … -32603) and finchain's own:

======  ===================  ==============================================================
code    name                 meaning
======  ===================  ==============================================================
-32001  MEMPOOL_FULL         the node's mempool cannot take the transactions; retry later
-32002  TX_REJECTED          a transaction is malformed or too large
-32003  INVALID_SIGNATURE    a transaction's signature does not verify
-32004  NOT_FOUND            no such block / transaction / receipt
-32005  DUPLICATE            the transaction is already pending or committed
-32006  BLOCK_LIMIT          the transaction's block limit has passed or is too far ahead
-32010  CALL_FAILED          a view call refused (the contract's message is in ``message``)
======  ===================  ==============================================================

>>> import asyncio
>>> d = Dispatcher()
>>> async def add(a: int, b: int) -> int:
...     return a + b
>>> d.register("add", add)
>>> asyncio.run(d.handle({"jsonrpc": "2.0", "id": 1, "method": "add", "params": [1, 2]}))
{'jsonrpc': '2.0', 'id': 1, 'result': 3}
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from finchain.chain.errors import ChainError

log = logging.getLogger(__name__)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
MEMPOOL_FULL = -32001
TX_REJECTED = -32002
INVALID_SIGNATURE = -32003
NOT_FOUND = -32004
DUPLICATE = -32005
BLOCK_LIMIT = -32006
CALL_FAILED = -32010


class RpcError(ChainError):
    """An error answered to a JSON-RPC client (``code``, ``message``, optional ``data``)."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            out["data"] = self.data
        return out


Handler = Callable[..., Awaitable[Any]]


#: most requests one batch may hold (each answer may be large; the batch runs on the node's loop)
MAX_BATCH = 1000


class Dispatcher:
    """Maps method names to async handlers called with the request's params."""

    def __init__(self, *, max_batch: int = MAX_BATCH) -> None:
        self.max_batch = max_batch
        self._methods: dict[str, Handler] = {}
        self._signatures: dict[str, inspect.Signature] = {}

    def register(self, name: str, handler: Handler) -> None:
        self._methods[name] = handler
        self._signatures[name] = inspect.signature(handler)

    @property
    def methods(self) -> list[str]:
        return sorted(self._methods)

    async def handle(self, request: Any) -> Any:
        """Answer one request object or a batch (list); ``None`` for notifications only."""
        if isinstance(request, list):
            if not request:
                return _error(None, RpcError(INVALID_REQUEST, "empty batch"))
            if len(request) > self.max_batch:
                return _error(
                    None,
                    RpcError(
                        INVALID_REQUEST,
                        f"batch of {len(request)} requests exceeds {self.max_batch}",
                    ),
                )
            answers = []
            for r in request:
                answer = await self._one(r)
                if answer is not None:
                    answers.append(answer)
                await asyncio.sleep(0)  # handlers may not yield: let consensus run between them
            return answers or None
        return await self._one(request)

    async def _one(self, request: Any) -> dict[str, Any] | None:
        if not isinstance(request, dict) or request.get("jsonrpc") != "2.0":
            return _error(None, RpcError(INVALID_REQUEST, "not a JSON-RPC 2.0 request"))
        rid = request.get("id")
        notification = "id" not in request
        method = request.get("method")
        handler = self._methods.get(method) if isinstance(method, str) else None
        if handler is None:
            return _error(rid, RpcError(METHOD_NOT_FOUND, f"method {method!r} not found"))
        params = request.get("params", [])
        try:
            self._check_arity(str(method), params)
            if isinstance(params, dict):
                result = await handler(**params)
            elif isinstance(params, list):
                result = await handler(*params)
            else:
                raise RpcError(INVALID_PARAMS, "params must be an array or an object")
        except RpcError as exc:
            return None if notification else _error(rid, exc)
        except TypeError as exc:
            return None if notification else _error(rid, RpcError(INVALID_PARAMS, str(exc)))
        except Exception as exc:
            log.exception("rpc handler failed", extra={"method": method})
            return (
                None
                if notification
                else _error(
                    rid, RpcError(INTERNAL_ERROR, f"internal error: {exc.__class__.__name__}")
                )
            )
        if notification:
            return None
        return {"jsonrpc": "2.0", "id": rid, "result": result}

    def _check_arity(self, method: str, params: Any) -> None:
        """``RpcError(INVALID_PARAMS)``, naming ``method``, when ``params`` do not fit it."""
        signature = self._signatures[method]
        try:
            if isinstance(params, dict):
                signature.bind(**params)
            elif isinstance(params, list):
                signature.bind(*params)
        except TypeError as exc:
            raise RpcError(INVALID_PARAMS, f"{method}: {exc}") from None


def _error(rid: Any, exc: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "error": exc.to_json()}
