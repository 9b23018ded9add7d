"""The provider streams' HTTP/1.1 transport, against the stub LLM server over real sockets."""

from __future__ import annotations

import asyncio
import datetime
import json
import select
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path

import httpx2
import pytest
import uvloop

from tests.llm.conftest import model_for
from vibeforge.llm import ChatRequest, Message, ProviderTimeout, TextDelta, collect
from vibeforge.llm.stub import Script, StubLLMServer
from vibeforge.llm.transport import MAX_BUFFERED, StreamingTransport, close_streams_of

HELLO = ChatRequest((Message("user", "hello there"),))


def body(prompt: str = "hi") -> dict[str, object]:
    return {
        "model": "stub-model",
        "stream": True,
        "messages": [{"role": "user", "content": prompt}],
    }


async def test_requests_in_turn_share_one_kept_alive_connection(stub: StubLLMServer) -> None:
    stub.script(Script(chunks=("a", "b")), Script(chunks=("c",)), Script(chunks=("d",)))
    async with httpx2.AsyncClient(transport=StreamingTransport(), base_url=stub.url) as http:
        for _ in range(3):
            response = await http.post("/v1/chat/completions", json=body())
            assert response.status_code == 200
            assert b"data: [DONE]" in response.content
    assert len({record.connection_id for record in stub.requests}) == 1


async def test_closing_a_task_s_streams_spares_the_connections_it_finished_with(
    stub: StubLLMServer,
) -> None:
    stub.script(Script(chunks=("a",)), Script(chunks=("b",)))
    async with httpx2.AsyncClient(transport=StreamingTransport(), base_url=stub.url) as http:
        assert (await http.post("/v1/chat/completions", json=body())).status_code == 200
        task = asyncio.current_task()
        assert task is not None
        close_streams_of(task)  # nothing read any more: the idle connection stays
        assert (await http.post("/v1/chat/completions", json=body())).status_code == 200
    assert len({record.connection_id for record in stub.requests}) == 1


async def test_a_stream_arrives_whole_in_whatever_pieces_were_read(stub: StubLLMServer) -> None:
    pieces = tuple(f"piece {i} é€ " for i in range(50))
    stub.script(Script(chunks=pieces, split_utf8=True))
    http = httpx2.AsyncClient(transport=StreamingTransport(), base_url=stub.url)
    async with http, http.stream("POST", "/v1/chat/completions", json=body()) as response:
        raw = b"".join([chunk async for chunk in response.aiter_bytes()])
    events = [line[6:] for line in raw.split(b"\n") if line.startswith(b"data: {")]
    text = "".join(
        (json.loads(event)["choices"] or [{}])[0].get("delta", {}).get("content") or ""
        for event in events
    )
    assert text == "".join(pieces)


async def test_a_body_larger_than_the_buffer_pauses_reading_and_loses_nothing(
    stub: StubLLMServer,
) -> None:
    big = "x" * 65536
    count = 2 * MAX_BUFFERED // len(big) + 4
    stub.script(Script(chunks=(big,) * count))
    http = httpx2.AsyncClient(transport=StreamingTransport(), base_url=stub.url)
    async with http, http.stream("POST", "/v1/chat/completions", json=body()) as response:
        await asyncio.sleep(0.5)  # the server writes everything meanwhile: reading pauses
        raw = b"".join([chunk async for chunk in response.aiter_bytes()])
    assert raw.count(big.encode()) == count


async def test_no_data_within_the_read_timeout_is_a_timeout(stub: StubLLMServer) -> None:
    stub.script(Script(chunks=("warm",)), Script(chunks=("a",), first_byte_delay=1.0))
    model = model_for("openai", stub, timeout=0.3)
    await collect(model, HELLO)  # the SDK's import and the client are not timed
    started = time.monotonic()
    with pytest.raises(ProviderTimeout):
        await collect(model, HELLO)
    assert time.monotonic() - started < 0.9


async def test_a_slow_but_steady_stream_is_not_timed_out(stub: StubLLMServer) -> None:
    # Ten chunks 0.1 s apart: 1 s in all, three times the read timeout, never idle that long.
    stub.script(Script(chunks=tuple("abcdefghij"), chunk_delay=0.1))
    completion = await collect(model_for("openai", stub, timeout=0.3), HELLO)
    assert completion.text == "abcdefghij"


async def test_a_cancelled_stream_s_connection_is_never_reused(stub: StubLLMServer) -> None:
    # (That cancelling closes the upstream at once is test_adapters' for every adapter.)
    stub.script(Script(chunks=tuple("abcdefghij"), chunk_delay=0.05), Script(chunks=("z",)))
    model = model_for("openai", stub)
    events = model.stream(HELLO)
    async for event in events:
        if isinstance(event, TextDelta):
            break
    await events.aclose()  # type: ignore[attr-defined]
    assert (await collect(model, HELLO)).text == "z"
    first, second = stub.requests[-2:]
    assert second.connection_id != first.connection_id
    assert first.client_disconnected_at is not None


