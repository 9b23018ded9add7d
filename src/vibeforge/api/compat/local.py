"""The local mode: a request without a token from this machine acts as one configured user.

Off unless `VIBEFORGE_LOCAL_USER` is set, and refused at start-up unless the server listens
on a loopback address only (`Settings.local_mode_problem`), so no other machine can reach it.
A request that carries a token is authenticated by it as always (a bad one is still 401).
"""

from __future__ import annotations

import logging

from starlette.requests import HTTPConnection

from vibeforge.config import is_loopback_host
from vibeforge.db.tables import User
from vibeforge.errors import NotFound, Unauthorized
from vibeforge.services import Services

log = logging.getLogger("vibeforge.local")


async def ensure_local_user(services: Services) -> str | None:
    """At start-up: the local user, created when missing; None when the mode is off."""
    email = services.settings.local_user
    if not email:
        return None
    try:
        user = await services.users.by_email(email)
    except NotFound:
        user, _ = await services.users.create(email)  # its token is never shown: none is needed
    log.warning("local mode: requests without a token from this machine act as %s", user.email)
    return user.email


async def local_caller(services: Services, connection: HTTPConnection) -> User | None:
    """The local user when the mode is on and the caller is on this machine, else None."""
    client = connection.client
    return await local_user_at(services, client.host if client is not None else None)


async def local_user_at(services: Services, host: str | None) -> User | None:
    """The local user for a caller at `host` (its address), or None when the mode is off
    or the caller is elsewhere; Unauthorized if the user was deleted meanwhile."""
    email = services.settings.local_user
    if not email or host is None or not is_loopback_host(host):
        return None
    try:
        return await services.users.by_email(email)
    except NotFound:
        raise Unauthorized("the local user no longer exists") from None
