"""Token lookups are cached briefly, and a revocation still takes effect at once."""

import asyncio

import pytest

from vibeforge.db.engine import Database
from vibeforge.errors import Unauthorized
from vibeforge.users.service import UserService


@pytest.fixture
async def db(database_url: str):  # type: ignore[no-untyped-def]
    database = Database(database_url)
    await database.upgrade()
    yield database
    await database.dispose()


async def test_a_cached_token_is_refused_as_soon_as_it_is_revoked(db: Database) -> None:
    users = UserService(db)
    user, issued = await users.create("dev@example.com")
    assert (await users.authenticate(issued.token)).id == user.id
    assert (await users.authenticate(issued.token)).id == user.id  # served from the cache
    await users.revoke_token(user.id, issued.id)
    with pytest.raises(Unauthorized):
        await users.authenticate(issued.token)


async def test_a_lookup_racing_a_revocation_is_not_cached(db: Database) -> None:
    users = UserService(db)
    user, issued = await users.create("dev@example.com")
    second = await users.issue_token(user.id, "second")
    # Both start before the revocation commits; the lookup may still answer with the user,
    # but must not keep that answer for later requests.
    lookup = asyncio.create_task(users.authenticate(second.token))
    await users.revoke_token(user.id, second.id)
    await asyncio.gather(lookup, return_exceptions=True)
    with pytest.raises(Unauthorized):
        await users.authenticate(second.token)
    assert (await users.authenticate(issued.token)).id == user.id


async def test_another_process_revoking_is_seen_when_the_entry_expires(db: Database) -> None:
    here = UserService(db, auth_cache_ttl=0.2)
    elsewhere = UserService(db)  # stands for a second server process on the same database
    user, issued = await here.create("dev@example.com")
    await here.authenticate(issued.token)
    await elsewhere.revoke_token(user.id, issued.id)
    assert (await here.authenticate(issued.token)).id == user.id  # still cached here
    await asyncio.sleep(0.25)
    with pytest.raises(Unauthorized):
        await here.authenticate(issued.token)


async def test_a_refusal_is_never_cached(db: Database) -> None:
    users = UserService(db)
    token = "vf_not-yet-known-token-0123"
    with pytest.raises(Unauthorized):
        await users.authenticate(token)
    user, _ = await users.create("dev@example.com", token=token)
    assert (await users.authenticate(token)).id == user.id


async def _last_used(users: UserService, user_id: str) -> object:
    return (await users.list_tokens(user_id))[0].last_used_at


async def test_last_used_at_is_written_but_not_on_every_request(db: Database) -> None:
    users = UserService(db, auth_cache_ttl=0, last_used_every=0.3)
    user, issued = await users.create("dev@example.com")
    assert await _last_used(users, user.id) is None
    await users.authenticate(issued.token)
    first = await _last_used(users, user.id)
    assert first is not None
    for _ in range(5):
        await users.authenticate(issued.token)  # every one a database lookup (no cache)
    assert await _last_used(users, user.id) == first, "throttled: no write per request"
    await asyncio.sleep(0.35)
    await users.authenticate(issued.token)
    later = await _last_used(users, user.id)
    assert later is not None and later > first  # type: ignore[operator]


async def test_the_api_shows_when_a_token_was_last_used(client) -> None:  # type: ignore[no-untyped-def]
    tokens = (await client.get("/auth/tokens")).json()["items"]
    assert tokens[0]["last_used_at"] is not None
