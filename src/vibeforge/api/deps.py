"""Dependencies shared by the routes: the services, the caller, pagination."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

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


async def current_user(request: Request, services: ServicesDep) -> User:
    """The authenticated caller."""
    token = bearer_token(request.headers.get("authorization"))
    return await services.users.authenticate(token)


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
