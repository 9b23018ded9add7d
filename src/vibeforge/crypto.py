"""The server's secret key, and encryption at rest of the API keys it stores."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vibeforge.errors import VibeforgeError


class DecryptionFailed(VibeforgeError):
    """A stored secret cannot be decrypted: the server's secret key changed."""

    code = "secret_key_mismatch"
    status = 500


def write_private_file(path: Path, text: str | bytes) -> None:
    """Create `path` with mode 0600 atomically, so the secret is never readable by others."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode() if isinstance(text, str) else text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def load_or_create_secret_key(configured: str | None, data_dir: Path) -> str:
    """The configured secret key, else the one in `data_dir/secret-key`, created on first use."""
    if configured:
        return configured
    path = data_dir / "secret-key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(48)
    write_private_file(path, key + "\n")
    return key


class SecretBox:
    """Encrypts and decrypts short secrets (API keys) with a key derived from the secret key."""

    def __init__(self, secret_key: str) -> None:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"vibeforge api keys v1"
        ).derive(secret_key.encode("utf-8"))
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def encrypt(self, plaintext: str) -> str:
        """The ciphertext of `plaintext`, authenticated and randomised."""
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        """The plaintext of a value made by encrypt; DecryptionFailed if the key changed."""
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise DecryptionFailed(
                "a stored API key cannot be decrypted with this secret key"
            ) from None
