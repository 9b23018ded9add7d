"""A scriptable LLM server over real HTTP/1.1, written on asyncio protocols to stay fast.

Endpoints: POST /v1/chat/completions (OpenAI), POST /api/chat and GET /api/tags (Ollama),
POST /v1/messages (Anthropic), and the control routes POST /_stub/script, POST /_stub/reset,
GET /_stub/requests for scripting a stub that runs in another process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import Callable
from typing import Any

from vibeforge.llm.stub import wire
from vibeforge.llm.stub.script import RecordedRequest, Script, ScriptBook

_ROUTES = {
    "/v1/chat/completions": "openai",
    "/chat/completions": "openai",
    "/api/chat": "ollama",
    "/v1/messages": "anthropic",
}
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests"}
_CONTENT_TYPES = {"openai": b"text/event-stream", "anthropic": b"text/event-stream"}


class StubLLMServer:
    """The stub; use as `async with StubLLMServer() as stub:` and call at `stub.url`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self.book = ScriptBook()
        self.requests: list[RecordedRequest] = []
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._next_connection = 0
        self._changed = asyncio.Condition()

    @property
    def url(self) -> str:
        """Base URL without a path, e.g. http://127.0.0.1:43210."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Listen; port 0 picks a free port."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), self.host, self.port, backlog=1024
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening and drop every connection."""
        if self._server is not None:
            self._server.close()
            for connection in list(self._connections):
                connection.abort()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> StubLLMServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def script(self, *scripts: Script) -> None:
        """Queue scripts for the next requests, one each, in order."""
        self.book.queue.extend(scripts)

    def rule(self, script: Script) -> None:
        """Add a lasting rule (select with script.model / script.prompt_contains / times)."""
        self.book.rules.append(script)

    def reset(self) -> None:
        """Forget scripts, rules and recorded requests."""
        self.book.clear()
        self.requests.clear()

    async def wait_for(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        """Wait until a condition on the recorded requests holds (TimeoutError after `within`)."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(predicate)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _new_connection_id(self) -> int:
        self._next_connection += 1
        return self._next_connection


class _Connection(asyncio.Protocol):
    """One client connection: parses requests and streams scripted answers."""

    def __init__(self, server: StubLLMServer) -> None:
        self.server = server
        self.id = server._new_connection_id()
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.task: asyncio.Task[None] | None = None
        self.current: RecordedRequest | None = None
        self.closed = False
        self.dropped_by_us = False
        self.writable = asyncio.Event()
        self.writable.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server._connections.add(self)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.task is None or self.task.done():
            self._next_request()

    def eof_received(self) -> bool:
        # The moment the client's FIN is read, not the loop turn after it when the transport
        # reports itself closed (under 200 streams that turn came milliseconds later).
        self._hung_up(time.monotonic())
        return False  # a client that stops sending has hung up: close our side too

    def _hung_up(self, now: float) -> None:
        current = self.current
        if (
            current is not None
            and current.completed_at is None
            and current.client_disconnected_at is None
            and not self.dropped_by_us
        ):
            current.client_disconnected_at = now

    def connection_lost(self, exc: Exception | None) -> None:
        self._hung_up(time.monotonic())
        self.closed = True
        self.writable.set()
        self.server._connections.discard(self)
        if self.task is not None and not self.task.done():
            self.task.cancel()
        asyncio.get_running_loop().create_task(self.server._notify())

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def abort(self) -> None:
        """Drop the connection without a goodbye."""
        self.dropped_by_us = True
        if self.transport is not None:
            self.transport.abort()

    def _next_request(self) -> None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        method, _, rest = head[0].partition(" ")
        path = rest.partition(" ")[0].partition("?")[0]
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        if len(self.buffer) < end + 4 + length:
            return
        body = bytes(self.buffer[end + 4 : end + 4 + length])
        del self.buffer[: end + 4 + length]
        self.task = asyncio.get_running_loop().create_task(
            self._handle(method, path, headers, body)
        )
        self.task.add_done_callback(self._after_request)

    def _after_request(self, task: asyncio.Task[None]) -> None:
        if not self.closed and self.buffer:
            self._next_request()

    async def _write(self, data: bytes) -> None:
        if self.closed or self.transport is None:
            raise ConnectionResetError
        self.transport.write(data)
        if not self.writable.is_set():
            await self.writable.wait()

    async def _respond(
        self, status: int, body: bytes, content_type: bytes = b"application/json", **headers: str
    ) -> None:
        head = [
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}".encode(),
            b"content-type: " + content_type,
            b"content-length: " + str(len(body)).encode(),
        ]
        head += [f"{name.replace('_', '-')}: {value}".encode() for name, value in headers.items()]
        await self._write(b"\r\n".join(head) + b"\r\n\r\n" + body)

    async def _handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> None:
        try:
            body: dict[str, Any] = json.loads(raw) if raw else {}
        except ValueError:
            await self._respond(400, wire.dumps({"error": "body is not JSON"}))
            return
        with contextlib.suppress(ConnectionError):
            if path.startswith("/_stub/"):
                await self._control(method, path, body)
            elif method == "GET" and path == "/api/tags":
                models = [{"name": "stub-model:latest", "model": "stub-model:latest"}]
                await self._respond(200, wire.dumps({"models": models}))
            elif method == "POST" and path in _ROUTES:
                await self._model_call(_ROUTES[path], path, headers, body)
            else:
                await self._respond(404, wire.dumps({"error": f"no route {method} {path}"}))

    async def _control(self, method: str, path: str, body: dict[str, Any]) -> None:
        if path == "/_stub/script" and method == "POST":
            try:
                for item in body.get("queue", ()):
                    self.server.script(Script.from_dict(item))
                for item in body.get("rules", ()):
                    self.server.rule(Script.from_dict(item))
                if "default" in body:
                    self.server.book.default = Script.from_dict(body["default"])
            except (TypeError, ValueError) as error:
                await self._respond(400, wire.dumps({"error": str(error)}))
                return
            await self._respond(200, b"{}")
        elif path == "/_stub/reset" and method == "POST":
            self.server.reset()
            await self._respond(200, b"{}")
        elif path == "/_stub/requests" and method == "GET":
            records = [record.to_dict() for record in self.server.requests]
            await self._respond(200, wire.dumps({"requests": records}))
        else:
            await self._respond(404, wire.dumps({"error": f"no control route {path}"}))

    async def _model_call(
        self, protocol: str, path: str, headers: dict[str, str], body: dict[str, Any]
    ) -> None:
        server = self.server
        record = RecordedRequest(
            index=len(server.requests),
            connection_id=self.id,
            protocol=protocol,
            path=path,
            headers=headers,
            body=body,
            received_at=time.monotonic(),
            purpose=headers.get("x-vibeforge-purpose"),
        )
        server.requests.append(record)
        self.current = record
        await server._notify()
        script = server.book.choose(
            str(body.get("model", "")), wire.prompt_text(body), record.purpose
        )
        if script.first_byte_delay:
            await asyncio.sleep(script.first_byte_delay)
        record.first_byte_at = time.monotonic()
        key = wire.credential(headers) if script.echo_key else None
        if script.status is not None:
            extra = {"retry_after": f"{script.retry_after:g}"} if script.retry_after else {}
            error = wire.error_body(protocol, script.status, script.error_message, key)
            await self._respond(script.status, error, **extra)
        elif not body.get("stream", protocol == "ollama"):
            answer = {"openai": wire.openai_complete, "ollama": wire.ollama_complete}
            render = answer.get(protocol, wire.anthropic_complete)
            await self._respond(200, render(script, body))
        else:
            await self._stream(protocol, script, body, record, key)
        record.completed_at = time.monotonic()
        self.current = None
        await server._notify()

    async def _stream(
        self,
        protocol: str,
        script: Script,
        body: dict[str, Any],
        record: RecordedRequest,
        key: str | None,
    ) -> None:
        render = {"openai": wire.openai_stream, "ollama": wire.ollama_stream}
        if script.bare:
            frames = wire.bare_stream(protocol, body)
        else:
            frames = render.get(protocol, wire.anthropic_stream)(script, body)
        content_type = _CONTENT_TYPES.get(protocol, b"application/x-ndjson")
        await self._write(
            b"HTTP/1.1 200 OK\r\ncontent-type: " + content_type + b"\r\n"
            b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        for frame in frames:
            if frame.chunk:
                if record.chunks_sent == script.error_after:
                    await self._write(
                        _http_chunk(wire.stream_error(protocol, script.error_message, key))
                    )
                    break
                if record.chunks_sent == script.disconnect_after:
                    self.abort()
                    raise ConnectionResetError
                if record.chunks_sent == script.malformed_after:
                    await self._write(_http_chunk(wire.MALFORMED[protocol]))
                if script.chunk_delay and record.chunks_sent:
                    await asyncio.sleep(script.chunk_delay)
                record.chunks_sent += 1
            if script.split_utf8 and frame.chunk:
                for piece in _split_inside_character(frame.data):
                    await self._write(_http_chunk(piece))
            else:
                await self._write(_http_chunk(frame.data))
            if frame.chunk:
                record.chunk_sent_at.append(time.monotonic())
        await self._write(b"0\r\n\r\n")


def _http_chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


def _split_inside_character(data: bytes) -> list[bytes]:
    """Cut bytes just after the first byte of every multi-byte UTF-8 character."""
    cuts = [i + 1 for i, byte in enumerate(data) if byte >= 0xC0]
    if not cuts:
        return [data]
    pieces, start = [], 0
    for cut in cuts:
        pieces.append(data[start:cut])
        start = cut
    pieces.append(data[start:])
    return pieces
