"""The query servers with real clients: redis-py (RESP2 and RESP3 handshakes) and HTTP."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import threading

import httpx
import pytest
import redis

from finchain.stream import Engine
from finchain.stream.rules import RuleSet
from finchain.stream.serve import IndicatorService, serve_http, serve_resp


@pytest.fixture
def served():
    eng = Engine()
    eng.add_lookback("spend", key="card", field="amount", span="5m")
    eng.process(
        {"ts": [0, 1000, 350_000, 400_000], "card": [7, 7, 8, 7], "amount": [100, 300, 50, 1000]}
    )
    eng.set_rules(RuleSet({"velocity": "WHEN sum(amount, 5m) BY card > 1500 THEN block"}))
    service = IndicatorService(eng)
    loop = asyncio.new_event_loop()
    ports = {}
    ready = threading.Event()

    def main():
        asyncio.set_event_loop(loop)
        r = loop.run_until_complete(serve_resp(service))
        h = loop.run_until_complete(serve_http(service))
        ports["resp"] = r.sockets[0].getsockname()[1]
        ports["http"] = h.sockets[0].getsockname()[1]
        ready.set()
        loop.run_forever()

    t = threading.Thread(target=main, daemon=True)
    t.start()
    ready.wait(10)
    yield eng, ports
    loop.call_soon_threadsafe(loop.stop)
    t.join(5)


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_clients_read_indicators(served, protocol):
    _, ports = served
    c = redis.Redis(port=ports["resp"], protocol=protocol)
    assert c.ping()
    # card 7 at t=400000: the window (100000, 400000] holds only the 1000
    assert c.get("7:spend.sum") == b"1000"
    assert c.mget("7:spend.count", "8:spend.sum", "9:spend.sum") == [b"1", b"50", None]
    assert c.execute_command("IND.GET", "8", "spend.mean") == b"50"
    flat = c.execute_command("IND.ALL", "7")
    assert dict(zip(flat[::2], flat[1::2], strict=True))[b"spend.count"] == b"1"
    assert json.loads(c.get("7"))["spend.sum"] == 1000
    assert c.execute_command("RISK.CHECK", "7", "amount", "600") == [b"velocity:block:velocity"]
    assert c.execute_command("RISK.CHECK", "7", "amount", "400") == []
    with pytest.raises(redis.ResponseError):
        c.execute_command("NOSUCH")
    # hot reload over the wire; a syntax error is a clear error, not a crash
    c.execute_command("RULES.SET", "big", "WHEN amount >= 400 THEN review")
    assert c.execute_command("RISK.CHECK", "7", "amount", "400") == [b"big:review:big"]
    with pytest.raises(redis.ResponseError, match="column"):
        c.execute_command("RULES.SET", "bad", "WHEN amount >>> 1 THEN alert")
    c.execute_command("RULES.DEL", "big")
    assert c.execute_command("RISK.CHECK", "7", "amount", "400") == []
    assert "finchain" in c.info()["redis_version"]
    c.close()


def test_pipelined_requests_keep_order(served):
    _, ports = served
    c = redis.Redis(port=ports["resp"])
    pipe = c.pipeline(transaction=False)
    for i in range(500):
        pipe.get("7:spend.sum" if i % 2 else "8:spend.count")
    out = pipe.execute()
    assert out == [b"1" if i % 2 == 0 else b"1000" for i in range(500)]
    c.close()


@pytest.mark.skipif(shutil.which("redis-benchmark") is None, reason="redis-tools not installed")
def test_redis_benchmark_runs_against_the_server(served):
    _, ports = served
    proc = subprocess.run(
        [
            "redis-benchmark",
            "-p",
            str(ports["resp"]),
            "-n",
            "2000",
            "-P",
            "8",
            "-c",
            "4",
            "--csv",
            "GET",
            "7:spend.sum",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0
    assert "GET" in proc.stdout


def test_http_api(served):
    _, ports = served
    base = f"http://127.0.0.1:{ports['http']}"
    with httpx.Client(base_url=base) as h:
        assert h.get("/healthz").json()["ok"]
        assert h.get("/v1/indicators/7").json()["indicators"]["spend.sum"] == 1000
        assert h.get("/v1/indicators/8/spend.count").json()["value"] == 1
        assert h.get("/v1/indicators/nope").status_code == 404
        r = h.post("/v1/check", json={"card": 7, "amount": 900})
        assert r.json()["alerts"] == [
            {"rule": "velocity", "action": "block", "message": "velocity"}
        ]
        assert h.put("/v1/rules/x", content="WHEN amount > 5 THEN alert").status_code == 200
        assert "x" in h.get("/v1/rules").json()
        bad = h.put("/v1/rules/y", content="WHEN THEN")
        assert bad.status_code == 400 and "line 1" in bad.json()["error"]
        assert h.delete("/v1/rules/x").status_code == 200
