"""Errors of the LLM layer: every provider failure becomes one of these.

    VibeforgeError
    ├── InvalidInput
    │   └── InvalidParameter             422  a parameter unknown, unaccepted or out of range
    └── ProviderError                     502  the provider failed; `retryable` says if trying
        │                                      again may help
        ├── ProviderHTTPError             502  an HTTP error status (provider_status, body)
        │   ├── ProviderAuthenticationError    401/403 from the provider   never retried
        │   ├── ProviderRateLimited       503  429 from the provider       retried (retry_after)
        │   ├── ProviderBadRequest             400/404/413/422            never retried
        │   └── ProviderServerError            5xx, 408, 409              retried
        ├── ProviderConnectionError       503  could not connect, or the connection dropped
        ├── ProviderTimeout               504  no answer in time                 retried
        ├── ProviderProtocolError         502  an answer we cannot parse or that ends early
        └── ProviderEmptyResponse         502  a finished answer with no text, thinking or
                                               tool call in it                    retried

`status` is the HTTP status *vibeforge* answers with; the provider's own status is
`provider_status`, so a provider's 401 never reads as "your vibeforge token is wrong".
`usage` and `raw` hold what the provider reported for a call that failed after it was
accepted (an empty answer is billed too), so the failed attempt can be recorded truthfully.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

import httpx
import httpx2

from vibeforge.errors import InvalidInput, VibeforgeError

if TYPE_CHECKING:  # types imports params, which imports this module
    from vibeforge.llm.types import Usage


class InvalidParameter(InvalidInput):
    """A request parameter the model does not accept, or a value out of range."""

    code = "invalid_parameter"

    def __init__(self, parameter: str, reason: str) -> None:
        super().__init__(f"parameter {parameter!r}: {reason}")
        self.parameter = parameter


class ProviderError(VibeforgeError):
    """A provider call failed."""

    code = "provider_error"
    status = 502
    retryable: bool = False
    usage: Usage | None = None  # tokens the provider counted (or we estimated) for the call
    raw: dict[str, Any] | None = None  # the provider's response so far, if any
    # Refused before any request left (e.g. by a budget): no attempt to record or bill.
    unsent: bool = False

    def __init__(self, provider: str, detail: str) -> None:
        super().__init__(f"{provider}: {detail}")
        self.provider = provider


class ProviderHTTPError(ProviderError):
    """The provider answered with an HTTP error status."""

    code = "provider_http_error"

    def __init__(self, provider: str, status: int, body: str, message: str = "") -> None:
        super().__init__(provider, f"HTTP {status}" + (f": {message}" if message else ""))
        self.provider_status, self.body = status, body
        self.retryable = status in (408, 409, 429) or status >= 500


class ProviderAuthenticationError(ProviderHTTPError):
    """The provider refused the API key."""

    code = "provider_authentication"


class ProviderRateLimited(ProviderHTTPError):
    """The provider asked us to slow down."""

    code = "provider_rate_limited"
    status = 503

    def __init__(
        self,
        provider: str,
        status: int,
        body: str,
        message: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(provider, status, body, message)
        self.retry_after = retry_after


class ProviderBadRequest(ProviderHTTPError):
    """The provider rejected the request itself (unknown model, bad parameter, too long)."""

    code = "provider_bad_request"


class ProviderServerError(ProviderHTTPError):
    """The provider failed on its side."""

    code = "provider_server_error"


class ProviderConnectionError(ProviderError):
    """The provider could not be reached, or dropped the connection."""

    code = "provider_unreachable"
    status = 503
    retryable = True


class ProviderTimeout(ProviderError):
    """The provider did not answer in time."""

    code = "provider_timeout"
    status = 504
    retryable = True


class ProviderProtocolError(ProviderError):
    """The provider's answer could not be understood, or it ended before finishing."""

    code = "provider_protocol_error"
    retryable = True


class ProviderEmptyResponse(ProviderError):
    """The provider finished an answer that holds nothing: no text, thinking or tool call."""

    code = "empty_response"
    retryable = True

    def __init__(self, provider: str, stop_reason: str) -> None:
        super().__init__(provider, f"the answer was empty (stop reason {stop_reason!r})")
        self.stop_reason = stop_reason


def http_error(
    provider: str, status: int, body: str, message: str = "", retry_after: float | None = None
) -> ProviderHTTPError:
    """The ProviderHTTPError subclass for an HTTP status."""
    if status in (401, 403):
        return ProviderAuthenticationError(provider, status, body, message)
    if status == 429:
        return ProviderRateLimited(provider, status, body, message, retry_after)
    if status in (400, 404, 413, 422):
        return ProviderBadRequest(provider, status, body, message)
    if status >= 500 or status in (408, 409):
        return ProviderServerError(provider, status, body, message)
    return ProviderHTTPError(provider, status, body, message)


