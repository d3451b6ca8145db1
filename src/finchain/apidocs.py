"""OpenAPI pages served from local files only — every finchain HTTP service works air-gapped.

FastAPI's default ``/docs`` page loads Swagger UI from a public CDN, which is blank on a bank's
closed network. :func:`local_docs` serves Swagger UI from the npm package that
``scripts/console-setup.sh`` installs next to the console (``swagger-ui-dist``); where it is not
installed, the page is a plain HTML list of the operations with a link to the OpenAPI JSON.
Create the app with ``docs_url=None, redoc_url=None`` and call :func:`local_docs` on it.
"""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

#: where ``npm ci`` in the console's web folder puts Swagger UI
SWAGGER_DIST = Path(__file__).parent / "console" / "web" / "node_modules" / "swagger-ui-dist"


def swagger_available(dist: Path = SWAGGER_DIST) -> bool:
    return (dist / "swagger-ui-bundle.js").is_file() and (dist / "swagger-ui.css").is_file()


def local_docs(app: FastAPI, docs_url: str = "/docs", *, dist: Path = SWAGGER_DIST) -> None:
    """Add ``docs_url`` to ``app``: Swagger UI from local files, or a plain operation list."""
    openapi_url = app.openapi_url or "/openapi.json"
    assets = docs_url.rstrip("/") + "-assets"
    if swagger_available(dist):
        app.mount(assets, StaticFiles(directory=dist), name=f"swagger{assets}")

    @app.get(docs_url, include_in_schema=False)
    async def docs() -> HTMLResponse:
        if swagger_available(dist):
            return get_swagger_ui_html(
                openapi_url=openapi_url,
                title=f"{app.title} — API",
                swagger_js_url=f"{assets}/swagger-ui-bundle.js",
                swagger_css_url=f"{assets}/swagger-ui.css",
                swagger_favicon_url=f"{assets}/favicon-32x32.png",
            )
        return HTMLResponse(operation_list(app))


def operation_list(app: FastAPI) -> str:
    """A self-contained HTML page listing every operation of ``app`` (no scripts, no CDN)."""
    spec = app.openapi()
    rows = []
    for path, item in sorted(spec.get("paths", {}).items()):
        for method, op in item.items():
            summary = op.get("summary") or op.get("description", "").split("\n")[0]
            rows.append(
                f"<tr><td><code>{html.escape(method.upper())}</code></td>"
                f"<td><code>{html.escape(path)}</code></td><td>{html.escape(summary)}</td></tr>"
            )
    title = html.escape(f"{app.title} — API")
    openapi_url = html.escape(app.openapi_url or "/openapi.json")
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        "<style>body{font-family:sans-serif;margin:2em}td{padding:.2em .8em;"
        "border-bottom:1px solid #ddd}</style></head><body>"
        f"<h1>{title}</h1><p>Machine-readable: <a href='{openapi_url}'>{openapi_url}</a>. "
        "(Install the console's front-end packages with <code>scripts/console-setup.sh</code> "
        "for the interactive page.)</p><table>" + "".join(rows) + "</table></body></html>"
    )
