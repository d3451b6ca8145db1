"""The scoring service (FastAPI): ``POST /v1/score`` and friends.

Endpoints::

    POST /v1/score         {"id"?, "features": {...}, "requested_amount"?, "entity_id"?}
                           or {"requests": [ ...the same objects... ]} for a batch
    POST /v1/feedback      {"id": "...", "label": 0|1} or {"feedback": [...]}: outcomes for KS
    GET  /v1/model         version, kind, features, policy, metrics (and the points table)
    GET  /v1/monitoring    PSI per feature and on the score, KS on feedback, alerts
    POST /v1/admin/reload  load the registry's champion now (it is also polled every second)
    GET  /healthz          liveness and the serving version
    GET  /metrics          Prometheus text

The request path avoids pydantic and pandas: the body is parsed with orjson, checked by hand
(4xx with a one-line message) and scored with numpy. The model is swapped by one reference
assignment, so requests in flight finish on the version they started with.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from finchain.apidocs import local_docs
from finchain.risk.errors import ScoringInputError
from finchain.risk.indicators import IndicatorSource
from finchain.risk.scorer import Scorer

ENV_MODEL_DIR = "FINCHAIN_RISK_MODEL_DIR"
ENV_INDICATORS = "FINCHAIN_RISK_INDICATORS"


def app_from_env() -> FastAPI:
    """App factory for multi-process serving (``uvicorn --factory``): reads the model directory
    and the optional indicator URL from ``FINCHAIN_RISK_MODEL_DIR`` / ``FINCHAIN_RISK_INDICATORS``.
    """
    import os

    from finchain.risk.indicators import indicator_source_from_url

    url = os.environ.get(ENV_INDICATORS)
    return create_app(
        os.environ[ENV_MODEL_DIR], indicators=indicator_source_from_url(url) if url else None
    )


def _json(body: Any, status: int = 200) -> Response:
    return Response(
        orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status,
        media_type="application/json",
    )


def _error(status: int, message: str) -> Response:
    return _json({"error": message}, status)


def create_app(
    model_dir: str | Path | None = None,
    *,
    scorer: Scorer | None = None,
    indicators: IndicatorSource | None = None,
    poll_interval: float | None = 1.0,
    reasons: int = 3,
) -> FastAPI:
    """Build the app around a :class:`Scorer` (or the champion of ``model_dir``).

    BLAS and OpenMP pools are limited to one thread: per-request matrices are tiny and idle
    threads spinning on a shared box cost more than they give.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    if scorer is None:
        if model_dir is None:
            raise ValueError("give model_dir or scorer")
        scorer = Scorer.from_dir(model_dir, indicators=indicators)
    sc = scorer

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = sc.watch(poll_interval) if poll_interval else None
        try:
            yield
        finally:
            if stop is not None:
                stop.set()

    app = FastAPI(
        title="finchain risk scoring",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    local_docs(app)
    app.state.scorer = sc
    metrics = CollectorRegistry()
    requests_total = Counter(
        "risk_score_requests", "Scoring requests", ["status"], registry=metrics
    )
    rows_total = Counter("risk_scored_rows", "Applicants scored", ["decision"], registry=metrics)
    latency = Histogram(
        "risk_score_seconds",
        "Scoring latency inside the handler",
        buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
        registry=metrics,
    )

    @app.post("/v1/score")
    async def score(request: Request) -> Response:
        t0 = time.perf_counter()
        raw = await request.body()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            requests_total.labels("400").inc()
            return _error(400, "body is not valid JSON")
        if not isinstance(body, dict):
            requests_total.labels("400").inc()
            return _error(400, "body must be a JSON object")
        batch = "requests" in body
        items = body["requests"] if batch else [body]
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            requests_total.labels("422").inc()
            return _error(422, "'requests' must be a list of objects")
        try:
            if sc.indicators is not None:
                import asyncio

                version, rows = await asyncio.to_thread(sc.score, items, reasons=reasons)
            else:
                version, rows = sc.score(items, reasons=reasons)
        except ScoringInputError as exc:
            requests_total.labels("422").inc()
            return _error(422, str(exc))
        for row in rows:
            rows_total.labels(row["decision"]).inc()
        requests_total.labels("200").inc()
        latency.observe(time.perf_counter() - t0)
        if batch:
            return _json({"model_version": version, "results": rows})
        return _json({"model_version": version, **rows[0]})

    @app.post("/v1/feedback")
    async def feedback(request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _error(400, "body is not valid JSON")
        items = body.get("feedback", [body]) if isinstance(body, dict) else None
        if not isinstance(items, list):
            return _error(422, "expected {'id', 'label'} or {'feedback': [...]}")
        matched = 0
        for it in items:
            if not isinstance(it, dict) or it.get("label") not in (0, 1) or "id" not in it:
                return _error(422, "each feedback item needs 'id' and 'label' 0 or 1")
            matched += sc.monitor.feedback(str(it["id"]), int(it["label"]))
        return _json({"received": len(items), "matched": matched})

    @app.get("/v1/model")
    async def model() -> Response:
        version, pipe = sc.current
        info: dict[str, Any] = {"version": version, **pipe.describe()}
        if sc.registry is not None:
            info["registry"] = sc.registry.versions()
        return _json(info)

    @app.get("/v1/monitoring")
    async def monitoring() -> Response:
        version, pipe = sc.current
        return _json({"model_version": version, **sc.monitor.report(pipe.reference)})

    @app.post("/v1/admin/reload")
    async def reload() -> Response:
        switched = sc.reload(force=True)
        return _json({"model_version": sc.version, "switched": switched})

    @app.get("/healthz")
    async def healthz() -> Response:
        return _json({"status": "ok", "model_version": sc.version})

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(generate_latest(metrics), media_type="text/plain; version=0.0.4")

    return app
