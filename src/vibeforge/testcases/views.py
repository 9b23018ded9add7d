"""Request and response bodies of the test routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from vibeforge.strict import Strict, omittable
from vibeforge.testcases.checks import Check

Tag = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[\w.:/-]+$")]
ModelRef = Annotated[str, Field(min_length=1, max_length=200)]
MAX_INPUT_CHARS = 100_000  # the input also travels as an environment variable
DEFAULT_RUN_COMMAND = ["python3", "{main_file}"]


class TestCreate(Strict):
    """A new test: an input, and what must hold of the program's behaviour on it."""

    __test__ = False
    name: str = Field(min_length=1, max_length=200)
    input_prompt: str = Field(max_length=MAX_INPUT_CHARS)
    expected_behavior: str | None = Field(
        default=None, max_length=20_000, description="judged by an LLM if the checks pass"
    )
    checks: list[Check] = Field(default_factory=list, max_length=50)
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    judge_model: ModelRef | None = Field(default=None, description="model config id or name")


class TestUpdate(Strict):
    """Fields of a test to change; `expected_behavior` and `judge_model` may be null."""

    __test__ = False
    name: str = omittable(min_length=1, max_length=200)
    input_prompt: str = omittable(max_length=MAX_INPUT_CHARS)
    expected_behavior: str | None = Field(default=None, max_length=20_000)
    checks: list[Check] = omittable(max_length=50)
    tags: list[Tag] = omittable(max_length=20)
    judge_model: ModelRef | None = None


class TestRunRequest(Strict):
    """Run one test, `repeat` times, at a version (default: the head) with a model."""

    __test__ = False
    version_id: str | None = Field(default=None, min_length=4, max_length=64)
    model: ModelRef | None = Field(default=None, description="the program's LLM calls go here")
    judge_model: ModelRef | None = None
    repeat: int = Field(default=1, ge=1, le=50)


class SuiteRunRequest(Strict):
    """Run the project's tests (those with any of `tags`; only those whose last run did not
    pass), once per model in `models`."""

    version_id: str | None = Field(default=None, min_length=4, max_length=64)
    tags: list[Tag] | None = Field(default=None, max_length=20)
    only_failed: bool = False
    models: list[ModelRef] | None = Field(default=None, min_length=1, max_length=8)
    judge_model: ModelRef | None = None


class ReplayRequest(Strict):
    """Re-run a recorded run with its LLM calls answered from the recording; the judge is
    replayed too (`recorded`), or asked again (`live`, which costs its tokens)."""

    judge: Literal["recorded", "live"] = "recorded"


class TestSettingsUpdate(Strict):
    """How the project's program is run for tests, and whether applied edits are tested."""

    __test__ = False
    run_command: list[Annotated[str, Field(min_length=1, max_length=4096)]] = omittable(
        min_length=1,
        max_length=64,
        description='argv; `{main_file}` is replaced by the main file (default ["python3", '
        '"{main_file}"]); the input arrives on stdin and in VIBEFORGE_INPUT',
    )
    timeout_s: float = omittable(gt=0, le=600)
    memory_mb: int = omittable(ge=64, le=8192)
    judge_model: ModelRef | None = None
    run_tests_on_apply: bool = omittable()
    apply_tags: list[Tag] | None = Field(default=None, max_length=20)
    llm_max_calls: int = omittable(ge=0, le=10_000)
    llm_max_tokens: int = omittable(ge=0, le=100_000_000)


class TestSettingsOut(BaseModel):
    """A project's test settings."""

    __test__ = False
    project_id: str
    run_command: list[str]
    timeout_s: float
    memory_mb: int
    judge_model: str | None
    run_tests_on_apply: bool
    apply_tags: list[str] | None
    llm_max_calls: int
    llm_max_tokens: int


class TestOut(BaseModel):
    """A test case."""

    __test__ = False
    id: str
    project_id: str
    name: str
    input_prompt: str
    expected_behavior: str | None
    checks: list[dict[str, Any]]
    tags: list[str]
    judge_model: str | None
    created_at: datetime
    updated_at: datetime
    deleted: bool = False


class CheckResult(BaseModel):
    """One check: whether it passed (null: it could not decide) and what it saw."""

    type: str
    passed: bool | None
    expected: Any = None
    saw: Any = None
    detail: str = ""


class CallOut(BaseModel):
    """One LLM call a test run made (the program's, or the judge's)."""

    id: str
    role: str
    model: str
    iteration: int
    attempt: int
    status: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    latency_ms: float
    error: str | None


class TestRunOut(BaseModel):
    """One sandboxed run of a test and its outcome."""

    __test__ = False
    id: str
    test_id: str
    suite_id: str
    project_id: str
    version_id: str
    model: str
    judge_model: str | None
    repeat_index: int
    status: str = Field(description="queued, running, passed, failed, error or cancelled")
    reason: str | None
    input: str
    output: str
    stderr: str
    exit_code: int | None
    duration_ms: float | None
    killed_reason: str | None
    truncated: bool
    isolation: str | None
    environment: str | None
    checks: list[CheckResult]
    verdict: dict[str, Any] | None
    llm_calls: int
    cost_usd: float | None
    trace_id: str
    replay_of: str | None
    regression: dict[str, Any] | None = Field(
        description="a failure after a pass: the last passing run and the version (with its "
        "proposal and message) that broke the test"
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    calls: list[CallOut] | None = None


class TestSummary(BaseModel):
    """The runs of one test with one model in a suite run."""

    __test__ = False
    test_id: str
    name: str
    model: str
    status: str
    runs: int
    passed: int
    failed: int
    error: int
    cancelled: int
    pass_rate: float | None
    ci_low: float | None = Field(description="95 % Wilson interval of the pass rate")
    ci_high: float | None
    flaky: bool
    cost_usd: float | None
    duration_ms: float | None


class SuiteSummary(BaseModel):
    """Counts over every run of a suite run, and each test × model."""

    total: int = 0
    passed: int = 0
    failed: int = 0
    error: int = 0
    cancelled: int = 0
    flaky: int = 0
    cost_usd: float | None = None
    tests: list[TestSummary] = Field(default_factory=list)


class SuiteOut(BaseModel):
    """A suite run (also one test run `repeat` times, or a replay): one trace."""

    id: str
    project_id: str
    kind: str
    status: str
    version_id: str
    models: list[str]
    tags: list[str] | None
    only_failed: bool
    trace_id: str
    proposal_id: str | None
    message_id: str | None
    summary: SuiteSummary
    runs: list[TestRunOut]
    created_at: datetime
    finished_at: datetime | None


class ImportRequest(Strict):
    """promptfoo-style YAML: `tests:` with `description`, `vars` and `assert`."""

    yaml: str = Field(min_length=1, max_length=2_000_000)
    replace: bool = Field(default=False, description="delete the project's tests first")


class ImportOut(BaseModel):
    """The tests an import created."""

    created: int
    test_ids: list[str]


class ExportOut(BaseModel):
    """The project's tests as promptfoo-style YAML."""

    yaml: str
    count: int


class VersionTests(BaseModel):
    """The latest test results at one version."""

    total: int
    passed: int
    failed: int
    error: int
    suite_id: str | None
