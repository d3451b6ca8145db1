from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from finchain.risk.errors import ScoringInputError
from finchain.risk.indicators import HttpIndicators, RedisIndicators, StaticIndicators
from finchain.risk.registry import ModelRegistry
from finchain.risk.scorer import HttpScorer, Scorer, score_financing_request
from finchain.risk.service import create_app
from finchain.risk.train import TrainResult

GOOD = {"X1": 200000, "X2": 2, "X5": 35, "X6": 0, "X7": 0, "X12": 5000, "X18": 2000}


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """A real uvicorn server on a free loopback port, in a thread."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def test_bad_input_gets_4xx_with_a_message(model_dir: Path) -> None:
    client = TestClient(create_app(model_dir, poll_interval=None))
    cases: list[tuple[Any, int, str]] = [
        (b"{not json", 400, "not valid JSON"),
        (b"[1, 2]", 400, "must be a JSON object"),
        (b'{"id": "x"}', 422, "'features' object"),
        (b'{"features": {"X1": "lots"}}', 422, "'X1' must be a number"),
        (b'{"features": {"nope": 1}}', 422, "none of the model's features"),
        (b'{"requests": {"a": 1}}', 422, "list of objects"),
        (b'{"requests": []}', 422, "no requests"),
        (b'{"features": {"X1": 1}, "requested_amount": -5}', 422, "non-negative integer"),
    ]
    for body, status, msg in cases:
        r = client.post("/v1/score", content=body)
        assert r.status_code == status, body
        assert msg in r.json()["error"], (body, r.json())
    bad_fb = client.post("/v1/feedback", json={"id": "a", "label": 3})
    assert bad_fb.status_code == 422


def test_single_batch_model_metrics_monitoring(model_dir: Path) -> None:
    client = TestClient(create_app(model_dir, poll_interval=None))
    r = client.post("/v1/score", json={"id": "r1", "features": GOOD, "requested_amount": 10_000})
    assert r.status_code == 200
    one = r.json()
    assert one["model_version"] == "v0001" and one["id"] == "r1"
    assert 0 < one["probability"] < 1 and one["decision"] in {"approve", "review", "decline"}
    assert one["limit"] <= 10_000
    risky = dict(GOOD, X6=3, X7=3, X8=3)
    b = client.post(
        "/v1/score", json={"requests": [{"id": "r2", "features": GOOD}, {"features": risky}]}
    ).json()
    assert len(b["results"]) == 2
    assert b["results"][1]["probability"] > b["results"][0]["probability"]
    top = b["results"][1]["reasons"][0]["feature"]  # a status column or an aggregate over them
    assert top in {"X6", "X7", "X8"} or "(X6.." in top, top
    assert b["results"][1]["reasons"][0]["points"] < 0
    model = client.get("/v1/model").json()
    assert model["version"] == "v0001" and model["kind"] == "stack"
    assert client.get("/healthz").json()["status"] == "ok"
    assert "risk_score_requests_total" in client.get("/metrics").text
    fb = client.post(
        "/v1/feedback", json={"feedback": [{"id": "r1", "label": 0}, {"id": "zz", "label": 1}]}
    )
    assert fb.json() == {"received": 2, "matched": 1}
    mon = client.get("/v1/monitoring").json()
    assert mon["n_scored"] == 3 and "score_psi" in mon and "X1" in mon["feature_psi"]


def test_real_server_and_financing_hook(model_dir: Path) -> None:
    app = create_app(model_dir, poll_interval=None)
    with serve(app) as url:
        assert httpx.get(url + "/healthz").json()["model_version"] == "v0001"
        remote = score_financing_request(HttpScorer(url), GOOD, amount=50_000, request_id="f1")
    local = score_financing_request(Scorer.from_dir(model_dir), GOOD, amount=50_000)
    assert remote.probability == pytest.approx(local.probability, abs=1e-6)
    assert remote.approved == (remote.decision == "approve" and remote.limit >= 50_000)
    with pytest.raises(ScoringInputError):
        score_financing_request(Scorer.from_dir(model_dir), GOOD, amount=0)


def test_version_switch_under_concurrent_requests_drops_none(
    model_dir: Path, uci_trained: TrainResult
) -> None:
    reg = ModelRegistry(model_dir)
    v2 = reg.add(uci_trained.pipelines["lgbm"], data_sha256=["1" * 64], metrics={"auc": 0.7})
    app = create_app(model_dir, poll_interval=0.05)
    seen: list[tuple[int, str]] = []
    with serve(app) as url, httpx.Client(base_url=url, timeout=10) as client:

        def one(i: int) -> tuple[int, str]:
            r = client.post("/v1/score", json={"id": str(i), "features": GOOD})
            return r.status_code, r.json().get("model_version", "")

        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(one, i) for i in range(150)]
            time.sleep(0.2)
            reg.promote(v2)
            futures += [pool.submit(one, i) for i in range(150, 300)]
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and app.state.scorer.version != v2:
                time.sleep(0.05)
            futures += [pool.submit(one, i) for i in range(300, 350)]
            seen = [f.result() for f in futures]
    assert len(seen) == 350
    assert all(status == 200 for status, _ in seen)
    versions = [v for _, v in seen]
    assert versions[-1] == v2 and set(versions) <= {"v0001", v2}


def test_live_indicators_fill_missing_features(model_dir: Path) -> None:
    with_ind = Scorer.from_dir(model_dir, indicators=StaticIndicators({"c9": {"X6": 3, "X7": 3}}))
    plain = Scorer.from_dir(model_dir)
    req = {"entity_id": "c9", "features": {"X1": 200000}}
    p_ind = with_ind.score([req])[1][0]["probability"]
    p_plain = plain.score([req])[1][0]["probability"]
    assert p_ind > p_plain
    # request fields win over indicators
    req2 = {"entity_id": "c9", "features": {"X1": 200000, "X6": 3, "X7": 3}}
    assert with_ind.score([req2])[1][0]["probability"] == pytest.approx(p_ind)


def test_http_indicator_source_against_a_real_server() -> None:
    ind = FastAPI()

    @ind.get("/v1/indicators/{key}")
    def get(key: str) -> dict[str, Any]:
        if key == "missing":
            from fastapi import HTTPException

            raise HTTPException(404)
        return {"key": key, "indicators": {"txn_count_7d": 4, "label": "x"}}

    with serve(ind) as url:
        src = HttpIndicators(url + "/v1/indicators/{key}", timeout=5)
        assert src.fetch("acct 1") == {"txn_count_7d": 4.0}
        assert src.fetch("missing") == {}
    down = HttpIndicators("http://127.0.0.1:9/{key}", timeout=0.2)
    assert down.fetch("a") == {} and down.errors == 1


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")
def test_redis_indicator_source(tmp_path: Path) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        import redis

        r = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                r.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        r.hset("ind:c1", mapping={"sum_30d": "120.5", "count_30d": 3})
        r.set("ind:c2", '{"sum_30d": 7}')
        src = RedisIndicators(f"redis://127.0.0.1:{port}/0?prefix=ind:", timeout=2)
        assert src.fetch("c1") == {"sum_30d": 120.5, "count_30d": 3.0}
        assert src.fetch("c2") == {"sum_30d": 7.0}
        assert src.fetch("none") == {}
    finally:
        proc.terminate()
        proc.wait(10)
