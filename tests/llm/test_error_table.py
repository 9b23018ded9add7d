"""Provider SDK exceptions are told apart by their classes, never by their names."""

from __future__ import annotations

import importlib

import httpx
import pytest

from vibeforge.llm.errors import (
    HTTPX_ERRORS,
    ErrorTable,
    ProviderAuthenticationError,
    ProviderConnectionError,
    ProviderProtocolError,
    ProviderRateLimited,
    ProviderTimeout,
)

REQUEST = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")


@pytest.fixture(params=["openai", "anthropic"])
def sdk(request: pytest.FixtureRequest) -> object:
    return importlib.import_module(request.param)


def _status_error(sdk: object, status: int, headers: dict[str, str] | None = None) -> Exception:
    response = httpx.Response(status, request=REQUEST, headers=headers, json={"error": "no"})
    error_type = sdk.APIStatusError  # type: ignore[attr-defined]
    return error_type("refused", response=response, body={"error": "no"})


def test_sdk_errors_map_by_class(sdk: object) -> None:
    table = ErrorTable.of_sdk(sdk)  # type: ignore[arg-type]
    timeout = sdk.APITimeoutError(request=REQUEST)  # type: ignore[attr-defined]
    connection = sdk.APIConnectionError(request=REQUEST)  # type: ignore[attr-defined]
    assert isinstance(table.map("p", timeout), ProviderTimeout)
    assert isinstance(table.map("p", connection), ProviderConnectionError)
    refused = table.map("p", _status_error(sdk, 401))
    assert isinstance(refused, ProviderAuthenticationError) and refused.provider_status == 401
    limited = table.map("p", _status_error(sdk, 429, {"retry-after": "3"}))
    assert isinstance(limited, ProviderRateLimited) and limited.retry_after == 3.0
    assert isinstance(table.map("p", httpx.ReadTimeout("slow")), ProviderTimeout)
    assert isinstance(table.map("p", httpx.RemoteProtocolError("cut")), ProviderConnectionError)


def test_a_class_named_like_a_timeout_is_not_one(sdk: object) -> None:
    class ReadTimeoutConnectionProtocolError(Exception):
        pass

    mapped = ErrorTable.of_sdk(sdk).map("p", ReadTimeoutConnectionProtocolError("x"))  # type: ignore[arg-type]
    assert isinstance(mapped, ProviderProtocolError)
    assert mapped.retryable  # a protocol error may be retried, but not as a timeout


def test_httpx_alone_maps_statuses_timeouts_and_drops() -> None:
    response = httpx.Response(503, request=REQUEST)
    status = httpx.HTTPStatusError("down", request=REQUEST, response=response)
    assert HTTPX_ERRORS.map("ollama", status).provider_status == 503  # type: ignore[attr-defined]
    assert isinstance(HTTPX_ERRORS.map("ollama", httpx.ConnectTimeout("x")), ProviderTimeout)
    assert isinstance(HTTPX_ERRORS.map("ollama", httpx.ConnectError("x")), ProviderConnectionError)
