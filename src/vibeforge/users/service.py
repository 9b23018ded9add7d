"""Creating users, issuing and revoking bearer tokens, and authenticating requests."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vibeforge.db.engine import Database
from vibeforge.db.tables import ApiToken, User
from vibeforge.db.types import new_id, utcnow
from vibeforge.errors import Conflict, InvalidInput, NotFound, Unauthorized

TOKEN_PREFIX = "vf_"
# Spelled out, not `\s`, so that Python and the ECMA regex of the OpenAPI schema agree:
# around the address what str.strip() removes, in it no space or control character.
_EDGE = r"[\t-\r\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
_PART = (
    r"[^@\u0000-\u0020\u007f-\u00a0\u1680\u180e\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+"
)
EMAIL_PATTERN = f"^{_EDGE}*{_PART}@{_PART}{_EDGE}*$"
_EMAIL = re.compile(EMAIL_PATTERN)
# How long a successful token lookup is reused. Revocation in this process drops the entry
# at once; a revocation made by another process takes effect here within this many seconds.
AUTH_CACHE_TTL_S = 5.0
AUTH_CACHE_MAX = 10_000
# A token's last_used_at is written at most this often: a write per request would make every
# read a database write (SQLite has one writer at a time).
LAST_USED_EVERY_S = 60.0


def token_digest(token: str) -> str:
    """The stored form of a token: tokens are long random strings, so SHA-256 suffices."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh random bearer token."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token as issued: the secret is shown once and never stored."""

    id: str
    name: str
    token: str


class UserService:
    """Users and tokens; every method opens its own transaction."""

    def __init__(
        self,
        db: Database,
        *,
        auth_cache_ttl: float = AUTH_CACHE_TTL_S,
        last_used_every: float = LAST_USED_EVERY_S,
    ) -> None:
        self._db = db
        self._auth_cache_ttl = auth_cache_ttl
        self._last_used_every = timedelta(seconds=last_used_every)
        # token digest -> (expiry on the monotonic clock, user): every WebSocket connect and
        # HTTP request authenticates, and a database round trip each costs more than a run's
        # whole start-up budget allows.
        self._auth_cache: dict[str, tuple[float, User]] = {}
        self._revocations = 0

    async def count(self) -> int:
        """How many users exist."""
        async with self._db.transaction() as session:
            return int(await session.scalar(select(func.count()).select_from(User)) or 0)

    async def create(
        self, email: str, *, is_admin: bool = False, token: str | None = None
    ) -> tuple[User, IssuedToken]:
        """Create a user and a first token (the given one, or a fresh one)."""
        if not _EMAIL.match(email) or len(email.strip()) > 320:
            raise InvalidInput(f"{email!r} is not an email address")
        email = email.strip().lower()
        if token is not None and len(token) < 16:
            raise InvalidInput("a token must be at least 16 characters long")
        async with self._db.transaction() as session:
            if await session.scalar(select(User.id).where(User.email == email)):
                raise Conflict(f"a user with email {email!r} exists")
            user = User(email=email, is_admin=is_admin, created_at=utcnow())
            session.add(user)
            await session.flush()
            issued = self._add_token(session, user.id, "initial", token or new_token())
        return user, issued

    async def by_email(self, email: str) -> User:
        """The user with this email address; NotFound when there is none."""
        async with self._db.transaction() as session:
            user = await session.scalar(select(User).where(User.email == email.strip().lower()))
        if user is None:
            raise NotFound(f"no user {email.strip().lower()!r}")
        return user

    async def issue_token(self, user_id: str, name: str) -> IssuedToken:
        """A new token for an existing user."""
        async with self._db.transaction() as session:
            return self._add_token(session, user_id, name, new_token())

    @staticmethod
    def _add_token(session: AsyncSession, user_id: str, name: str, token: str) -> IssuedToken:
        row = ApiToken(
            id=new_id(),
            user_id=user_id,
            name=name,
            digest=token_digest(token),
            prefix=token[:8],
            created_at=utcnow(),
        )
        session.add(row)
        return IssuedToken(id=row.id, name=name, token=token)

    async def list_tokens(self, user_id: str) -> list[ApiToken]:
        """The user's tokens, newest first, without secrets."""
        async with self._db.transaction() as session:
            rows = await session.scalars(
                select(ApiToken)
                .where(ApiToken.user_id == user_id)
                .order_by(ApiToken.created_at.desc())
            )
            return list(rows)

    async def revoke_token(self, user_id: str, token_id: str) -> None:
        """Revoke one of the user's tokens; it stops working at once."""
        async with self._db.transaction() as session:
            row = await session.scalar(
                select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user_id)
            )
            if row is None:
                raise NotFound(f"no token {token_id!r}")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            digest = row.digest
        self._forget(digest)

    def _forget(self, digest: str) -> None:
        """Drop a cached lookup; lookups already in flight will not cache their answer."""
        self._revocations += 1
        self._auth_cache.pop(digest, None)

    async def authenticate(self, token: str) -> User:
        """The user a bearer token belongs to; Unauthorized when unknown or revoked. The
        token's last_used_at is brought up to date when it is older than `last_used_every`
        (lookups served from the cache write nothing)."""
        digest = token_digest(token)
        now = time.monotonic()
        cached = self._auth_cache.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        revocations = self._revocations
        async with self._db.transaction() as session:
            found = (
                await session.execute(
                    select(User, ApiToken.id, ApiToken.last_used_at)
                    .join(ApiToken, ApiToken.user_id == User.id)
                    .where(ApiToken.digest == digest, ApiToken.revoked_at.is_(None))
                )
            ).first()
            user = found[0] if found is not None else None
            if found is not None:
                stamp = utcnow()
                if found[2] is None or stamp - found[2] >= self._last_used_every:
                    await session.execute(
                        update(ApiToken).where(ApiToken.id == found[1]).values(last_used_at=stamp)
                    )
        if user is None:
            self._auth_cache.pop(digest, None)
            raise Unauthorized("invalid or revoked token")
        # A revocation committed while this lookup ran may not be in its answer: don't keep it.
        if self._auth_cache_ttl > 0 and revocations == self._revocations:
            if len(self._auth_cache) >= AUTH_CACHE_MAX:
                self._auth_cache = {k: v for k, v in self._auth_cache.items() if v[0] > now}
                if len(self._auth_cache) >= AUTH_CACHE_MAX:
                    self._auth_cache.clear()
            self._auth_cache[digest] = (now + self._auth_cache_ttl, user)
        return user
