"""Reading a multipart/form-data upload as a stream: the file part's bytes go straight to
whoever consumes them (the attachment store), in the pieces they arrive in, so a large file
is neither held in memory nor spooled to disk twice; the small text fields are kept."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from vibeforge.errors import InvalidInput, MalformedRequest, VibeforgeError

MAX_FIELD_BYTES = 4096
MAX_FIELDS = 16
FILE_FIELD = "file"


def multipart_body(fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The OpenAPI `requestBody` of an upload route: the file and its text `fields` (the
    route reads the stream itself, so FastAPI cannot describe it)."""
    properties = {FILE_FIELD: {"type": "string", "format": "binary"}, **fields}
    schema = {"type": "object", "required": [FILE_FIELD], "properties": properties}
    return {
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    }


class UnsupportedMediaType(VibeforgeError):
    """The body is not of the type the route reads."""

    code = "unsupported_media_type"
    status = 415


class MultipartUpload:
    """One multipart body: iterate `file()` for the file part's bytes; afterwards `fields`
    holds the text fields and `filename` the file's name as the client gave it."""

    def __init__(self, request: Request) -> None:
        kind, options = parse_options_header(request.headers.get("content-type", ""))
        boundary = options.get(b"boundary")
        # Told when the body is first read, so a body over the size cap is refused as that.
        self._wrong_type = kind != b"multipart/form-data" or not boundary
        self._request = request
        self._boundary = boundary or b"-"
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.file_seen = False
        self._pending: list[bytes] = []
        self._part: dict[str, object] = {}
        self._header_name = b""
        self._header_value = b""

    # -- the parser's callbacks (synchronous: they only collect) -----------------------------

    def _part_begin(self) -> None:
        self._part = {"headers": {}, "data": bytearray(), "is_file": False, "name": ""}

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        headers = self._part["headers"]
        assert isinstance(headers, dict)
        headers[self._header_name.lower()] = self._header_value
        self._header_name = self._header_value = b""

    def _headers_finished(self) -> None:
        headers = self._part["headers"]
        assert isinstance(headers, dict)
        _, options = parse_options_header(headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        self._part["name"] = name
        if name == FILE_FIELD:
            if self.file_seen:
                raise InvalidInput("send one file per upload")
            self.file_seen = True
            self._part["is_file"] = True
            raw = options.get(b"filename")
            self.filename = raw.decode("utf-8", "replace") if raw is not None else None
        elif len(self.fields) >= MAX_FIELDS:
            raise InvalidInput(f"an upload has at most {MAX_FIELDS} fields")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._part["is_file"]:
            self._pending.append(data[start:end])
            return
        buffer = self._part["data"]
        assert isinstance(buffer, bytearray)
        buffer += data[start:end]
        if len(buffer) > MAX_FIELD_BYTES:
            raise InvalidInput(f"the field {self._part['name']!r} is over {MAX_FIELD_BYTES} bytes")

    def _part_end(self) -> None:
        if self._part["is_file"]:
            return
        buffer = self._part["data"]
        assert isinstance(buffer, bytearray)
        try:
            self.fields[str(self._part["name"])] = buffer.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(f"the field {self._part['name']!r} is not UTF-8 text") from None

    # -- reading -----------------------------------------------------------------------------

    async def file(self) -> AsyncIterator[bytes]:
        """The file part's bytes as the body arrives (the whole body is read by the end)."""
        parser = MultipartParser(
            self._boundary,
            {
                "on_part_begin": self._part_begin,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
                "on_header_field": self._header_field,
                "on_header_value": self._header_data,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
            },
        )
        try:
            async for chunk in self._request.stream():
                if self._wrong_type:
                    raise UnsupportedMediaType(
                        "send the file as multipart/form-data, in a part named file"
                    )
                parser.write(chunk)
                while self._pending:
                    yield self._pending.pop(0)
            if self._wrong_type:  # an empty body
                raise UnsupportedMediaType("send the file as multipart/form-data")
            parser.finalize()
        except FormParserError:
            raise MalformedRequest("the multipart body is malformed") from None
        except ClientDisconnect:
            raise MalformedRequest("the client went away before the upload ended") from None
        while self._pending:
            yield self._pending.pop(0)
        if not self.file_seen:
            raise InvalidInput("the upload holds no part named file")

    def field(self, name: str) -> str | None:
        """A text field (after the body was read), None when absent or blank."""
        value = self.fields.get(name)
        return value.strip() or None if value is not None else None
