"""Request and response bodies for personas, prompt modules, templates and session state."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Discriminator,
    Field,
    JsonValue,
    Tag,
    field_validator,
    model_validator,
)

from vibeforge.api.schemas import Strict, omittable
from vibeforge.prompting.grammar import MAX_VARIABLE_NAME, VARIABLE_NAME
from vibeforge.prompting.triggers import MAX_KEYS, MAX_PATTERN

Id = Annotated[str, Field(min_length=1, max_length=64)]
PersonaMode = Literal["reactive", "autonomous"]
ModuleName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,49}$", description="@name")]
MAX_TEMPLATE_CHARS = 100_000
Budget = Annotated[int, Field(ge=1, le=1_000_000)]

# -- personas -----------------------------------------------------------------------------------


class PersonaCreate(Strict):
    """A new persona: a system-prompt template that may pull modules and variables."""

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    mode: PersonaMode = "reactive"
    template: str = Field(default="", max_length=MAX_TEMPLATE_CHARS)
    is_active: bool = True
    model: str | None = Field(
        default=None, min_length=1, max_length=200, description="config id or name its runs use"
    )
    params: dict[str, JsonValue] | None = Field(
        default=None, description="generation parameters, under a message's own"
    )
    token_budget: Budget | None = Field(
        default=None, description="the most tokens its template's modules may take together"
    )


class PersonaUpdate(Strict):
    """Fields to change; `null` clears model, params and token_budget."""

    name: str = omittable(min_length=1, max_length=200)
    description: str = omittable(max_length=10_000)
    mode: PersonaMode = omittable()
    template: str = omittable(max_length=MAX_TEMPLATE_CHARS)
    is_active: bool = omittable()
    model: str | None = Field(default=None, min_length=1, max_length=200)
    params: dict[str, JsonValue] | None = None
    token_budget: Budget | None = None


class PersonaImageOut(BaseModel):
    """A persona's image, as stored (its bytes are at `url`)."""

    content_type: str
    bytes: int
    width: int
    height: int
    url: str


class PersonaOut(BaseModel):
    """A persona."""

    id: str
    name: str
    description: str
    mode: PersonaMode
    template: str
    is_active: bool
    model: str | None
    params: dict[str, Any] | None
    token_budget: int | None
    image: PersonaImageOut | None
    created_at: datetime
    updated_at: datetime


class PersonaChoice(Strict):
    """The persona (id or name) a session's or project's runs speak as; `null`: none."""

    persona_id: Id | None


class PersonaChoiceOut(BaseModel):
    """The persona now chosen."""

    persona_id: str | None


# -- modules ------------------------------------------------------------------------------------


class AlwaysTrigger(Strict):
    """The module applies wherever it is referenced."""

    type: Literal["always"]  # required, as the discriminator reads it: `{}` is no trigger


class KeywordTrigger(Strict):
    """The module applies when its keywords occur in the last `scan_depth` messages."""

    type: Literal["keyword"]
    keys: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, max_length=MAX_KEYS
    )
    match: Literal["any", "all"] = "any"
    case_sensitive: bool = False
    whole_word: bool = False

    @field_validator("keys")
    @classmethod
    def _not_blank(cls, keys: list[str]) -> list[str]:
        if any(not key.strip() for key in keys):
            raise ValueError("a keyword may not be blank")
        return keys


class RegexTrigger(Strict):
    """The module applies when its RE2 pattern matches the last `scan_depth` messages."""

    type: Literal["regex"]
    pattern: str = Field(min_length=1, max_length=MAX_PATTERN)
    case_sensitive: bool = False


