"""One-time sign-in codes: a link the server prints, exchanged once for a fresh token.

A code is a 256-bit random string; only its SHA-256 digest is stored, as a file named by the
digest under `data/signin/` (so the CLI and every server process sharing the data directory
see the same codes, and no database migration is needed). Redeeming renames that file to a
claimed name first: `rename(2)` succeeds for one caller only, so a code is used at most once
even when two requests race. An expired code is refused and removed.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from vibeforge.crypto import write_private_file
from vibeforge.errors import Unauthorized
from vibeforge.users.service import token_digest

SIGNIN_CODE_TTL_S = 3600.0
_INVALID = "this sign-in link is unknown, already used or expired; sign in with a token"


@dataclass(frozen=True, slots=True)
class SigninCode:
    """A freshly made code: shown once (in the printed link), never stored as such."""

    code: str
    user_id: str
    expires_at: float  # seconds since the epoch


class SigninCodes:
    """The one-time codes of a data directory."""

    def __init__(self, data_dir: Path, ttl_s: float = SIGNIN_CODE_TTL_S) -> None:
        self.directory = data_dir / "signin"
        self.ttl_s = ttl_s

    def create(self, user_id: str) -> SigninCode:
        """A new code for a user, valid once within the time to live."""
        self._prune()
        self.directory.mkdir(mode=0o700, exist_ok=True)
        code = secrets.token_urlsafe(32)
        expires_at = time.time() + self.ttl_s
        record = json.dumps({"user_id": user_id, "expires_at": expires_at})
        write_private_file(self._path(code), record)
        return SigninCode(code, user_id, expires_at)

    def redeem(self, code: str) -> str:
        """The user id of a valid code, which stops being valid; Unauthorized otherwise."""
        if not code or len(code) > 200:
            raise Unauthorized(_INVALID)
        path = self._path(code)
        claimed = path.with_name(f"{path.name}.claimed-{secrets.token_hex(8)}")
        try:
            os.rename(path, claimed)
        except OSError:
            raise Unauthorized(_INVALID) from None
        try:
            record = json.loads(claimed.read_text())
        except (OSError, ValueError):
            raise Unauthorized(_INVALID) from None
        finally:
            claimed.unlink(missing_ok=True)
        if not isinstance(record, dict) or float(record.get("expires_at", 0)) < time.time():
            raise Unauthorized(_INVALID)
        return str(record["user_id"])

    def _path(self, code: str) -> Path:
        return self.directory / f"{token_digest(code)}.json"

    def _prune(self) -> None:
        """Remove expired codes (and claims a crash left behind)."""
        if not self.directory.is_dir():
            return
        now = time.time()
        for path in self.directory.iterdir():
            try:
                if ".claimed-" in path.name:
                    path.unlink(missing_ok=True)
                    continue
                if float(json.loads(path.read_text()).get("expires_at", 0)) < now:
                    path.unlink(missing_ok=True)
            except (OSError, ValueError, AttributeError):
                path.unlink(missing_ok=True)


def signin_url(host: str, port: int, code: str) -> str:
    """The link that opens the web client and signs in with `code` (kept in the fragment, so
    it never reaches a server log or a Referer header)."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/#/signin?code={code}"
