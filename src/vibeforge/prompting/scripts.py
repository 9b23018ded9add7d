"""Script modules: Python run in the sandbox with the `ctx` library, never in this process.

The module's source and `jail_ctx.py` are the scratch directory's only files; the input goes
in as the first line of stdin, and `ctx.ask_model` is a conversation over the same pipes (the
jail has no network): the script writes a request line, the server asks the model and writes
the answer back. A script that fails, is killed (CPU, memory, wall clock, output) or breaks
the protocol gives a ScriptResult saying so; nothing it does raises here.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vibeforge.errors import InvalidInput, VibeforgeError
from vibeforge.sandbox import run

log = logging.getLogger("vibeforge.prompting")
CTX_FILE = "vibeforge_ctx.py"
CTX_SOURCE = (Path(__file__).parent / "jail_ctx.py").read_text(encoding="utf-8")
ARGV = ("python3", "-I", "-S", CTX_FILE)  # isolated: no site, no environment, no user paths
MAX_SOURCE_CHARS = 100_000
MAX_PROMPT_CHARS = 100_000
STDERR_SHOWN = 4000

ModelAsker = Callable[[str, str | None], Awaitable[str]]
"""Asks the model on a script's behalf: (prompt, system) -> the answer's text."""


@dataclass(frozen=True, slots=True)
class ScriptLimits:
    """What one script run may use."""

    timeout_s: float = 5.0  # wall clock, model calls included
    memory_mb: int = 256
    output_kb: int = 256  # per stream; the printed text may take half of it

    @classmethod
    def of(cls, data: dict[str, Any] | None) -> ScriptLimits:
        """Limits from their stored form (missing keys take the defaults)."""
        data = data or {}
        known = {key: data[key] for key in ("timeout_s", "memory_mb", "output_kb") if key in data}
        return cls(**known)


@dataclass(frozen=True, slots=True)
class ScriptInput:
    """What a script sees through `ctx`."""

    module: str
    stage: str = "before"
    variables: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    messages: list[dict[str, str]] = field(default_factory=list)
    answer: str | None = None
    sample: Any = None


@dataclass(frozen=True, slots=True)
class ScriptResult:
    """How a script run ended and what it produced."""

    ok: bool
    text: str
    outputs: dict[str, Any]
    variables: dict[str, Any]  # the variables it set (None: forget)
    error: str | None
    killed_reason: str | None
    exit_code: int
    duration_ms: float
    stderr: str
    isolation: str
    model_calls: int


class _Conversation:
    """The server's side of the pipes: answers the script's model requests."""

    def __init__(self, ask: ModelAsker | None) -> None:
        self.ask = ask
        self.calls = 0

    async def __call__(self, line: bytes) -> bytes | None:
        request = read_line(line)
        if request is None:
            return None  # not a protocol line: the result parser ignores it too
        if not isinstance(request, dict) or request.get("type") != "ask_model":
            return None
        reply: dict[str, Any] = {"id": request.get("id")}
        prompt, system = request.get("prompt"), request.get("system")
        if self.ask is None:
            reply["error"] = "this module may not call the model"
        elif not isinstance(prompt, str) or not isinstance(system, str | None):
            reply["error"] = "prompt and system must be text"
        elif len(prompt) + len(system or "") > MAX_PROMPT_CHARS:
            reply["error"] = f"the prompt is over {MAX_PROMPT_CHARS} characters"
        else:
            self.calls += 1
            try:
                reply["text"] = await self.ask(prompt, system)
            except VibeforgeError as error:
                reply["error"] = f"{error.code}: {error.detail}"
        return json.dumps(reply).encode("utf-8")


async def run_script(
    source: str,
    given: ScriptInput,
    *,
    limits: ScriptLimits = ScriptLimits(),
    ask: ModelAsker | None = None,
    hide_paths: Sequence[str] = (),
) -> ScriptResult:
    """Run a script module in the sandbox; `ask` answers its `ctx.ask_model` (None: the module
    may not call the model). Cancelling the caller kills the script."""
    if len(source) > MAX_SOURCE_CHARS:
        raise InvalidInput(f"a script is at most {MAX_SOURCE_CHARS} characters")
    output_bytes = limits.output_kb * 1024
    payload = {
        "module": given.module,
        "stage": given.stage,
        "variables": given.variables,
        "outputs": given.outputs,
        "messages": given.messages,
        "answer": given.answer,
        "sample": given.sample,
        "uses_model": ask is not None,
        "text_limit": output_bytes // 2,
    }
    conversation = _Conversation(ask)
    started = time.perf_counter()
    result = await run(
        list(ARGV),
        files={CTX_FILE: CTX_SOURCE, "module.py": source},
        stdin=json.dumps(payload).encode("utf-8") + b"\n",
        timeout_s=limits.timeout_s,
        memory_mb=limits.memory_mb,
        output_bytes=output_bytes,
        processes=16,
        file_size_mb=16,
        hide_paths=hide_paths,
        converse=conversation,
    )
    duration_ms = round((time.perf_counter() - started) * 1000, 2)
    stderr = clean(result.stderr.decode("utf-8", "replace"))  # it becomes stored text
    found = _result_line(result.stdout)
    error = None
    if result.killed_reason is not None:
        error = _killed(result.killed_reason, limits)
    elif result.exit_code != 0:
        error = _last_line(stderr) or f"the script exited with status {result.exit_code}"
    elif found is None:
        error = "the script ended without sending its result"
    ok = error is None and found is not None
    return ScriptResult(
        ok=ok,
        text=str(found.get("text", "")) if ok and found else "",
        outputs=_mapping(found, "outputs") if ok else {},
        variables=_mapping(found, "variables") if ok else {},
        error=error,
        killed_reason=result.killed_reason,
        exit_code=result.exit_code,
        duration_ms=duration_ms,
        stderr=stderr[-STDERR_SHOWN:],
        isolation=result.isolation,
        model_calls=conversation.calls,
    )


def read_line(line: bytes) -> Any:
    """One protocol line from the jail, cleaned; None if it is not JSON (or is hostile JSON:
    NaN, nesting past the recursion limit). Text comes back with NUL and lone surrogates
    replaced, so whatever a script writes can be stored and sent on."""
    try:
        return clean(json.loads(line, parse_constant=_not_json))
    except (ValueError, RecursionError):
        return None


def _not_json(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def clean(value: Any) -> Any:
    """A parsed JSON value with every text storable by every database (and valid UTF-8)."""
    if isinstance(value, str):
        if "\x00" in value:
            value = value.replace("\x00", "\ufffd")
        return value if value.isascii() else value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, list):
        return [clean(item) for item in value]
    if isinstance(value, dict):
        return {clean(str(key)): clean(item) for key, item in value.items()}
    return value


def _result_line(stdout: bytes) -> dict[str, Any] | None:
    for line in reversed(stdout.splitlines()):
        parsed = read_line(line)
        if isinstance(parsed, dict) and parsed.get("type") == "result":
            return parsed
    return None


def _mapping(found: dict[str, Any] | None, key: str) -> dict[str, Any]:
    value = (found or {}).get(key)
    if not isinstance(value, dict):
        return {}
    return {str(name): item for name, item in value.items()}


def _last_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1][:500] if lines else ""


def _killed(reason: str, limits: ScriptLimits) -> str:
    return {
        "timeout": f"stopped: it ran longer than {limits.timeout_s} s",
        "cpu": "stopped: it used up its CPU time",
        "memory": f"stopped: it needed more than {limits.memory_mb} MB of memory",
        "output_limit": f"stopped: it wrote more than {limits.output_kb} KB",
        "file_size": "stopped: it wrote a file over its size limit",
        "signal": "stopped: it was killed",
    }.get(reason, f"stopped ({reason})")
