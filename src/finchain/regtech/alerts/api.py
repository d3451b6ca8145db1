"""The alert API the console reads (FastAPI).

* ``GET /v1/alerts?typology=&since_block=&include_superseded=&limit=&offset=`` — alerts,
  newest first, each with ``tx_count`` instead of its edges;
* ``GET /v1/alerts/{id}`` — one alert with its full evidence (edges, accounts, details);
* ``GET /v1/alerts/summary`` — open alerts per typology;
* ``GET /healthz``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Query

from finchain.apidocs import local_docs
from finchain.regtech.alerts.store import AlertStore


def create_app(store: AlertStore) -> FastAPI:
    """A FastAPI app serving ``store``."""
    app = FastAPI(title="finchain supervision alerts", version="1", docs_url=None, redoc_url=None)
    local_docs(app)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"ok": True, "alerts": store.count()}

    @app.get("/v1/alerts")
    def list_alerts(
        typology: str | None = None,
        since_block: int | None = None,
        include_superseded: bool = False,
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0),
    ) -> dict[str, Any]:
        items = store.list(
            typology=typology,
            since_block=since_block,
            include_superseded=include_superseded,
            limit=limit,
            offset=offset,
        )
        return {"items": items, "count": len(items), "offset": offset}

    @app.get("/v1/alerts/summary")
    def summary() -> dict[str, Any]:
        return {"open_by_typology": store.counts_by_typology(), "total": store.count()}

    @app.get("/v1/alerts/{alert_id}")
    def get_alert(alert_id: str) -> dict[str, Any]:
        found = store.get(alert_id)
        if found is None:
            raise HTTPException(status_code=404, detail=f"no alert {alert_id}")
        return found

    return app
