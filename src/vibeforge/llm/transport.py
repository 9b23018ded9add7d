"""An HTTP/1.1 transport for provider streams: asyncio protocols and llhttp (`httptools`).

httpx's default transport (httpcore, h11, anyio) costs tens of microseconds per streamed read:
a cancel scope and a timer per read, a generator per layer, h11's pure-Python parser; for an
SSE stream that is most of the CPU a relayed chunk costs (`bench/streaming.py`). Here a
protocol's `data_received` feeds httptools' C parser, the body goes to the reader in whatever
pieces arrived since it last looked (several SSE events read at once are handed over at once),
and a read times out by one watchdog timer per connection rather than a timer per read.

It is an `httpx2.AsyncBaseTransport`, so the SDK still builds, authenticates and checks each
request, and httpx still does redirects, proxies (they get httpx's own transports) and content
decoding. Errors are httpx's (`ConnectError`, `ReadTimeout`, `RemoteProtocolError`, ...),
which the adapters' error tables already map. Cancelling the reader closes the connection.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import httptools
import httpx2

MAX_BUFFERED = 1 << 20  # unread body bytes before the socket stops being read
MAX_IDLE_PER_HOST = 32
_Key = tuple[str, str, int]
# The connections each task is reading a response from, for `close_streams_of`.
_READING: dict[asyncio.Task[Any], set[_Connection]] = {}


def close_streams_of(task: asyncio.Task[Any]) -> None:
    """Close now every provider response `task` is reading: it is being cancelled, and the
    cancellation reaches it only at its next turn on the loop (tens of milliseconds under
    load), all of them spent by the provider generating, and billing, tokens."""
    for connection in list(_READING.get(task, ())):
        connection.close()


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection, one response at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop, key: _Key) -> None:
        self.loop, self.key = loop, key
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.responses = 0  # answered on this connection before the current one
        self.reader: asyncio.Task[Any] | None = None  # the task reading the current response
        self._timer: asyncio.TimerHandle | None = None
        self._begin(None)

    def _begin(self, read_timeout: float | None) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.headers_done = self.complete = self.persistent = self.until_close = False
        self.body: deque[bytes] = deque()
        self.buffered = 0
        self.error: Exception | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.read_timeout = read_timeout
        self.last_read = self.loop.time()

    def start(self, request: bytes, read_timeout: float | None) -> None:
        """Send a request and start timing the answer."""
        self._begin(read_timeout)
        assert self.transport is not None
        self.reader = asyncio.current_task()
        if self.reader is not None:
            _READING.setdefault(self.reader, set()).add(self)
        self.transport.write(request)
        if read_timeout is not None:
            self._timer = self.loop.call_at(self.last_read + read_timeout, self._watch)

    # -- asyncio protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        self.last_read = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(httpx2.RemoteProtocolError(f"malformed HTTP response: {error}"))
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.done_reading()
        self._stop_timer()
        if not self.complete and exc is None and self.headers_done and self.until_close:
            # A body with neither a length nor chunks ends where the connection does (some
            # SSE servers and proxies answer so); httptools has no call to say it ended.
            self.complete = True
            self._wake()
        if not self.complete:
            detail = str(exc) if exc else "the server closed the connection mid-response"
            self._fail(httpx2.ReadError(detail) if exc else httpx2.RemoteProtocolError(detail))

    # -- httptools callbacks -----------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes | None) -> None:
        self.headers.append((name, value or b""))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        names = {name.lower(): value.lower() for name, value in self.headers}
        self.until_close = b"content-length" not in names and b"chunked" not in names.get(
            b"transfer-encoding", b""
        )
        self.headers_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)
        self.buffered += len(body)
        if self.buffered > MAX_BUFFERED and self.transport is not None:
            self.transport.pause_reading()  # the reader falls behind: let TCP push back
        self._wake()

    def on_message_complete(self) -> None:
        # Asked now: once the callback returns, the parser has moved on to the next message.
        self.persistent = self.keep_alive()
        self.complete = True
        self._stop_timer()
        self._wake()

    # -- the reader's side -------------------------------------------------------------------

    async def changed(self) -> None:
        """Wait until the response moves on (data, its end, or an error)."""
        self.waiter = self.loop.create_future()
        try:
            await self.waiter
        finally:
            self.waiter = None

    def take(self) -> bytes:
        """Every body byte received and not yet read."""
        pieces = self.body
        data = pieces.popleft() if len(pieces) == 1 else b"".join(pieces)
        pieces.clear()
        if self.buffered > MAX_BUFFERED and self.transport is not None:
            self.transport.resume_reading()
        self.buffered = 0
        return data

    def reusable(self) -> bool:
        """Whether another request may follow on this connection."""
        return self.complete and self.persistent and not self.closed and self.error is None

    def keep_alive(self) -> bool:
        try:
            return bool(self.parser.should_keep_alive())
        except httptools.HttpParserError:
            return False

    def done_reading(self) -> None:
        """The current response is no longer read by its task."""
        reader, self.reader = self.reader, None
        if reader is not None and (reading := _READING.get(reader)) is not None:
            reading.discard(self)
            if not reading:
                del _READING[reader]

    def close(self) -> None:
        """Close the connection (a response given up on, e.g. a cancelled run): the FIN goes
        out now (`shut_down`), the transport is closed after."""
        self._stop_timer()
        self.done_reading()
        if self.transport is not None and not self.closed:
            self.closed = True
            shut_down(self.transport)
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection now (a broken response)."""
        self._stop_timer()
        self.done_reading()
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.abort()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: Exception) -> None:
        if self.error is None:
            self.error = error
        self._wake()

    def _watch(self) -> None:
        """The read timeout: fires once per timeout period, not once per read."""
        self._timer = None
        if self.complete or self.closed or self.read_timeout is None:
            return
        deadline = self.last_read + self.read_timeout
        if self.loop.time() < deadline:
            self._timer = self.loop.call_at(deadline, self._watch)
            return
        self._fail(httpx2.ReadTimeout(f"no data for {self.read_timeout:g} s"))
        self.abort()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class _Body(httpx2.AsyncByteStream):
    """A response body as it arrives; closing it early closes the connection."""

    def __init__(self, pool: StreamingTransport, connection: _Connection) -> None:
        self._pool, self._connection = pool, connection

    async def __aiter__(self) -> AsyncIterator[bytes]:
        connection = self._connection
        while True:
            if connection.body:
                yield connection.take()
            elif connection.complete:
                return
            elif connection.error is not None:
                raise connection.error
            else:
                await connection.changed()

    async def aclose(self) -> None:
        self._pool.release(self._connection)


