"""Form bodies of the reference systems' routes, read as vibeforge reads uploads: another
media type is 415, a malformed body 400, bad fields 422 in the one error shape."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from pydantic import ValidationError
from python_multipart.multipart import parse_options_header
from starlette.formparsers import MultiPartException

from vibeforge.api.uploads import UnsupportedMediaType
from vibeforge.errors import InvalidInput, MalformedRequest
from vibeforge.strict import Strict, describe_errors

T = TypeVar("T", bound=Strict)
FORM_TYPES = (b"multipart/form-data", b"application/x-www-form-urlencoded")
MAX_FIELDS = 16


def form_body(fields: dict[str, dict[str, Any]], required: list[str]) -> dict[str, Any]:
    """The OpenAPI `requestBody` of a form route (the route reads the form itself)."""
    # `form_fields` validates with a Strict model: no field beyond these is accepted.
    schema = {
        "type": "object",
        "required": required,
        "properties": fields,
        "additionalProperties": False,
    }
    content = {kind.decode(): {"schema": schema} for kind in FORM_TYPES}
    return {"requestBody": {"required": True, "content": content}}


async def form_fields(request: Request, model: type[T]) -> T:
    """The text fields of a form body, validated by `model`."""
    await request.body()  # first: a body over the cap is refused as that (413), unparsed
    kind, _ = parse_options_header(request.headers.get("content-type", ""))
    if kind not in FORM_TYPES:
        raise UnsupportedMediaType("send a form (multipart/form-data or urlencoded)")
    try:
        form = await request.form(max_files=0, max_fields=MAX_FIELDS)
    except MultiPartException:
        raise MalformedRequest("the form is malformed") from None
    values = {name: value for name, value in form.items() if isinstance(value, str)}
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise InvalidInput(describe_errors(error.errors())) from None