def _trigger_type(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if kind in ("always", "keyword", "regex") else None


# A callable discriminator: Strict's field validators rule out pydantic's field-based one.
TriggerIn = Annotated[
    Annotated[AlwaysTrigger, Tag("always")]
    | Annotated[KeywordTrigger, Tag("keyword")]
    | Annotated[RegexTrigger, Tag("regex")],
    Discriminator(
        _trigger_type,
        custom_error_type="trigger_type",
        custom_error_message="trigger.type must be always, keyword or regex",
    ),
]


class ScriptLimitsIn(Strict):
    """What one run of a script module may use in the sandbox."""

    timeout_s: float = Field(default=5.0, gt=0, le=120, description="wall clock, model included")
    memory_mb: int = Field(default=256, ge=32, le=2048)
    output_kb: int = Field(default=256, ge=1, le=4096, description="per stream")


class ModuleCreate(Strict):
    """A new module: `simple` text (may use @modules and ${variables}) or a `script`."""

    name: ModuleName
    description: str = Field(default="", max_length=10_000)
    kind: Literal["simple", "script"] = "simple"
    content: str = Field(default="", max_length=MAX_TEMPLATE_CHARS, description="text or Python")
    trigger: TriggerIn = Field(default_factory=lambda: AlwaysTrigger(type="always"))
    scan_depth: int = Field(default=2, ge=0, le=100, description="messages a trigger reads")
    stage: Literal["before", "after"] = Field(
        default="before", description="before: in the prompt; after: once the answer is stored"
    )
    priority: int = Field(default=0, ge=-1000, le=1000, description="higher runs and stays first")
    token_budget: Budget | None = Field(default=None, description="the most tokens it may add")
    essential: bool = Field(default=False, description="never dropped by a budget")
    uses_model: bool = Field(default=False, description="a script may call ctx.ask_model")
    required: bool = Field(default=False, description="a failure stops the run")
    is_active: bool = True
    limits: ScriptLimitsIn = Field(default_factory=ScriptLimitsIn)


class ModuleUpdate(Strict):
    """Fields to change; `null` clears token_budget."""

    name: ModuleName = omittable()
    description: str = omittable(max_length=10_000)
    kind: Literal["simple", "script"] = omittable()
    content: str = omittable(max_length=MAX_TEMPLATE_CHARS)
    trigger: TriggerIn = omittable()
    scan_depth: int = omittable(ge=0, le=100)
    stage: Literal["before", "after"] = omittable()
    priority: int = omittable(ge=-1000, le=1000)
    token_budget: Budget | None = None
    essential: bool = omittable()
    uses_model: bool = omittable()
    required: bool = omittable()
    is_active: bool = omittable()
    limits: ScriptLimitsIn = omittable()


class ModuleOut(BaseModel):
    """A module."""

    id: str
    name: str
    description: str
    kind: str
    content: str
    trigger: dict[str, Any]
    scan_depth: int
    stage: str
    priority: int
    token_budget: int | None
    essential: bool
    uses_model: bool
    required: bool
    is_active: bool
    limits: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class PluginFunction(BaseModel):
    """One function of the `ctx` API scripts use."""

    name: str
    signature: str
    description: str
    needs_uses_model: bool = False


class PluginFunctionsOut(BaseModel):
    """The `ctx` API, what a script's input holds, and the default limits."""

    functions: list[PluginFunction]
    attributes: dict[str, str]
    limits: ScriptLimitsIn
    max_model_calls: int


# -- scripts and templates ----------------------------------------------------------------------


# What _check_variable_names checks, stated in the schema (Python's \w: letters of any script).
VARIABLE_NAMES = {
    "propertyNames": {"pattern": f"^{VARIABLE_NAME.pattern}$", "maxLength": MAX_VARIABLE_NAME}
}


def _check_variable_names(values: dict[str, Any]) -> dict[str, Any]:
    for name in values:
        if len(name) > MAX_VARIABLE_NAME or not VARIABLE_NAME.fullmatch(name):
            raise ValueError(f"{name[:60]!r} is not a variable name (an identifier, dots allowed)")
    return values


class SampleMessage(Strict):
    """A message of a sample conversation."""

    role: Literal["user", "assistant", "system"]
    content: str = Field(max_length=200_000)


class ScriptSample(Strict):
    """What a test run of a script sees through `ctx`."""

    messages: list[SampleMessage] = Field(default_factory=list, max_length=200)
    variables: dict[str, JsonValue] = Field(default_factory=dict, json_schema_extra=VARIABLE_NAMES)
    outputs: dict[str, JsonValue] = Field(default_factory=dict, json_schema_extra=VARIABLE_NAMES)
    answer: str | None = Field(default=None, max_length=200_000)
    data: JsonValue = Field(default=None, description="ctx.sample")

    _names = field_validator("variables", "outputs")(_check_variable_names)


class ScriptTest(Strict):
    """Run a script in the sandbox on a sample, as a module would run."""

    script: str = Field(min_length=1, max_length=MAX_TEMPLATE_CHARS)
    sample: ScriptSample = Field(default_factory=ScriptSample)
    stage: Literal["before", "after"] = "before"
    uses_model: bool = False
    model: str | None = Field(default=None, max_length=200, description="for ctx.ask_model")
    limits: ScriptLimitsIn = Field(default_factory=ScriptLimitsIn)


class ScriptRunOut(BaseModel):
    """How a script run ended."""

    ok: bool
    text: str
    outputs: dict[str, Any]
    variables: dict[str, Any]
    error: str | None
    killed_reason: str | None
    exit_code: int
    duration_ms: float
    stderr: str
    isolation: str
    model_calls: int


class TemplateResolve(Strict):
    """Resolve a template (or a persona's): its text and where every part of it came from."""

    template: str | None = Field(default=None, max_length=MAX_TEMPLATE_CHARS)
    variables: dict[str, JsonValue] = Field(default_factory=dict, json_schema_extra=VARIABLE_NAMES)
    session_id: Id | None = Field(default=None, description="its messages feed the triggers")
    persona_id: Id | None = Field(default=None, description="its template, if none is given")
    budget_tokens: Budget | None = Field(default=None, description="else the persona's")
    run_scripts: bool = Field(default=True, description="false: script modules are not run")

    _names = field_validator("variables")(_check_variable_names)

    @model_validator(mode="after")
    def _something(self) -> TemplateResolve:
        if self.template is None and self.persona_id is None:
            raise ValueError("give a template or a persona_id")
        return self


class SpanOut(BaseModel):
    """A stretch of the result (`text[start:end]`, in code points) and what produced it."""

    start: int
    end: int
    tokens: int
    kind: Literal["template", "module", "script", "variable"]
    name: str | None
    path: list[str]
    trigger: str | None
    source: str | None


class ExcludedOut(BaseModel):
    """A module left out, and why."""

    module: str
    reason: str
    detail: str
    path: list[str]


class ModuleRunOut(BaseModel):
    """A script module that ran during the resolution."""

    module: str
    ok: bool
    error: str | None
    duration_ms: float
    model_calls: int


class ResolutionOut(BaseModel):
    """A resolved template with its provenance map."""

    text: str
    tokens: int
    spans: list[SpanOut]
    excluded: list[ExcludedOut]
    included: list[str]
    after: list[str] = Field(description="post-response modules it reaches, in run order")
    warnings: list[str]
    stable: bool
    scripts: list[ModuleRunOut]


class SessionStateOut(BaseModel):
    """What modules remember in a session."""

    session_id: str
    persona_id: str | None
    variables: dict[str, Any]
    outputs: dict[str, Any] = Field(description="of the last answer's post-response modules")
    updated_at: datetime | None
