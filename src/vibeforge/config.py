"""Server settings, read once from VIBEFORGE_* environment variables and passed down."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url


class Settings(BaseSettings):
    """Everything the server can be configured with; build it once and pass it to create_app."""

    model_config = SettingsConfigDict(env_prefix="VIBEFORGE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    data_dir: Path = Path("data")
    database_url: str | None = None
    admin_token: SecretStr | None = None
    secret_key: SecretStr | None = None
    max_file_bytes: int = Field(default=1024 * 1024, gt=0)
    default_model: str | None = None
    log_level: str = "INFO"
    # JSON lines, or text for people; unset: text on a terminal, JSON otherwise.
    log_json: bool | None = None
    # Several server processes share this data directory and a PostgreSQL database
    # (scale-out): the directory is locked shared instead of exclusively (see datadir.py).
    shared_data_dir: bool = False
    # Scale-out (see docs/deploy.md): Redis carries events, run leases, cancels and Socket.IO
    # between the processes; it needs PostgreSQL and implies a shared data directory. Keys
    # and channels are under `redis_prefix`, so deployments may share one Redis.
    redis_url: SecretStr | None = None
    redis_prefix: str = Field(default="vibeforge", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    # A run's owner renews its lease every heartbeat; another process may close the run as
    # interrupted once the lease is older than lease_ms.
    lease_ms: int = Field(default=5000, ge=100, le=600_000)
    heartbeat_ms: int = Field(default=1000, ge=20, le=60_000)
    # Events a socket may fall behind by before it is closed (code 4008) instead of buffered.
    ws_queue_events: int = Field(default=2048, ge=8, le=1_000_000)
    # Attachments (uploaded context files): limits, extraction, and their share of a prompt.
    attachment_max_bytes: int = Field(default=32 * 1024 * 1024, gt=0)
    attachment_max_files: int = Field(default=100, gt=0)  # per session (or per project)
    attachment_user_bytes: int = Field(default=1024 * 1024 * 1024, gt=0)  # stored, per user
    attachment_pdf_pages: int = Field(default=1000, gt=0)
    attachment_image_pixels: int = Field(default=40_000_000, gt=0)
    attachment_extract_timeout_s: float = Field(default=60.0, gt=0)
    attachment_workers: int = Field(default=2, ge=1, le=64)  # extraction processes at once
    attachment_context_tokens: int = Field(default=32_000, gt=0)  # a prompt's attachments
    # Project archives (import): the upload, and what it may unpack to.
    import_max_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    import_max_files: int = Field(default=10_000, gt=0)
    import_max_total_bytes: int = Field(default=256 * 1024 * 1024, gt=0)

    # Prompt tests: how many test runs go at once, where the programs' Python environments are
    # cached (it must be reachable by the sandbox's uids: not inside the 0700 data directory),
    # and arguments added to every pip install (e.g. ["--no-index", "--find-links", "DIR"]).
    test_concurrency: int = Field(default=4, ge=1, le=64)
    test_env_dir: Path | None = None
    test_pip_args: list[str] = Field(default_factory=list)

    # Local mode (off by default): requests without a token from a loopback address act as
    # this user, so the reference systems' clients (which send none) work unchanged. Refused
    # unless the server listens on loopback only.
    local_user: str | None = None
    # Browser origins allowed to call the API (CORS), comma-separated; empty: none.
    cors_origins: str = ""

    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("VIBEFORGE_OPENAI_API_KEY", "OPENAI_API_KEY")
    )
    ollama_host: str | None = Field(
        default=None, validation_alias=AliasChoices("VIBEFORGE_OLLAMA_HOST", "OLLAMA_HOST")
    )

    @property
    def scaled_out(self) -> bool:
        """Whether this process is one of several (VIBEFORGE_REDIS_URL is set)."""
        return self.redis_url is not None

    @property
    def shares_data_dir(self) -> bool:
        """Whether other processes may use the data directory at the same time."""
        return self.shared_data_dir or self.scaled_out

    @property
    def cors_origin_list(self) -> list[str]:
        """The configured CORS origins, one per comma-separated entry."""
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    def local_mode_problem(self) -> str | None:
        """Why the local mode cannot be on with this host (None: it is off, or allowed)."""
        if not self.local_user or is_loopback_host(self.host):
            return None
        return (
            f"VIBEFORGE_LOCAL_USER is set but the server would listen on {self.host}: local "
            "mode (requests without a token act as that user) needs a loopback host such as "
            "127.0.0.1"
        )

    @property
    def resolved_data_dir(self) -> Path:
        """The data directory as an absolute path."""
        return self.data_dir.expanduser().resolve()

    def ensure_data_dir(self) -> Path:
        """The data directory, created readable by the server's user alone if missing: it
        holds the secret key, the admin token and the database."""
        path = self.resolved_data_dir
        if not path.exists():
            path.mkdir(parents=True, mode=0o700)
        return path

    @property
    def projects_dir(self) -> Path:
        """Where project repositories live."""
        return self.resolved_data_dir / "projects"

    @property
    def resolved_test_env_dir(self) -> Path:
        """Where test environments are cached: /var/tmp/vibeforge-envs-UID unless set."""
        if self.test_env_dir is not None:
            return self.test_env_dir.expanduser().resolve()
        return Path("/var/tmp") / f"vibeforge-envs-{os.geteuid()}"

    @property
    def attachments_dir(self) -> Path:
        """Where attachment files live (outside every project repository)."""
        return self.resolved_data_dir / "attachments"

    @property
    def resolved_database_url(self) -> str:
        """The configured database, or SQLite inside the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.resolved_data_dir / 'vibeforge.db'}"

    def describe_storage(self) -> str:
        """Where this process keeps its data, for people: the directory and the database
        (a server URL without its password)."""
        url = make_url(self.resolved_database_url)
        if url.get_backend_name() == "sqlite":
            database = f"SQLite {url.database}"
        else:
            database = url.render_as_string(hide_password=True)
        return f"data in {self.resolved_data_dir}, database {database}"

    def database_exists(self) -> bool:
        """Whether the SQLite database file is there (a server database is taken to be)."""
        url = make_url(self.resolved_database_url)
        if url.get_backend_name() != "sqlite" or not url.database:
            return True
        return Path(url.database).is_file()

    @property
    def max_body_bytes(self) -> int:
        """The largest request body accepted: a file of the maximum size, JSON-escaped."""
        return self.max_file_bytes * 6 + 64 * 1024

    @property
    def upload_body_bytes(self) -> int:
        """The largest body of a file upload (an attachment or an archive), with room for
        the multipart framing."""
        return max(self.attachment_max_bytes, self.import_max_bytes) + 1024 * 1024


def is_loopback_host(host: str) -> bool:
    """Whether a listening host (or a client's address) is this machine alone."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return False
