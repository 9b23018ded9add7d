"""The OpenAPI schema as the API really answers: every error in the `{error, detail}` shape.

FastAPI documents a 422 `HTTPValidationError` (a list of pydantic errors) that vibeforge never
sends; this replaces it with the one error shape and adds the errors every authenticated
(401), id-addressed (404), writing (409) or body-reading (400, 413) operation can answer, so
a client generated from the schema knows them; an error a route declares itself gets the shape.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_REF = {"$ref": "#/components/schemas/Error"}
ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "description": "Every error vibeforge answers, whatever the status.",
    "properties": {
        "error": {"type": "string", "description": "a code, e.g. not_found, validation_error"},
        "detail": {"type": "string", "description": "what was wrong, for a person"},
    },
    "required": ["error", "detail"],
}
_ERRORS = {
    "400": "malformed_json: the body is not valid JSON",
    "401": "unauthorized: a missing, unknown or revoked token (checked before anything else)",
    "404": "not_found: no such resource, or another user's",
    "413": "payload_too_large: the body or a file is over its limit",
    "409": "conflict: the resource's state does not allow it (a name in use, a stale version,"
    " a change written at the same moment)",
    "415": "unsupported_media_type: the body must be JSON, sent as application/json",
    "422": "validation_error, invalid_input, invalid_path, ...: a value is not acceptable",
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}


def shape_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Rewrite the error responses of every operation of `schema` (in place; returned)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components["Error"] = ERROR_SCHEMA
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status, response in responses.items():
                if status.isdigit() and status >= "400" and "content" not in response:
                    response["content"] = {"application/json": {"schema": ERROR_REF}}
            wanted = ["422"] if "422" in responses or operation.get("parameters") else []
            if method in ("post", "put", "patch", "delete"):
                wanted.append("409")
            if operation.get("security"):
                wanted.append("401")
            if "{" in path:
                wanted.append("404")
            if "requestBody" in operation:
                wanted += ["400", "413", "415", "422"]
            for status in dict.fromkeys(wanted):
                existing = responses.get(status)
                if existing is not None and "HTTPValidationError" not in json.dumps(existing):
                    continue  # the route documents its own answer (e.g. a failed run's)
                responses[status] = _error(_ERRORS[status])
    return schema


def install_openapi(app: FastAPI) -> None:
    """Serve the shaped schema at /openapi.json (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = shape_errors(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
