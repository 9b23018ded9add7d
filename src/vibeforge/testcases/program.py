"""Running the program under test in the sandbox, with the relay as its only way to an LLM.

The sandbox is shown, read-only, the Python environment (its `bin` first on PATH) and the
relay's directory; the program starts through the in-jail forwarder, which sets
OPENAI_BASE_URL to a loopback port joined to the relay's socket. OPENAI_API_KEY is a token
valid for this run only: the model's own key never enters the sandbox.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vibeforge.db.chat_tables import LLMCall
from vibeforge.llm import ChatModel
from vibeforge.llm.usage import Prices
from vibeforge.relay import CallRecorder, CallScope, Relay, RelayCaps, RelaySession
from vibeforge.relay.unix import UnixRelayServer
from vibeforge.sandbox import SandboxResult, run
from vibeforge.testcases.environments import PythonEnvironment

OUTPUT_BYTES = 256 * 1024  # per stream


@dataclass(frozen=True, slots=True)
class ProgramSpec:
    """What to run and within which limits."""

    argv: list[str]
    files: dict[str, bytes]
    input: str
    timeout_s: float
    memory_mb: int


@dataclass(frozen=True, slots=True)
class ProgramModel:
    """The model the program's LLM calls reach, and how its calls are counted."""

    chat: ChatModel
    name: str  # the name answers carry
    label: str  # how calls are recorded
    prices: Prices | None
    caps: RelayCaps


def command(run_command: list[str], main_file: str) -> list[str]:
    """The project's run command with `{main_file}` filled in."""
    return [part.replace("{main_file}", main_file) for part in run_command]


async def run_program(
    spec: ProgramSpec,
    environment: PythonEnvironment,
    relay: Relay,
    server: UnixRelayServer,
    model: ProgramModel,
    scope: CallScope,
    on_call: Callable[[LLMCall], None] | None = None,
) -> tuple[SandboxResult, RelaySession]:
    """Run the program once; the relay session tells what its LLM calls were."""
    await server.start()
    assert server.directory is not None
    recorder = CallRecorder(scope, on_row=on_call)
    session = RelaySession(
        model=model.chat, model_name=model.name, recorder=recorder, caps=model.caps
    )
    token = relay.open(session)
    try:
        result = await run(
            ["python3", "-I", "-S", server.forwarder_path, server.socket_path, "--", *spec.argv],
            files=spec.files,
            stdin=spec.input.encode(),
            timeout_s=spec.timeout_s,
            memory_mb=spec.memory_mb,
            output_bytes=OUTPUT_BYTES,
            ro_paths=[str(environment.root), str(server.directory)],
            path=[environment.bin],
            env={"OPENAI_API_KEY": token, "VIBEFORGE_INPUT": spec.input},
        )
    finally:
        relay.close(token)
    return result, session