ERROR_BODY_LIMIT = 64 * 1024  # an error page longer than this is cut (it is only reported)


class ErrorResponse(Protocol):
    """What `status_error` reads of a response: httpx's and httpx2's both fit."""

    status_code: int

    @property
    def headers(self) -> Mapping[str, str]: ...

    def aiter_bytes(self) -> AsyncIterator[bytes]: ...


async def status_error(provider: str, response: ErrorResponse) -> ProviderHTTPError:
    """The ProviderHTTPError an HTTP error response means: the message its body gives (an
    OpenAI-shaped `{"error": {"message"}}`, Ollama's `{"error": "..."}`, else the body, short)
    and how long it asks us to wait (`retry-after-ms`, else `Retry-After`)."""
    pieces: list[bytes] = []
    size = 0
    async for piece in response.aiter_bytes():
        pieces.append(piece)
        size += len(piece)
        if size >= ERROR_BODY_LIMIT:
            break
    text = b"".join(pieces)[:ERROR_BODY_LIMIT].decode("utf-8", "replace")
    headers = response.headers
    retry_after = parse_retry_after_ms(headers.get("retry-after-ms"))
    if retry_after is None:
        retry_after = parse_retry_after(headers.get("retry-after"))
    return http_error(provider, response.status_code, text, error_message(text), retry_after)


def error_message(text: str) -> str:
    """The message of an error body, else the body itself, short."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return text.strip()[:500]
    error = parsed.get("error", parsed) if isinstance(parsed, dict) else parsed
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    if isinstance(error, str):
        return error
    return text.strip()[:500]


def parse_retry_after_ms(value: str | None) -> float | None:
    """Seconds from a `retry-after-ms` header (OpenAI's), which its SDK honoured."""
    if not value:
        return None
    try:
        return max(0.0, float(value) / 1000)
    except ValueError:
        return None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header given in seconds; dates are ignored."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class ErrorTable:
    """Which exceptions of a provider SDK and its HTTP client mean what. Built from the SDK's
    own classes once it is imported (lazily), so a retry decision, which spends money, never
    rests on the spelling of a class name."""

    status: tuple[type[BaseException], ...]  # the provider answered an HTTP error status
    timeout: tuple[type[BaseException], ...]
    connection: tuple[type[BaseException], ...]  # could not connect, or the connection broke

    @classmethod
    def of_sdk(cls, sdk: ModuleType) -> ErrorTable:
        """The table of an SDK generated the way `openai`'s and `anthropic`'s are."""
        # The SDKs are built on httpx or on its successor httpx2, whose errors are their own
        # classes: a transport error raised while a body streams must be known as either.
        http = [httpx, *(m for m in (sys.modules.get("httpx2"),) if m is not None)]
        return cls(
            status=(sdk.APIStatusError,),
            timeout=(sdk.APITimeoutError, *(m.TimeoutException for m in http)),
            connection=(sdk.APIConnectionError, *(m.TransportError for m in http), OSError),
        )

    def map(self, provider: str, error: BaseException) -> ProviderError:
        """`error` as the ProviderError it means."""
        if isinstance(error, self.status):
            response = getattr(error, "response", None)
            status = getattr(error, "status_code", None) or getattr(response, "status_code", 0)
            headers = getattr(response, "headers", None) or {}
            body = getattr(error, "body", None)
            return http_error(
                provider,
                int(status),
                json.dumps(body) if body is not None else "",
                getattr(error, "message", "") or str(error),
                parse_retry_after(headers.get("retry-after")),
            )
        # Timeouts first: the SDKs' timeout is a kind of connection error.
        if isinstance(error, self.timeout):
            return ProviderTimeout(provider, f"no answer in time ({type(error).__name__})")
        if isinstance(error, self.connection):
            return ProviderConnectionError(provider, f"connection failed or dropped: {error}")
        return ProviderProtocolError(provider, f"{type(error).__name__}: {error}")


#: The table of adapters that speak HTTP with httpx alone (Ollama's native API).
HTTPX_ERRORS = ErrorTable(
    status=(httpx.HTTPStatusError,),
    timeout=(httpx.TimeoutException,),
    connection=(httpx.TransportError, OSError),
)

#: The table of adapters that send through `llm.transport` (httpx2's classes): statuses are
#: mapped before an exception could be raised for one.
HTTPX2_ERRORS = ErrorTable(
    status=(),
    timeout=(httpx2.TimeoutException,),
    connection=(httpx2.TransportError, OSError),
)
