"""A sandboxed program in conversation: its stdout lines answered on its stdin as they come."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from vibeforge.sandbox import run

from .conftest import survivors

ECHO = """
import sys
for n in range(3):
    print("question", n, flush=True)
    print("got", sys.stdin.readline().strip(), file=sys.stderr, flush=True)
print("done", flush=True)
"""


async def test_each_line_is_answered_in_order_while_the_program_runs() -> None:
    asked: list[bytes] = []

    async def answer(line: bytes) -> bytes | None:
        asked.append(line)
        await asyncio.sleep(0.01)
        return None if line == b"done" else line.upper()

    result = await run(["python3", "-c", ECHO], converse=answer, timeout_s=10)
    assert result.ok, result.stderr
    assert asked == [b"question 0", b"question 1", b"question 2", b"done"]
    assert result.stderr.decode().split("\n")[:3] == [
        "got QUESTION 0",
        "got QUESTION 1",
        "got QUESTION 2",
    ]
    assert result.stdout.endswith(b"done\n")


async def test_the_first_stdin_comes_before_any_answer() -> None:
    code = (
        "import sys\nprint(sys.stdin.readline().strip(), flush=True)\nprint(sys.stdin.readline())"
    )

    async def answer(line: bytes) -> bytes | None:
        return b"second" if line == b"first" else None

    result = await run(["python3", "-c", code], stdin=b"first\n", converse=answer)
    assert result.stdout == b"first\nsecond\n\n"


async def test_a_failing_conversation_kills_the_program_and_raises() -> None:
    token = f"converse-{uuid.uuid4().hex}"
    code = f"# {token}\nimport sys, time\nprint('hi', flush=True)\n"
    code += "sys.stdin.readline()\ntime.sleep(60)"

    async def broken(line: bytes) -> bytes | None:
        raise RuntimeError("the answering side broke")

    with pytest.raises(RuntimeError, match="answering side broke"):
        await run(["python3", "-c", code], converse=broken, timeout_s=30)
    assert survivors(token) == []


async def test_cancelling_while_an_answer_is_pending_kills_the_program() -> None:
    token = f"converse-{uuid.uuid4().hex}"
    code = f"# {token}\nimport sys\nprint('ask', flush=True)\nsys.stdin.readline()"
    asked = asyncio.Event()

    async def slow(line: bytes) -> bytes | None:
        asked.set()
        await asyncio.sleep(60)
        return b"late"

    task = asyncio.create_task(run(["python3", "-c", code], converse=slow, timeout_s=30))
    await asyncio.wait_for(asked.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert survivors(token) == []


async def test_a_flood_of_lines_hits_the_output_limit() -> None:
    answered = 0

    async def count(line: bytes) -> bytes | None:
        nonlocal answered
        answered += 1
        return None

    code = "while True:\n    print('x' * 100, flush=True)"
    result = await run(["python3", "-c", code], converse=count, output_bytes=64 * 1024)
    assert result.killed_reason == "output_limit"
    assert len(result.stdout) == 64 * 1024
    assert 0 < answered <= 64 * 1024 // 101 + 1
