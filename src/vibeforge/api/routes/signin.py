"""Exchanging a one-time sign-in code (from the link the server prints) for a token."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from pydantic import BaseModel, Field

from vibeforge.api.deps import ServicesDep
from vibeforge.api.routing import AuthFirstRoute
from vibeforge.api.schemas import IssuedTokenOut, Strict, UserOut
from vibeforge.users.signin import SigninCodes

router = APIRouter(tags=["users"], route_class=AuthFirstRoute)
SIGNIN_TOKEN_NAME = "web sign-in"


class SigninRequest(Strict):
    """A code from a sign-in link."""

    code: str = Field(min_length=1, max_length=200)


class SigninOut(BaseModel):
    """The token the code was exchanged for (shown only here) and its user."""

    token: IssuedTokenOut
    user: UserOut


@router.post(
    "/auth/signin",
    responses={401: {"description": "unauthorized: the link is unknown, used or expired"}},
)
async def sign_in(body: SigninRequest, services: ServicesDep) -> SigninOut:
    """Redeem a one-time code for a new token of its user; the code then stops working."""
    codes = SigninCodes(services.settings.resolved_data_dir)
    user_id = await asyncio.to_thread(codes.redeem, body.code)
    issued = await services.users.issue_token(user_id, SIGNIN_TOKEN_NAME)
    user = await services.users.authenticate(issued.token)
    return SigninOut(
        token=IssuedTokenOut(id=issued.id, name=issued.name, token=issued.token),
        user=UserOut.model_validate(user, from_attributes=True),
    )
