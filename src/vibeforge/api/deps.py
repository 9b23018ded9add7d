"""Dependencies shared by the routes: the services, the caller, pagination."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from vibeforge.api.compat.local import local_caller
from vibeforge.db.tables import User
from vibeforge.errors import Forbidden, Unauthorized
from vibeforge.paging import DEFAULT_LIMIT, MAX_LIMIT
from vibeforge.projects.service import ProjectService
from vibeforge.services import Services


def get_services(request: Request) -> Services:
    """The services of the app serving this request."""
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer TOKEN` header value."""
    if not authorization:
        raise Unauthorized("missing Authorization: Bearer header")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer TOKEN'")
    return token.strip()


USER_SCOPE_KEY = "vibeforge.user"
# Declares the scheme in the OpenAPI schema (the routes that need a token say so); the header
# itself is checked by `authenticate`, with a precise reason when it is wrong.
_bearer_scheme = HTTPBearer(
    auto_error=False, description="an API token: `Authorization: Bearer TOKEN`"
)


async def authenticate(request: Request) -> User:
    """The caller of a request, looked up once per request from its headers alone."""
    user = request.scope.get(USER_SCOPE_KEY)
    if user is None:
        header = request.headers.get("authorization")
        services = get_services(request)
        if header is None:
            user = await local_caller(services, request)
        if user is None:
            user = await services.users.authenticate(bearer_token(header))
        request.scope[USER_SCOPE_KEY] = user
    return user


async def current_user(
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer_scheme)],
) -> User:
    """The authenticated caller (routes check it before reading anything else, see
    `vibeforge.api.routing`)."""
    return await authenticate(request)


CurrentUser = Annotated[User, Depends(current_user)]


async def admin_user(user: CurrentUser) -> User:
    """The caller, who must be an administrator."""
    if not user.is_admin:
        raise Forbidden("only an administrator may do this")
    return user


AdminUser = Annotated[User, Depends(admin_user)]


def get_projects(services: ServicesDep) -> ProjectService:
    """The project service."""
    return services.projects


ProjectsDep = Annotated[ProjectService, Depends(get_projects)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size")]
Cursor = Annotated[str | None, Query(max_length=512, description="from a previous page's next")]
DEFAULT_PAGE = DEFAULT_LIMIT
