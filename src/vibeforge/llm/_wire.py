"""What the adapters share: SDK loading, lazily built clients, and byte-level stream framing
(SSE events and NDJSON lines).

Both split on bytes and decode whole lines only, so a UTF-8 character split across network
chunks is never cut in half (one of the reference systems lost characters that way).
"""

from __future__ import annotations

import asyncio
import importlib
import json
from collections.abc import AsyncIterator, Callable
from types import ModuleType
from typing import Any, Generic, TypeVar

import orjson

C = TypeVar("C")

_sdk_modules: dict[str, ModuleType] = {}


async def import_sdk(name: str) -> ModuleType:
    """Import a provider SDK in a thread, so its 1-3 s import never blocks the event loop."""
    module = _sdk_modules.get(name)
    if module is None:
        module = await asyncio.to_thread(importlib.import_module, name)
        _sdk_modules[name] = module
    return module


class LazyClient(Generic[C]):
    """A provider's HTTP client, built once on first use, in a thread: building one loads CA
    certificates and may first import its SDK, neither of which may stall the event loop."""

    def __init__(self, sdk: str | None, build: Callable[[ModuleType | None], C]) -> None:
        self._sdk, self._build = sdk, build
        self._client: C | None = None
        self._building = asyncio.Lock()

    @property
    def built(self) -> C | None:
        """The client if it exists yet."""
        return self._client

    async def get(self) -> C:
        """The client, building it the first time."""
        if self._client is None:
            async with self._building:
                if self._client is None:
                    module = await import_sdk(self._sdk) if self._sdk else None
                    self._client = await asyncio.to_thread(self._build, module)
        return self._client


def parse_json(data: bytes) -> Any:
    """One JSON document from a stream: orjson (about 1 µs for a chunk, against 6 with
    `json`), and `json` for what orjson refuses but `json` reads (integers past 64 bits,
    NaN); ValueError if neither can."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


async def iter_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Complete lines (without the newline) from a byte stream; a last unterminated line too."""
    pending = b""
    async for chunk in chunks:
        if b"\n" not in chunk:
            pending += chunk
            continue
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        for line in lines:
            yield line
    if pending:
        yield pending


async def iter_sse(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[str, bytes]]:
    """Server-sent events as (event name, data) pairs; data lines joined by newlines."""
    event = ""
    data: list[bytes] = []
    async for raw_line in iter_lines(chunks):
        line = raw_line[:-1] if raw_line.endswith(b"\r") else raw_line
        if not line:
            if data:
                yield event, b"\n".join(data)
            event, data = "", []
            continue
        if line.startswith(b":"):
            continue  # a comment, e.g. OpenRouter's ": OPENROUTER PROCESSING" keep-alives
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            data.append(value)
        elif name == b"event":
            event = value.decode("utf-8", "replace")
    if data:
        yield event, b"\n".join(data)