class StreamingTransport(httpx2.AsyncBaseTransport):
    """HTTP/1.1 with keep-alive, for the clients of provider SDKs built on httpx2."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._ssl_context = ssl_context
        self._idle: dict[_Key, list[_Connection]] = {}

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Send a request and return once its response headers are in."""
        url = request.url
        if url.scheme not in ("http", "https"):
            raise httpx2.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}")
        key = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        timeouts = request.extensions.get("timeout") or {}
        head_and_body = _serialise(request, await request.aread())
        # An idle connection the server closed is known closed (its protocol saw the end) and
        # skipped. Nothing is resent here: a request may have reached the server, and
        # resending it could bill twice; the retry layer decides, before the first token.
        connection = self._idle_connection(key)
        if connection is None:
            connection = await self._connect(key, timeouts.get("connect"))
        connection.start(head_and_body, timeouts.get("read"))
        try:
            while not connection.headers_done:
                if connection.error is not None:
                    raise connection.error
                await connection.changed()
        except asyncio.CancelledError:
            connection.close()
            raise
        except BaseException:
            connection.abort()
            raise
        return httpx2.Response(
            connection.status,
            headers=connection.headers,
            stream=_Body(self, connection),
            extensions={"http_version": b"HTTP/1.1"},
        )

    def release(self, connection: _Connection) -> None:
        """A response is done with: keep its connection for the next request, or close it."""
        connection.done_reading()
        if not connection.reusable():
            connection.close()
            return
        idle = self._idle.setdefault(connection.key, [])
        if len(idle) >= MAX_IDLE_PER_HOST:
            connection.abort()
            return
        connection.responses += 1
        idle.append(connection)

    async def aclose(self) -> None:
        """Close every idle connection."""
        for idle in self._idle.values():
            for connection in idle:
                connection.abort()
        self._idle.clear()

    def _idle_connection(self, key: _Key) -> _Connection | None:
        loop = asyncio.get_running_loop()
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()
            if connection.loop is loop and not connection.closed:
                return connection
            connection.abort()
        return None

    async def _connect(self, key: _Key, limit: float | None) -> _Connection:
        scheme, host, port = key
        loop = asyncio.get_running_loop()
        context = None
        if scheme == "https":
            context = self._ssl_context or ssl.create_default_context()
        try:
            async with asyncio.timeout(limit):
                _, connection = await loop.create_connection(
                    lambda: _Connection(loop, key),
                    host,
                    port,
                    ssl=context,
                    server_hostname=host if context is not None else None,
                )
        except TimeoutError:
            raise httpx2.ConnectTimeout(f"no connection to {host}:{port} in {limit} s") from None
        except OSError as error:
            raise httpx2.ConnectError(f"cannot connect to {host}:{port}: {error}") from None
        return connection


def shut_down(transport: asyncio.BaseTransport) -> None:
    """Send the FIN of a plain TCP connection now, by `shutdown(2)` on its socket.

    `transport.close()` and `write_eof()` only ask the loop to do it: uvloop's (the server
    runs on it) at its next turn, which under load is tens of milliseconds of the provider
    still generating, and billing, tokens. uvloop's transports refuse `shutdown` on the socket
    they expose, so a socket object is made on the descriptor and detached again: the
    transport still owns it and closes it. A TLS connection is left to `close()`, which sends
    its close_notify first."""
    exposed = transport.get_extra_info("socket")
    if exposed is None or transport.get_extra_info("sslcontext") is not None:
        return
    try:
        sock = socket.socket(fileno=exposed.fileno())
    except OSError:
        return  # closed already
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # not connected any more: nothing to tell the peer
    finally:
        sock.detach()


def _serialise(request: httpx2.Request, body: bytes) -> bytes:
    """The request line, headers and body as bytes (the body's length always stated)."""
    lines = [b"%s %s HTTP/1.1" % (request.method.encode("ascii"), request.url.raw_path)]
    for name, value in request.headers.raw:
        if name.lower() in (b"transfer-encoding", b"content-length"):
            continue
        if b"\r" in name or b"\n" in name or b"\r" in value or b"\n" in value:
            raise httpx2.LocalProtocolError(f"header {name!r} holds a line break")
        lines.append(name + b": " + value)
    if body or request.method not in ("GET", "HEAD"):
        lines.append(b"content-length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body
