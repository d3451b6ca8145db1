"""Client mistakes and abuse at the node's JSON-RPC front: each gets a JSON-RPC error object,
the store is never asked for a key it cannot hold, and a WebSocket survives bad frames."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.testclient import TestClient

from finchain.chain.rpc.jsonrpc import INVALID_PARAMS, INVALID_REQUEST, Dispatcher, RpcError
from finchain.chain.rpc.methods import register_methods
from finchain.chain.rpc.server import EventHub, RpcServer
from finchain.crypto import get_suite


class _Store:
    """Answers 'not found' for 32-byte keys; any other key length is a test failure (LMDB
    raises ``BadValsizeError`` on an empty key)."""

    def __init__(self) -> None:
        self.asked: list[bytes] = []

    def _look(self, key: bytes) -> None:
        assert len(key) == 32, f"store asked for a {len(key)}-byte key"
        self.asked.append(key)

    def get_receipt(self, key: bytes) -> None:
        self._look(key)

    def get_transaction(self, key: bytes) -> None:
        self._look(key)

    def get_header(self, height: int) -> None:
        raise AssertionError(f"store asked for height {height!r}")


def _node_dispatcher() -> tuple[Dispatcher, _Store]:
    store = _Store()

    def proof(key: bytes) -> None:
        store._look(key)

    def call(contract: str, method: str, args: Any) -> Any:
        return {"args": args}

    ledger = SimpleNamespace(store=store, tx_proof=proof, receipt_proof=proof, call=call)
    node = SimpleNamespace(
        ledger=ledger,
        suite=get_suite("gm"),
        height=5,
        config=SimpleNamespace(mempool=SimpleNamespace(max_request_txs=3)),
    )
    d = Dispatcher()
    register_methods(d, node)  # type: ignore[arg-type]
    return d, store


def _ask(d: Dispatcher, method: str, params: Any) -> dict[str, Any]:
    answer = asyncio.run(d.handle({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
    assert isinstance(answer, dict)
    return answer


@pytest.mark.parametrize(
    "method", ["getTransactionReceipt", "getTransaction", "getTransactionProof", "getReceiptProof"]
)
@pytest.mark.parametrize("value", ["0x", "", "0x00", "0x" + "ab" * 31, "0x" + "ab" * 600])
def test_hash_of_wrong_length_is_invalid_params(method: str, value: str) -> None:
    d, store = _node_dispatcher()
    err = _ask(d, method, [value])["error"]
    assert err["code"] == INVALID_PARAMS
    assert "32 bytes" in err["message"]
    assert store.asked == []
    # a well-formed hash still reaches the store
    answer = _ask(d, method, ["0x" + "ab" * 32])
    assert store.asked == [bytes.fromhex("ab" * 32)]
    assert answer.get("result") is None


@pytest.mark.parametrize("height", [True, False, -1, 1.5, "1", None, 10**30])
def test_bad_heights_refused(height: Any) -> None:
    d, _ = _node_dispatcher()
    for method in ("getBlockHeader", "getBlockByHeight", "getHeaderCertificate"):
        err = _ask(d, method, [height])["error"]
        assert err["code"] == INVALID_PARAMS, (method, height)


def test_param_shape_errors_name_the_method() -> None:
    d, _ = _node_dispatcher()
    err = _ask(d, "getBlockHeader", [1, 2, 3])["error"]
    assert err["code"] == INVALID_PARAMS
    assert err["message"].startswith("getBlockHeader: ")
    assert "<locals>" not in err["message"]
    err = _ask(d, "getBlockHeader", {"height": 1, "h": 1})["error"]
    assert err["code"] == INVALID_PARAMS and "'h'" in err["message"]
    assert _ask(d, "getTransactionReceipts", [5])["error"]["code"] == INVALID_PARAMS
    assert _ask(d, "getTransactionReceipts", ["0x12"])["error"]["code"] == INVALID_PARAMS
    # many hashes are fine (a block may hold more than a sendTransactions call)
    many = ["0x" + "ab" * 32] * 2500
    assert _ask(d, "getTransactionReceipts", [many])["result"] == [None] * 2500
    err = _ask(d, "call", ["c", "m", {"x": {"$hex": "zz"}}])["error"]
    assert err["code"] == INVALID_PARAMS and "$hex" in err["message"]
    assert _ask(d, "call", ["c", "m", {"x": {"$hex": "0a"}}])["result"] == {
        "args": {"x": {"$hex": "0a"}}
    }


# -- the HTTP / WebSocket front --------------------------------------------------------------


def _server(**kw: Any) -> RpcServer:
    hub = EventHub()
    d = Dispatcher()

    async def echo(x: Any = None) -> Any:
        return x

    async def publish(height: int) -> int:
        hub.publish({"height": height}, [], [])
        return height

    async def burst(n: int) -> int:  # n notifications without yielding in between
        for i in range(n):
            hub.publish({"height": i}, [], [])
        return n

    d.register("echo", echo)
    d.register("publish", publish)
    d.register("burst", burst)
    return RpcServer(
        dispatcher=d,
        hub=hub,
        host="127.0.0.1",
        port=0,
        metrics=lambda: b"",
        health=lambda: {"ok": True},
        **kw,
    )


def _req(rid: int, method: str, params: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
    if params is not None:
        out["params"] = params
    return out


def test_oversized_body_answered_413_with_rpc_error() -> None:
    server = _server(max_body=1000)
    with TestClient(server.app) as http:
        r = http.post("/", content=b'{"jsonrpc": "2.0", "x": "' + b"a" * 2000 + b'"}')
        assert r.status_code == 413
        assert r.json()["error"]["code"] == INVALID_REQUEST
        assert "1000 bytes" in r.json()["error"]["message"]
        # without a declared length (chunked upload) the limit holds as well
        r = http.post("/", content=iter([b"[" + b" " * 600, b" " * 600 + b"]"]))
        assert r.status_code == 413
        r = http.post("/", json=_req(1, "echo", [7]))
        assert r.status_code == 200 and r.json()["result"] == 7


def test_websocket_survives_bad_frames_and_params() -> None:
    server = _server()
    with TestClient(server.app) as http, http.websocket_connect("/ws") as ws:
        ws.send_bytes(b'{"jsonrpc": "2.0", "id": 1, "method": "echo", "params": [3]}')
        assert ws.receive_json()["result"] == 3
        ws.send_bytes(b"\xff\xfe")
        assert ws.receive_json()["error"]["code"] == -32700
        for params in (
            {"topic": "events", "filter": "ab"},
            {"topic": "events", "filter": [1]},
            ["events", "ab"],
        ):
            ws.send_json(_req(2, "subscribe", params))
            err = ws.receive_json()["error"]
            assert err["code"] == INVALID_PARAMS and "filter" in err["message"], params
        for params in ("x", [], {}):
            ws.send_json(_req(3, "unsubscribe", params))
            err = ws.receive_json()["error"]
            assert err["code"] == INVALID_PARAMS and "unsubscribe takes" in err["message"]
        ws.send_json(_req(4, "echo", ["still here"]))
        assert ws.receive_json()["result"] == "still here"
    assert server.hub.subscribers == 0


def test_subscriptions_per_connection_capped() -> None:
    server = _server(max_subscriptions=3)
    with TestClient(server.app) as http, http.websocket_connect("/ws") as ws:
        sids = []
        for i in range(3):
            ws.send_json(_req(i, "subscribe", ["newBlocks"]))
            sids.append(ws.receive_json()["result"])
        ws.send_json(_req(9, "subscribe", ["newBlocks"]))
        err = ws.receive_json()["error"]
        assert err["code"] == INVALID_REQUEST and "at most 3" in err["message"]
        assert server.hub.subscribers == 3
        # giving one back makes room again
        ws.send_json(_req(10, "unsubscribe", [sids[0]]))
        assert ws.receive_json()["result"] is True
        ws.send_json(_req(11, "subscribe", ["newBlocks"]))
        assert isinstance(ws.receive_json()["result"], str)
        assert server.hub.subscribers == 3
    assert server.hub.subscribers == 0


def test_cannot_unsubscribe_another_connections_subscription() -> None:
    server = _server()
    with (
        TestClient(server.app) as http,
        http.websocket_connect("/ws") as victim,
        http.websocket_connect("/ws") as other,
    ):
        victim.send_json(_req(1, "subscribe", ["newBlocks"]))
        sid = victim.receive_json()["result"]
        other.send_json(_req(2, "unsubscribe", [sid]))
        assert other.receive_json()["result"] is False
        other.send_json(_req(3, "unsubscribe", {"id": sid}))
        assert other.receive_json()["result"] is False
        assert server.hub.subscribers == 1
        other.send_json(_req(4, "publish", [42]))
        assert other.receive_json()["result"] == 42
        note = victim.receive_json()
        assert note["method"] == "subscription"
        assert note["params"] == {"subscription": sid, "result": {"height": 42}}


def test_batches_capped_and_interleaved_with_other_work() -> None:
    d = Dispatcher(max_batch=5)
    seen: list[bool] = []
    ran: list[bool] = []

    async def probe() -> int:  # never yields, like most handlers
        seen.append(bool(ran))
        return len(seen)

    d.register("probe", probe)

    async def go() -> Any:
        async def other_work() -> None:  # stands for consensus timers on the node's loop
            ran.append(True)

        task = asyncio.ensure_future(other_work())
        answer = await d.handle([_req(i, "probe") for i in range(5)])
        await task
        return answer

    answer = asyncio.run(go())
    assert [a["result"] for a in answer] == [1, 2, 3, 4, 5]
    assert seen[-1] is True  # the other task ran while the batch was being answered
    too_big = asyncio.run(d.handle([_req(i, "probe") for i in range(6)]))
    assert too_big["error"]["code"] == INVALID_REQUEST
    assert "exceeds 5" in too_big["error"]["message"]
    assert len(seen) == 5  # nothing of the refused batch ran


def test_subscriber_that_falls_behind_is_closed_1013() -> None:
    from starlette.websockets import WebSocketDisconnect

    server = _server()
    server.hub.queue_limit = 2
    with TestClient(server.app) as http, http.websocket_connect("/ws") as ws:
        ws.send_json(_req(1, "subscribe", ["newBlocks"]))
        sid = ws.receive_json()["result"]
        # five notifications at once into a queue of two: the third overflows
        ws.send_json(_req(2, "burst", [5]))
        got = []
        with pytest.raises(WebSocketDisconnect) as closed:
            for _ in range(10):
                got.append(ws.receive_json())
        assert closed.value.code == 1013
        notes = [g for g in got if g.get("method") == "subscription"]
        assert [n["params"]["result"]["height"] for n in notes] == [0, 1]
        assert all(n["params"]["subscription"] == sid for n in notes)
    assert server.hub.subscribers == 0


def test_hub_serialises_once_and_caps_subscriptions() -> None:
    import orjson

    from finchain.chain.rpc.server import notification

    hub = EventHub(max_subscribers=3)
    a = hub.subscribe("newBlocks", {"txHashes": True})
    b = hub.subscribe("newBlocks", {"txHashes": True})
    e = hub.subscribe("events", {"contract": "transfer"})
    with pytest.raises(RpcError, match="at most 3 subscriptions") as refused:
        hub.subscribe("newBlocks", {})
    assert refused.value.code == INVALID_REQUEST
    event = {"contract": "transfer", "event": "Transfer", "data": {"amount": 1}}
    hub.publish({"height": 7}, ["0x01"], [event, {"contract": "other", "event": "X"}])
    got_a, got_b = a.queue.get_nowait(), b.queue.get_nowait()
    assert got_a is got_b  # one serialisation shared, not a copy per subscriber
    assert orjson.loads(notification(a.sid, got_a)) == {
        "jsonrpc": "2.0",
        "method": "subscription",
        "params": {"subscription": a.sid, "result": {"height": 7, "txHashes": ["0x01"]}},
    }
    assert orjson.loads(e.queue.get_nowait()) == event
    assert e.queue.empty()
    hub.unsubscribe(a.sid)
    hub.subscribe("newBlocks", {})  # room again