@pytest.mark.parametrize(
    "new_loop", [asyncio.new_event_loop, uvloop.new_event_loop], ids=["asyncio", "uvloop"]
)
@pytest.mark.parametrize("at_once", [False, True], ids=["unwound", "closed-at-cancel"])
def test_a_cancelled_stream_sends_its_fin_before_the_loop_turns(
    new_loop: Callable[[], asyncio.AbstractEventLoop], at_once: bool
) -> None:
    # The server runs on uvloop, whose close() and write_eof() wait for the loop's next turn:
    # under load that was tens of milliseconds of the provider still generating tokens. And
    # the task hears of its cancellation only at its next turn: `close_streams_of` does not
    # wait for it.
    with asyncio.Runner(loop_factory=new_loop) as runner:
        assert runner.run(_cancel_a_stream_and_look_at_the_server(at_once=at_once)) == b""


async def _cancel_a_stream_and_look_at_the_server(*, at_once: bool) -> bytes | None:
    """What the server's socket reads, with no turn of the loop since, once a stream's task
    is cancelled and its streams closed (`at_once`), or once its unwinding is over: b"" (the
    FIN), or None (nothing arrived)."""
    loop = asyncio.get_running_loop()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1/chat/completions"
    server: list[socket.socket] = []
    first_piece = asyncio.Event()
    seen: list[bytes | None] = []

    def look() -> None:
        # Blocking, so the loop cannot turn: only a FIN already sent is seen.
        readable, _, _ = select.select(server, [], [], 2.0)
        seen.append(server[0].recv(1) if readable else None)

    async def read() -> None:
        async with httpx2.AsyncClient(transport=StreamingTransport()) as http:
            try:
                async with http.stream("POST", url, json=body()) as response:
                    async for _ in response.aiter_bytes():
                        first_piece.set()
            finally:
                if not at_once:
                    look()

    with listener:
        reader = asyncio.create_task(read())
        peer, _ = await loop.sock_accept(listener)
        server.append(peer)
        with peer:
            request = b""
            while not request.endswith(b"}"):  # the head, then the JSON body
                request += await loop.sock_recv(peer, 65536)
            head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
            await loop.sock_sendall(peer, head + b"9\r\ndata: 1\n\n\r\n")
            await asyncio.wait_for(first_piece.wait(), 5)
            reader.cancel()
            if at_once:
                close_streams_of(reader)
                look()
            with pytest.raises(asyncio.CancelledError):
                await reader
    return seen[0]


async def test_a_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    async with httpx2.AsyncClient(transport=StreamingTransport()) as http:
        with pytest.raises(httpx2.ConnectError):
            await http.get(f"http://127.0.0.1:{port}/")


async def test_a_header_holding_a_line_break_is_never_sent(stub: StubLLMServer) -> None:
    async with httpx2.AsyncClient(transport=StreamingTransport(), base_url=stub.url) as http:
        request = http.build_request("POST", "/v1/chat/completions", json=body())
        request.headers["x-smuggled"] = "a\r\nx-evil: 1"
        with pytest.raises(httpx2.LocalProtocolError):
            await http.send(request)
    assert stub.requests == []


async def test_a_kept_alive_connection_the_server_closed_is_not_reused(
    stub: StubLLMServer,
) -> None:
    stub.script(Script(chunks=("a",)), Script(chunks=("b",)))
    transport = StreamingTransport()
    async with httpx2.AsyncClient(transport=transport, base_url=stub.url) as http:
        assert (await http.post("/v1/chat/completions", json=body())).status_code == 200
        for connection in stub._connections:  # type: ignore[attr-defined]
            connection.transport.close()  # as a server's idle timeout does
        await asyncio.sleep(0.1)
        response = await http.post("/v1/chat/completions", json=body())
    assert response.status_code == 200 and b'"b"' in response.content
    assert len({record.connection_id for record in stub.requests}) == 2


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for `localhost` and its key, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_https_is_verified_against_the_given_context(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=served)
    port = server.sockets[0].getsockname()[1]
    url = f"https://localhost:{port}/"
    try:
        trusting = ssl.create_default_context(cafile=str(cert))
        async with httpx2.AsyncClient(transport=StreamingTransport(trusting)) as http:
            assert (await http.get(url)).text == "ok"
        async with httpx2.AsyncClient(
            transport=StreamingTransport(ssl.create_default_context())
        ) as http:
            with pytest.raises(httpx2.ConnectError):
                await http.get(url)  # a certificate nobody vouched for is refused
    finally:
        server.close()
        await server.wait_closed()


async def test_a_body_that_ends_with_the_connection_is_complete() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n")
        for index in range(3):
            writer.write(b"data: %d\n\n" % index)
            await writer.drain()
            await asyncio.sleep(0.01)
        writer.close()  # no length, no chunks: the close ends the body

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpx2.AsyncClient(transport=StreamingTransport()) as http:
            response = await http.get(f"http://127.0.0.1:{port}/")
        assert response.text == "data: 0\n\ndata: 1\n\ndata: 2\n\n"
    finally:
        server.close()
        await server.wait_closed()
