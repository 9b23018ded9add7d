"""Serving the web client: its page at `/` for browsers and its files under `/web/`.

The client is plain ES modules and CSS shipped inside the package (`vibeforge/web/`), with
nothing to build. Its files are compressed on the way out and revalidated on every load
(`no-cache` with an ETag), so an upgraded server is never shadowed by a stale module. The page
forbids every origin but this server's (CSP), so no asset can come from elsewhere.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from starlette.middleware.gzip import GZipMiddleware
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
WEB_PREFIX = "/web"
# 'self' covers ws:// and wss:// of this origin (CSP level 3), which is all /ws needs.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def wants_html(request: Request) -> bool:
    """Whether the caller is a browser asking for a page rather than an API client."""
    return "text/html" in request.headers.get("accept", "")


@cache
def _index_html() -> bytes:
    return (WEB_DIR / "index.html").read_bytes()


def index_page() -> HTMLResponse:
    """The client's single page (every screen is a route inside it)."""
    return HTMLResponse(_index_html(), headers=SECURITY_HEADERS)


class _WithHeaders:
    """Adds fixed headers to every response of the wrapped app."""

    def __init__(self, app: ASGIApp, headers: dict[str, str]) -> None:
        self.app = app
        self.headers = [(name.lower().encode(), value.encode()) for name, value in headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def mount_web_client(app: FastAPI) -> None:
    """Serve the client's files under /web/ (compressed, revalidated, same-origin only)."""
    files = StaticFiles(directory=WEB_DIR, follow_symlink=False)
    app.mount(
        WEB_PREFIX,
        GZipMiddleware(_WithHeaders(files, SECURITY_HEADERS), minimum_size=512),
        name="web",
    )
