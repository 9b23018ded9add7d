"""An unexpected exception is a 500 in the error shape, carrying the request id in its
`X-Request-ID` header and its detail, logged with its stack trace, never shown to the client."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import Depends, FastAPI
from fastapi.responses import StreamingResponse

from tests.conftest import ADMIN_TOKEN
from tests.servers import serve_in_process
from vibeforge.api.deps import CurrentUser
from vibeforge.api.routing import AuthFirstRoute

SECRET = "internal-state-a-client-must-never-see"


def _fail() -> None:
    raise RuntimeError(SECRET)


@pytest.fixture
def failing_app(app: FastAPI) -> FastAPI:
    """The app with test-only routes that fail: in the endpoint, in a dependency, mid-stream."""

    async def in_endpoint(user: CurrentUser) -> dict[str, str]:
        raise RuntimeError(f"{SECRET} for {user.email}")

    async def in_dependency(_: None = Depends(_fail)) -> dict[str, str]:
        return {}

    async def in_public_route() -> dict[str, str]:
        raise LookupError(SECRET)

    async def mid_stream(user: CurrentUser) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            yield b"partial "
            raise RuntimeError(SECRET)

        return StreamingResponse(body())

    for path, endpoint in [
        ("/test-only/endpoint", in_endpoint),
        ("/test-only/dependency", in_dependency),
        ("/test-only/public", in_public_route),
        ("/test-only/stream", mid_stream),
    ]:
        app.router.routes.append(AuthFirstRoute(path, endpoint, methods=["GET", "POST"]))
    return app


def _assert_internal_error(response: httpx.Response) -> str:
    assert response.status_code == 500
    assert response.json()["error"] == "internal_error"
    rid = response.headers["x-request-id"]
    assert response.json()["detail"] == f"internal error (request id {rid})"
    for leak in (SECRET, "Traceback", "RuntimeError", "LookupError", ".py"):
        assert leak not in response.text
    return rid


@pytest.mark.parametrize(
    "path", ["/test-only/endpoint", "/test-only/dependency", "/test-only/public"]
)
async def test_an_unexpected_error_carries_the_request_id_in_header_and_detail(
    failing_app: FastAPI,
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    path: str,
) -> None:
    with caplog.at_level(logging.ERROR, logger="vibeforge"):
        generated = _assert_internal_error(await client.get(path))
        assert re.fullmatch(r"[0-9a-f]{16}", generated)
        echoed = _assert_internal_error(
            await client.post(path, json={}, headers={"X-Request-ID": "client-chosen-17"})
        )
    assert echoed == "client-chosen-17"
    failures = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    assert [r.request_id for r in failures] == [generated, echoed]  # type: ignore[attr-defined]
    for record in failures:
        assert record.exc_info is not None and SECRET in str(record.exc_info[1])


async def test_a_request_after_an_internal_error_is_served_normally(
    failing_app: FastAPI, client: httpx.AsyncClient
) -> None:
    _assert_internal_error(await client.get("/test-only/endpoint"))
    health = await client.get("/health", headers={"X-Request-ID": "after-the-failure"})
    assert health.status_code == 200
    assert health.headers["x-request-id"] == "after-the-failure"


@pytest.fixture
async def served(failing_app: FastAPI) -> AsyncIterator[str]:
    """The failing app behind a real uvicorn."""
    async with serve_in_process(failing_app) as url:
        yield url


async def test_an_error_after_the_answer_started_closes_the_connection_and_is_logged(
    served: str, caplog: pytest.LogCaptureFixture
) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Request-ID": "mid-stream-1"}
    with caplog.at_level(logging.ERROR, logger="vibeforge"):
        async with httpx.AsyncClient(base_url=served, headers=headers) as http:
            async with http.stream("GET", "/test-only/stream") as response:
                assert response.status_code == 200  # the answer had started: no 500 now
                with pytest.raises(httpx.RemoteProtocolError):
                    await response.aread()
            # The server is unharmed, and the next request is answered normally.
            assert (await http.get("/health")).status_code == 200
    failures = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    assert [r.request_id for r in failures] == ["mid-stream-1"]  # type: ignore[attr-defined]
