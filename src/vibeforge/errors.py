"""The error hierarchy: every domain error is a VibeforgeError with a code and an HTTP status.

    VibeforgeError
    ├── InvalidInput           422  the request is well-formed but its values are not acceptable
    │   └── InvalidPath        422  a path that is absolute, climbs out, reaches into .git, ...
    ├── MalformedRequest       400  the request body cannot be parsed
    ├── Unauthorized           401  no valid bearer token
    ├── Forbidden              403  authenticated, but not allowed
    ├── NotFound               404  unknown id, or a resource of another user
    ├── Conflict               409  the resource changed or already exists
    ├── PayloadTooLarge        413  a body or file over its limit
    ├── Unavailable            503  a dependency (database, git, provider) cannot answer
    └── (layer bases, e.g. ProviderError in vibeforge.llm.errors)

Routes never build HTTP errors themselves: services raise these, and one handler in
`vibeforge.api.errors` renders them as `{"error": CODE, "detail": TEXT}`.
"""

from __future__ import annotations


class VibeforgeError(Exception):
    """Base of every error vibeforge raises on purpose."""

    code: str = "error"
    status: int = 500

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.code)
        self.detail = detail or self.code


class InvalidInput(VibeforgeError):
    """A value the caller sent is not acceptable."""

    code = "invalid_input"
    status = 422


class InvalidPath(InvalidInput):
    """A file path that is not a safe path inside the project."""

    code = "invalid_path"


class MalformedRequest(VibeforgeError):
    """The request body could not be parsed at all."""

    code = "malformed_request"
    status = 400


class Unauthorized(VibeforgeError):
    """No valid credentials."""

    code = "unauthorized"
    status = 401


class Forbidden(VibeforgeError):
    """Valid credentials, but the action is not allowed for this user."""

    code = "forbidden"
    status = 403


class NotFound(VibeforgeError):
    """The resource does not exist, or belongs to someone else."""

    code = "not_found"
    status = 404


class Conflict(VibeforgeError):
    """The request conflicts with the resource's current state."""

    code = "conflict"
    status = 409


class PayloadTooLarge(VibeforgeError):
    """A body or file over its size limit."""

    code = "payload_too_large"
    status = 413


class Unavailable(VibeforgeError):
    """A dependency the request needs is not answering."""

    code = "unavailable"
    status = 503
