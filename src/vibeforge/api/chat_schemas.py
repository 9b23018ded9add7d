"""Request and response bodies for model configs, sessions, messages and runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, Field, field_validator

from vibeforge.api.schemas import Strict, omittable
from vibeforge.edits.model import Format
from vibeforge.llm.providers import Provider
from vibeforge.runs.protocol import MessageFields

# Both lists come from their one definition: the provider table and the edit engine.
ProviderName = Provider
EditFormat = Format


class PricesIn(Strict):
    """Prices in US dollars per million tokens (not per token, not per thousand)."""

    input_per_million: float = Field(ge=0, description="USD per 1,000,000 prompt tokens")
    output_per_million: float = Field(ge=0, description="USD per 1,000,000 completion tokens")
    cached_input_per_million: float | None = Field(
        default=None, ge=0, description="USD per 1,000,000 prompt tokens read from the cache"
    )
    cache_write_per_million: float | None = Field(
        default=None, ge=0, description="USD per 1,000,000 prompt tokens written to the cache"
    )
    reasoning_per_million: float | None = Field(
        default=None, ge=0, description="USD per 1,000,000 reasoning tokens (default: output)"
    )


class PriceVersionIn(PricesIn):
    """A new version of a model config's prices, in force from `effective_from` (now)."""

    effective_from: datetime | None = Field(
        default=None, description="ISO 8601; not in the past (calls made keep their price)"
    )


class PriceVersionOut(BaseModel):
    """One version of a model config's prices; `prices` null: unpriced from then on."""

    id: str
    version: int
    prices: dict[str, Any] | None
    effective_from: datetime


# The rule `_check_url` enforces, stated in the schema so a client knows it.
BASE_URL: Any = Field(
    default=None, json_schema_extra={"pattern": r"^https?://[^\u0000]*$", "maxLength": 2000}
)


# A key travels in an HTTP header: printable ASCII without spaces, or no request can carry it.
API_KEY: Any = Field(default=None, min_length=1, max_length=4000, pattern=r"^[!-~]+$")


def _check_url(value: str | None) -> str | None:
    if value is None:
        return None
    if not value.startswith(("http://", "https://")) or len(value) > 2000:
        raise ValueError("base_url must be an http:// or https:// URL")
    try:  # the provider's HTTP client must be able to read it, or every run fails
        host = httpx.URL(value).host
    except (httpx.InvalidURL, ValueError) as error:
        raise ValueError(f"base_url is not a valid URL: {error}") from None
    if not host:
        raise ValueError("base_url names no host")
    return value.rstrip("/")


class ModelConfigCreate(Strict):
    """A new provider connection."""

    name: str = Field(min_length=1, max_length=200)
    provider: ProviderName
    model: str = Field(min_length=1, max_length=200)
    base_url: str | None = BASE_URL
    api_key: str | None = API_KEY
    params: dict[str, Any] = Field(default_factory=dict)
    prices: PricesIn | None = None
    edit_format: EditFormat = "search-replace"
    accepts_images: bool | None = Field(
        default=None,
        description="whether the model takes images (attachments); null: what the provider's "
        "API accepts. Say false for a text-only model behind an image-capable API.",
    )
    is_default: bool = False
    shared: bool = Field(
        default=False, description="administrators: every user may use it (never see its key)"
    )

    _url = field_validator("base_url")(_check_url)


class ModelConfigUpdate(Strict):
    """Fields to change: a field left out is unchanged; `null` clears the fields that may be
    empty (`base_url`: the provider's default, `api_key`: no key, `prices`: no price table)."""

    name: str = omittable(min_length=1, max_length=200)
    provider: ProviderName = omittable()
    model: str = omittable(min_length=1, max_length=200)
    base_url: str | None = BASE_URL
    api_key: str | None = API_KEY
    params: dict[str, Any] = omittable(description="replaces the default parameters; {} clears")
    prices: PricesIn | None = None
    edit_format: EditFormat = omittable()
    accepts_images: bool | None = Field(
        default=None,
        description="whether the model takes images (attachments); null: what the provider's "
        "API accepts. Say false for a text-only model behind an image-capable API.",
    )
    is_default: bool = omittable()
    shared: bool = omittable(description="administrators: every user may use it")

    _url = field_validator("base_url")(_check_url)


