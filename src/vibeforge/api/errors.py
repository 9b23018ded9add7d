"""The one place where errors become HTTP responses: always `{"error": CODE, "detail": TEXT}`."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Scope

from vibeforge.api.middleware import REQUEST_ID_SCOPE_KEY, internal_error_detail
from vibeforge.errors import VibeforgeError

log = logging.getLogger("vibeforge.api")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def error_response(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """A response in the project's single error shape."""
    headers = dict(headers or {})
    if status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def allowed_methods(app: FastAPI, scope: Scope) -> str:
    """The `Allow` header of a 405 (RFC 9110): the methods of every route on this path.
    Starlette names only the first route that matched, and FastAPI has one route a method."""
    methods: set[str] = set()
    for route in app.router.routes:
        match, _ = route.matches({**scope, "method": "\x00"})
        if match is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return ", ".join(sorted(methods))


NOT_JSON = (
    "the request body must be JSON, sent with the header Content-Type: application/json"
    " (with curl: -H 'Content-Type: application/json'); this one was sent as {kind}"
)


def _not_json(request: Request, exc: RequestValidationError) -> str | None:
    """Why a body was not read at all: it was not sent as JSON (`curl -d` sends a form)."""
    kind = request.headers.get("content-type") or "no Content-Type"
    media = kind.split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return None
    # A body sent but not parsed fails as a whole (`loc` is just "body"); no body is "missing".
    whole_body = [
        error
        for error in exc.errors()
        if tuple(error.get("loc", ())) == ("body",) and error.get("type") != "missing"
    ]
    return NOT_JSON.format(kind=kind) if whole_body else None


def _describe_validation(exc: RequestValidationError) -> tuple[int, str, str]:
    problems = []
    for error in exc.errors():
        if error.get("type") == "json_invalid":
            return 400, "malformed_json", "the request body is not valid JSON"
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        problems.append(f"{location or 'body'}: {error.get('msg', 'invalid')}")
    return 422, "validation_error", "; ".join(problems) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that render every error in the single shape."""

    @app.exception_handler(VibeforgeError)
    async def domain_error(_: Request, exc: VibeforgeError) -> JSONResponse:
        if exc.status >= 500:
            log.error("request failed: %s", exc.detail, extra={"error": exc.code})
        return error_response(exc.status, exc.code, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        not_json = _not_json(request, exc)
        if not_json is not None:
            return error_response(415, "unsupported_media_type", not_json)
        return error_response(*_describe_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else code
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(app, request.scope)
        return error_response(exc.status_code, code, detail, headers=headers)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        # The last resort, outside RequestContextMiddleware (which answers the errors of the
        # routes itself): only an error of a middleware reaches it.
        rid = str(request.scope.get(REQUEST_ID_SCOPE_KEY) or "-")
        log.error("unhandled error", exc_info=exc, extra={"request_id": rid})
        response = error_response(500, "internal_error", internal_error_detail(rid))
        response.headers["X-Request-ID"] = rid
        return response
