"""Form bodies of the reference systems' routes, read as vibeforge reads uploads: another
media type is 415, a malformed body 400, bad fields 422 in the one error shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fastapi import Request
from pydantic import ValidationError
from python_multipart.multipart import parse_options_header
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException

from vibeforge.api.uploads import UnsupportedMediaType
from vibeforge.errors import InvalidInput, MalformedRequest
from vibeforge.strict import Strict, describe_errors

T = TypeVar("T", bound=Strict)
FORM_TYPES = (b"multipart/form-data", b"application/x-www-form-urlencoded")
MAX_FIELDS = 16
MAX_FILES = 20  # of one form (the reference sets no limit)


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


def file_form_body(fields: dict[str, dict[str, Any]], required: list[str]) -> dict[str, Any]:
    """The OpenAPI `requestBody` of a multipart form with text `fields` and `files`."""
    files = {"type": "array", "items": {"type": "string", "format": "binary"}}
    files["maxItems"] = MAX_FILES
    schema = {
        "type": "object",
        "required": required,
        "properties": {**fields, "files": files},
        "additionalProperties": False,  # `form_files` validates with a Strict model
    }
    return {
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    }


@dataclass
class FileForm(Generic[T]):
    """A form's validated text fields and its uploaded `files` (spooled by Starlette;
    `close` removes them)."""

    fields: T
    files: list[UploadFile]
    form: FormData

    async def close(self) -> None:
        """Drop the spooled files."""
        await self.form.close()


async def form_files(request: Request, model: type[T]) -> FileForm[T]:
    """A multipart form's text fields, validated by `model`, and its parts named `files`
    (at most MAX_FILES; a file under another name is refused); an urlencoded one has none."""
    kind, _ = parse_options_header(request.headers.get("content-type", ""))
    if kind not in FORM_TYPES:  # urlencoded: a form without files
        async for _ in request.stream():  # drained, not kept: a body over the cap is that (413)
            pass
        raise UnsupportedMediaType("send a multipart/form-data form")
    try:
        form = await request.form(max_files=MAX_FILES, max_fields=MAX_FIELDS)
    except MultiPartException as error:
        raise MalformedRequest(f"the form is malformed: {error.message}") from None
    try:
        files: list[UploadFile] = []
        values: dict[str, str] = {}
        for name, value in form.multi_items():
            if isinstance(value, str):
                values[name] = value
            elif name == "files":
                files.append(value)
            else:
                raise InvalidInput(f"{name}: only the field files holds files")
        try:
            fields = model.model_validate(values)
        except ValidationError as error:
            raise InvalidInput(describe_errors(error.errors())) from None
    except BaseException:
        await form.close()
        raise
    return FileForm(fields, files, form)


async def file_chunks(upload: UploadFile, size: int = 1 << 16) -> AsyncIterator[bytes]:
    """An uploaded file's bytes, a piece at a time."""
    while chunk := await upload.read(size):
        yield chunk


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
