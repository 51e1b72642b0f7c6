"""``/docs`` without internet: Swagger UI's files come from the package ``swagger-ui-py`` (Swagger UI 5,
which reads the OpenAPI 3.1 specs that FastAPI writes).

FastAPI's default page loads them from a CDN, so it stays blank on a machine that cannot reach it;
this is FastAPI's documented self-hosting recipe with the files served by the app itself.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui.utils import SWAGGER_UI_PY_ROOT

ASSETS = "/docs-assets"


def add_offline_docs(app: FastAPI) -> None:
    """Serve Swagger UI at ``/docs`` and its files under :data:`ASSETS` (behind a proxy's prefix too)."""
    app.mount(ASSETS, StaticFiles(directory=SWAGGER_UI_PY_ROOT / "static"), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + app.openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon-32x32.png",
        )


__all__ = ["add_offline_docs", "ASSETS"]
