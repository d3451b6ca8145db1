"""Docstring examples of the node modules, and JSON-RPC dispatch rules."""

from __future__ import annotations

import asyncio
import doctest
import importlib

import pytest

from finchain.chain.rpc.jsonrpc import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    MEMPOOL_FULL,
    METHOD_NOT_FOUND,
    Dispatcher,
    RpcError,
)
from finchain.chain.rpc.methods import from_json, to_json

MODULES = [
    "finchain.chain.mempool",
    "finchain.chain.metrics",
    "finchain.chain.rpc.jsonrpc",
    "finchain.chain.net.frame",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


def test_dispatch_errors_and_batches() -> None:
    d = Dispatcher()

    async def full(n: int) -> int:
        raise RpcError(MEMPOOL_FULL, "mempool full", {"n": n})

    async def echo(x: int = 1) -> int:
        return x

    d.register("full", full)
    d.register("echo", echo)

    def call(req):  # type: ignore[no-untyped-def]
        return asyncio.run(d.handle(req))

    assert call({"jsonrpc": "2.0", "id": 1, "method": "echo", "params": {"x": 5}})["result"] == 5
    err = call({"jsonrpc": "2.0", "id": 2, "method": "full", "params": [3]})["error"]
    assert err == {"code": MEMPOOL_FULL, "message": "mempool full", "data": {"n": 3}}
    assert call({"jsonrpc": "2.0", "id": 3, "method": "nope"})["error"]["code"] == METHOD_NOT_FOUND
    assert call({"jsonrpc": "1.0", "id": 4, "method": "echo"})["error"]["code"] == INVALID_REQUEST
    bad = call({"jsonrpc": "2.0", "id": 5, "method": "echo", "params": {"y": 1}})
    assert bad["error"]["code"] == INVALID_PARAMS
    batch = call(
        [
            {"jsonrpc": "2.0", "id": 6, "method": "echo", "params": [7]},
            {"jsonrpc": "2.0", "method": "echo", "params": [8]},
        ]
    )  # second: notification
    assert batch == [{"jsonrpc": "2.0", "id": 6, "result": 7}]
    assert call([])["error"]["code"] == INVALID_REQUEST


def test_bytes_survive_json_both_ways() -> None:
    value = {"to": b"\x01\x02", "amount": 5, "list": [b"", {"k": b"\xff"}]}
    assert from_json(to_json(value)) == value
