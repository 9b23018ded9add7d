"""What the Python client raises: the server's refusals, and a connection it could not keep.

VibeforgeError (vibeforge.errors)
└── ClientError
    ├── ApiError          the server (or the client, checking first as the server would)
    │                     refused a request: `status`, `code`, `detail` of its error shape
    └── ConnectionLost    the event socket stayed down longer than the client waits
"""

from __future__ import annotations

from typing import Any

from vibeforge.errors import VibeforgeError


class ClientError(VibeforgeError):
    """Base of the client's errors."""

    code = "client_error"


class ApiError(ClientError):
    """A request refused with `{"error": CODE, "detail": TEXT}` (or a status with no such body)."""

    def __init__(self, status: int, code: str, detail: str, body: Any = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.body = body  # the whole error body: a failed run's also names its message and run

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.detail}"

    @classmethod
    def of(cls, error: VibeforgeError) -> ApiError:
        """The refusal the server would answer for a domain error found on this side."""
        return cls(error.status, error.code, error.detail)


class ConnectionLost(ClientError):
    """The event socket could not be re-established in time; the run may still be going."""

    code = "connection_lost"
    status = 503
