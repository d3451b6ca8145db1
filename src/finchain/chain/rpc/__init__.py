"""JSON-RPC 2.0 over HTTP and WebSocket subscriptions for a node (see ``docs/chain.md``)."""

from finchain.chain.rpc.jsonrpc import (
    BLOCK_LIMIT,
    DUPLICATE,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    INVALID_SIGNATURE,
    MEMPOOL_FULL,
    METHOD_NOT_FOUND,
    NOT_FOUND,
    PARSE_ERROR,
    TX_REJECTED,
    Dispatcher,
    RpcError,
)
from finchain.chain.rpc.server import EventHub, RpcServer

__all__ = [
    "BLOCK_LIMIT",
    "DUPLICATE",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "INVALID_SIGNATURE",
    "MEMPOOL_FULL",
    "METHOD_NOT_FOUND",
    "NOT_FOUND",
    "PARSE_ERROR",
    "TX_REJECTED",
    "Dispatcher",
    "EventHub",
    "RpcError",
    "RpcServer",
]
