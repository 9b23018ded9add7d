"""The route class of every REST route: the caller is authenticated before anything else.

FastAPI reads and parses the body before it solves dependencies, and reports query and path
errors with them, so a client without a valid token would learn that its JSON is malformed (or
its query wrong, or its body too large) before being told it is not authenticated. This route
checks the token first, from the headers alone, so every such request answers 401.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from vibeforge.api.deps import authenticate, current_user
from vibeforge.errors import InvalidPath


def requires_auth(dependant: Dependant) -> bool:
    """Whether a route (or any dependency of it) needs the authenticated caller."""
    return any(
        dependency.call is current_user or requires_auth(dependency)
        for dependency in dependant.dependencies
    )


def refuse_nul(request: Request) -> None:
    """A URL with a NUL byte names nothing (and PostgreSQL cannot even compare one)."""
    if "\x00" in request.scope.get("path", "") or b"%00" in request.scope.get("query_string", b""):
        raise InvalidPath("the URL contains a NUL byte")


class AuthFirstRoute(APIRoute):
    """An API route that authenticates the caller before it reads the body or checks any
    parameter; routes without `CurrentUser` are left as they are."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler, behind the token check and the URL check."""
        handler = super().get_route_handler()
        needs_token = requires_auth(self.dependant)

        async def guarded(request: Request) -> Response:
            if needs_token:
                await authenticate(request)
            refuse_nul(request)
            return await handler(request)

        return guarded
