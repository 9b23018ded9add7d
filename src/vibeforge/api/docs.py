"""The API reference pages, `/docs` (Swagger UI) and `/redoc`, served with their assets from
the installed `fastapi-offline` package: they work with no network (FastAPI's own pages load
their scripts from a public CDN). No token is needed to read them; "Authorize" takes one."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from vibeforge.errors import NotFound

router = APIRouter(include_in_schema=False)
ASSETS_URL = "/docs/assets"
# Swagger UI (Apache-2.0) and ReDoc (MIT) builds, as fastapi-offline (MIT) ships them.
ASSETS: dict[str, str] = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}


def assets_dir() -> Path:
    """Where the installed package keeps the pages' scripts and styles."""
    return Path(str(files("fastapi_offline") / "static"))


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    """Swagger UI over /openapi.json; "Authorize" takes an API token (the bearer scheme)."""
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="vibeforge API",
        swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
        swagger_ui_parameters={"persistAuthorization": True, "tryItOutEnabled": True},
    )


@router.get("/redoc")
async def redoc() -> HTMLResponse:
    """ReDoc over /openapi.json, without web fonts."""
    return get_redoc_html(
        openapi_url="/openapi.json",
        title="vibeforge API",
        redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
        redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
        with_google_fonts=False,
    )


@router.get(ASSETS_URL + "/{name}")
async def asset(name: str) -> FileResponse:
    """One of the pages' assets (only those: nothing else of the file system is reachable)."""
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFound(f"no asset {name!r}")
    return FileResponse(
        assets_dir() / name,
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )
