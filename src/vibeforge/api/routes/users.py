"""The caller, users (for administrators) and API tokens."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from vibeforge.api.deps import AdminUser, CurrentUser, ServicesDep
from vibeforge.api.routing import AuthFirstRoute
from vibeforge.api.schemas import (
    IssuedTokenOut,
    PageOut,
    TokenCreate,
    TokenOut,
    UserCreate,
    UserCreated,
    UserOut,
)

router = APIRouter(tags=["users"], route_class=AuthFirstRoute)


@router.get("/me")
async def me(user: CurrentUser) -> UserOut:
    """The authenticated user."""
    return UserOut.model_validate(user, from_attributes=True)


@router.post("/users", status_code=status.HTTP_201_CREATED)
async def create_user(body: UserCreate, _: AdminUser, services: ServicesDep) -> UserCreated:
    """Create a user and its first token (administrators only)."""
    user, issued = await services.users.create(body.email, is_admin=body.is_admin)
    return UserCreated(user=UserOut.model_validate(user, from_attributes=True), token=issued.token)


@router.get("/auth/tokens")
async def list_tokens(user: CurrentUser, services: ServicesDep) -> PageOut[TokenOut]:
    """The caller's tokens, without their secrets."""
    rows = await services.users.list_tokens(user.id)
    return PageOut(items=[TokenOut.model_validate(row, from_attributes=True) for row in rows])


@router.post("/auth/tokens", status_code=status.HTTP_201_CREATED)
async def create_token(
    body: TokenCreate, user: CurrentUser, services: ServicesDep
) -> IssuedTokenOut:
    """A new token for the caller; its secret is shown only in this response."""
    issued = await services.users.issue_token(user.id, body.name)
    return IssuedTokenOut(id=issued.id, name=issued.name, token=issued.token)


@router.delete("/auth/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_token(token_id: str, user: CurrentUser, services: ServicesDep) -> Response:
    """Revoke one of the caller's tokens."""
    await services.users.revoke_token(user.id, token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
