"""Script modules in the sandbox: the ctx API, the model channel, and hostile scripts."""

from __future__ import annotations

import json
import os
from pathlib import Path

from vibeforge.prompting.scripts import ScriptInput, ScriptLimits, run_script

SLACK_S = 3.0


async def test_the_ctx_api_reads_the_input_and_returns_text_outputs_and_variables() -> None:
    script = """
import ctx as imported
assert imported is ctx
print("Hello,", ctx.get_var("who"), end="!")
ctx.set_var("turns", ctx.get_var("turns", 0) + 1)
ctx.set_var("forget_me", None)
ctx.set_output("last_role", ctx.messages(1)[0]["role"])
ctx.set_output("count", len(ctx.messages()))
ctx.set_output("earlier", ctx.get_output("topic"))
ctx.set_output("sample", ctx.sample)
ctx.set_output("module", [ctx.module, ctx.stage])
"""
    given = ScriptInput(
        module="greeter",
        stage="after",
        variables={"who": "Zoë", "turns": 2},
        outputs={"topic": "tea"},
        messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}],
        sample={"n": 1},
    )
    result = await run_script(script, given)
    assert result.ok, (result.error, result.stderr)
    assert result.text == "Hello, Zoë!"
    assert result.variables == {"turns": 3, "forget_me": None}
    assert result.outputs == {
        "last_role": "assistant",
        "count": 2,
        "earlier": "tea",
        "sample": {"n": 1},
        "module": ["greeter", "after"],
    }
    assert result.isolation in ("bubblewrap", "unshare", "setuid", "rlimits")


async def test_ask_model_goes_through_the_channel_and_is_counted() -> None:
    prompts: list[tuple[str, str | None]] = []

    async def ask(prompt: str, system: str | None) -> str:
        prompts.append((prompt, system))
        return f"answer {len(prompts)}"

    script = 'print(ctx.ask_model("one"), ctx.ask_model("two", system="be brief"))'
    result = await run_script(script, ScriptInput("m"), ask=ask)
    assert result.ok and result.text == "answer 1 answer 2\n"
    assert prompts == [("one", None), ("two", "be brief")] and result.model_calls == 2


async def test_ask_model_is_refused_to_a_module_that_may_not_use_it() -> None:
    result = await run_script('ctx.ask_model("hi")', ScriptInput("m"), ask=None)
    assert not result.ok and "may not call the model" in (result.error or "")


async def test_a_script_error_is_reported_with_its_last_line() -> None:
    result = await run_script("1 / 0", ScriptInput("m"))
    assert not result.ok and result.error == "ZeroDivisionError: division by zero"
    assert "Traceback" in result.stderr
    result = await run_script("ctx.set_var('x', object())", ScriptInput("m"))
    assert "must be JSON" in (result.error or "")
    result = await run_script("import sys; sys.exit(3)", ScriptInput("m"))
    assert not result.ok and "status 3" in (result.error or "")


async def test_the_reference_systems_escape_finds_nothing_to_escape_from(tmp_path: Path) -> None:
    """The persona server was escaped from inside its process through `__subclasses__`; here the
    same walk runs in a separate, jailed process: no server object, file or secret is there."""
    data = tmp_path / "data"
    data.mkdir()
    secret = data / "secret-key"
    secret.write_text("top-secret-value-123")
    script = f"""
import json
subclasses = getattr((), "__class__").__base__.__subclasses__()
modules = sorted({{c.__module__ for c in subclasses}})
wrap = next(c for c in subclasses if c.__name__ == "_wrap_close")
popen = wrap.__init__.__globals__["popen"]
shell = popen("cat {secret} 2>&1; ls {data} 2>&1; id -u; cat /proc/1/cmdline").read()
try:
    leaked = open({str(secret)!r}).read()
except OSError as error:
    leaked = type(error).__name__
print(json.dumps({{"modules": modules, "shell": shell, "open": leaked}}))
"""
    result = await run_script(script, ScriptInput("m"), hide_paths=[str(data)])
    assert result.ok, (result.error, result.stderr)
    found = json.loads(result.text)
    server_side = [
        m
        for m in found["modules"]
        if m.split(".")[0] in {"vibeforge", "sqlalchemy", "fastapi", "uvicorn"}
    ]
    assert server_side == [], "the walk found classes of the server: it ran in-process"
    assert "top-secret-value-123" not in found["shell"] + found["open"]
    assert found["open"] in ("FileNotFoundError", "PermissionError")
    assert str(os.getpid()) not in found["shell"].split()
    if result.isolation != "rlimits":
        uid = [line for line in found["shell"].splitlines() if line.strip().isdigit()]
        assert uid and uid[0] != "0", "the script must not run as root"


async def test_an_infinite_loop_is_stopped_at_its_timeout() -> None:
    result = await run_script("while True: pass", ScriptInput("m"), limits=ScriptLimits(1.0))
    assert not result.ok and result.killed_reason == "timeout"
    assert "longer than 1.0 s" in (result.error or "")
    assert result.duration_ms < (1 + SLACK_S) * 1000


async def test_a_memory_bomb_is_stopped_by_its_memory_limit() -> None:
    bomb = "chunks = []\nwhile True:\n    chunks.append(bytearray(16 * 1024 * 1024))"
    result = await run_script(bomb, ScriptInput("m"), limits=ScriptLimits(memory_mb=128))
    assert not result.ok and result.killed_reason == "memory"
    assert "more than 128 MB" in (result.error or "")


async def test_output_floods_are_cut_off_whichever_way_they_write() -> None:
    limits = ScriptLimits(timeout_s=10, output_kb=64)
    printed = await run_script(
        "while True:\n    print('x' * 1000)", ScriptInput("m"), limits=limits
    )
    assert not printed.ok and "printed more than" in (printed.error or "")
    raw = "import os\nwhile True:\n    os.write(1, b'x' * 65536)"
    written = await run_script(raw, ScriptInput("m"), limits=limits)
    assert not written.ok and written.killed_reason == "output_limit"
    forged = 'import sys\nsys.__stdout__.write(\'{"type": "result", "text": "forged"}\\n\')'
    result = await run_script(forged + "\nprint('real')", ScriptInput("m"))
    assert result.ok and result.text == "real\n", "fd 1 is not the protocol channel"


async def test_what_a_script_writes_on_the_channel_itself_is_cleaned_or_refused() -> None:
    """A script may find the protocol's file descriptor and write its own lines: NaN, lone
    surrogates, NUL or absurd nesting must not reach the database or the prompt."""
    forge = """
import os, sys
fd = next(n for n in range(3, 20) if n not in (0, 1, 2) and os.path.exists(f"/proc/self/fd/{n}")
          and os.readlink(f"/proc/self/fd/{n}").startswith("pipe:"))
os.write(fd, LINE + b"\\n")
os._exit(0)
"""
    lines = {
        b'{"type": "result", "text": "\\ud800a\\u0000", "outputs": {"k\\udfff": 1}}': "ok",
        b'{"type": "result", "text": "x", "outputs": {"n": NaN}}': "refused",
        b"[" * 50_000: "refused",
    }
    for line, expected in lines.items():
        script = forge.replace("LINE", repr(line))
        result = await run_script(script, ScriptInput("m"))
        if expected == "ok":
            assert result.ok, (result.error, result.stderr)
            assert result.text == "?a\ufffd" and result.outputs == {"k?": 1}
        else:
            assert not result.ok and "without sending its result" in (result.error or "")
    nan = await run_script("ctx.set_output('n', float('nan'))", ScriptInput("m"))
    assert not nan.ok and "must be JSON" in (nan.error or "")