class ModelConfigOut(BaseModel):
    """A provider connection: never the key itself; another user's shared config without its
    base_url."""

    id: str
    name: str
    provider: str
    model: str
    base_url: str | None
    has_api_key: bool
    params: dict[str, Any]
    prices: dict[str, Any] | None
    edit_format: str
    accepts_images: bool | None = None
    is_default: bool
    shared: bool = False
    owned: bool = True  # false: an administrator's shared config (usable, not editable)
    created_at: datetime
    updated_at: datetime


class SessionCreate(Strict):
    """Open the project's global session, or the one about a node (file path or symbol)."""

    node_id: str | None = Field(default=None, max_length=1024)


class SessionUpdate(Strict):
    """A session's title (null or blank: none)."""

    title: str | None = Field(max_length=200)


class SessionOut(BaseModel):
    """A session."""

    session_id: str
    project_id: str
    type: Literal["global", "node"]
    node_id: str | None
    title: str | None = None
    created_at: datetime
    cleared_at: datetime | None
    last_seq: int
    active_run_id: str | None = None


class MessageCreate(MessageFields):
    """A user message that starts a run (the socket's `chat` command, without its session)."""


class MessageOut(BaseModel):
    """One turn of a session."""

    id: str
    session_id: str
    run_id: str | None
    role: str
    content: str
    thinking: str
    status: str
    diff: str | None
    trace_id: str | None
    model: str | None
    token_usage: dict[str, Any] | None
    error: str | None
    error_code: str | None = None
    reason: str | None = None  # why its run was cancelled or interrupted
    module_outputs: dict[str, Any] | None = None  # of its run's post-response modules
    # Which attachments (and pages, rows, lines) the run's prompt held, and which it left out.
    context_report: dict[str, Any] | None = None
    archived: bool
    created_at: datetime


class RunAccepted(BaseModel):
    """A run that was started and not waited for."""

    message_id: str
    run_id: str
    trace_id: str
    superseded_run_id: str | None = None  # the active run this message cancelled


class RunResult(BaseModel):
    """A run's outcome (the answer of a waited-for message)."""

    message_id: str
    run_id: str
    status: str
    content: str = ""
    diff: str | None = None
    trace_id: str | None = None
    token_usage: dict[str, Any] | None = None
    error: str | None = None
    error_code: str | None = None
    proposal_id: str | None = None  # the coding pipeline's proposal, if it made one
    proposal_status: str | None = None
    version_id: str | None = None  # the version it was committed as, when applied
    counters: dict[str, int] | None = None
    superseded_run_id: str | None = None  # the active run this message cancelled


class RunFailed(BaseModel):
    """A waited-for run that failed on an error (a provider's: 502/503/504): the error shape,
    plus where the stored message and run are."""

    error: str
    detail: str
    status: Literal["error"] = "error"
    message_id: str
    run_id: str
    trace_id: str | None = None
    token_usage: dict[str, Any] | None = None


class LLMCallOut(BaseModel):
    """One provider request (one attempt) of a message, with the provider's whole response."""

    id: str
    model: str
    role: str
    iteration: int
    attempt: int = 1
    status: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    cost_usd: float | None
    cost_source: str | None
    usage_source: str | None = None  # provider | estimated; null: no usage (nothing billed)
    latency_ms: float
    first_token_ms: float | None
    raw: dict[str, Any] | None
    error: str | None
    error_code: str | None = None
    created_at: datetime


class MessageFull(BaseModel):
    """A message and the raw responses of the LLM calls behind it."""

    message: MessageOut
    llm_calls: list[LLMCallOut]
    # The vibecoding reference's top-level fields (its clients read these).
    content: str = ""
    model: str | None = None
    usage: dict[str, Any] | None = None
