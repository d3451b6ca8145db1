"""API pages never reference a CDN: Swagger UI from local files, or a plain operation list."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from finchain.apidocs import local_docs


def make_app(dist: Path, docs_url: str = "/docs") -> FastAPI:
    app = FastAPI(title="t", docs_url=None, redoc_url=None)

    @app.get("/v1/things/{thing_id}", summary="One thing <by id>")
    def thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    local_docs(app, docs_url, dist=dist)
    return app


def test_without_swagger_files_the_page_lists_operations(tmp_path: Path) -> None:
    with TestClient(make_app(tmp_path / "missing")) as c:
        page = c.get("/docs").text
    assert "/v1/things/{thing_id}" in page and "GET" in page
    assert "One thing &lt;by id&gt;" in page  # escaped
    assert "http" not in page.lower().replace("http-equiv", "")


def test_with_swagger_files_they_are_served_locally(tmp_path: Path) -> None:
    dist = tmp_path / "swagger-ui-dist"
    dist.mkdir()
    (dist / "swagger-ui-bundle.js").write_text("/* bundle */")
    (dist / "swagger-ui.css").write_text("/* css */")
    with TestClient(make_app(dist, "/api/docs")) as c:
        page = c.get("/api/docs").text
        assert "/api/docs-assets/swagger-ui-bundle.js" in page
        assert "cdn" not in page.lower()
        assert c.get("/api/docs-assets/swagger-ui-bundle.js").text == "/* bundle */"


def test_every_service_app_serves_local_docs(tmp_path: Path) -> None:
    from finchain.regtech.alerts.api import create_app as alerts_app
    from finchain.regtech.alerts.store import AlertStore

    app = alerts_app(AlertStore(tmp_path / "alerts.db"))
    with TestClient(app) as c:
        page = c.get("/docs").text
    assert "cdn.jsdelivr" not in page
    assert "/v1/alerts" in page or "docs-assets" in page
