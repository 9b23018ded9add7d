"""The `vibeforge` command line."""

import os
import subprocess
import sys
from pathlib import Path


def _vibeforge(*args: str, data_dir: Path, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "VIBEFORGE_DATA_DIR": str(data_dir),
        "VIBEFORGE_DATABASE_URL": database_url,
    }
    return subprocess.run(
        [sys.executable, "-m", "vibeforge.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_db_upgrade_then_users_create_prints_a_working_token(
    tmp_path: Path, database_url: str
) -> None:
    upgraded = _vibeforge("db", "upgrade", data_dir=tmp_path, database_url=database_url)
    assert upgraded.returncode == 0, upgraded.stderr
    created = _vibeforge(
        "users", "create", "Dev@Example.com", data_dir=tmp_path, database_url=database_url
    )
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("vf_") and len(token) > 30

    duplicate = _vibeforge(
        "users", "create", "dev@example.com", data_dir=tmp_path, database_url=database_url
    )
    assert duplicate.returncode == 2
    assert "exists" in duplicate.stderr


def test_help_lists_the_commands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "vibeforge.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for command in ("serve", "db", "users"):
        assert command in result.stdout


def _imported(code: str) -> set[str]:
    """The modules a fresh interpreter imports to run `code`."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    return {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def test_help_loads_no_settings_web_stack_or_sdk() -> None:
    modules = _imported(
        "import sys; sys.argv = ['vibeforge', '--help']\n"
        "from vibeforge.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass"
    )
    assert "vibeforge.cli" in modules
    heavy = {"asyncio", "pydantic", "vibeforge.config", "fastapi", "httpx", "openai", "anthropic"}
    assert not heavy & modules


def test_the_chat_reaches_its_prompt_without_the_event_side() -> None:
    """What `vibeforge chat` imports before its prompt is drawn: the event protocol (pydantic),
    websockets and the provider SDKs wait until the prompt is up."""
    modules = _imported(
        "import vibeforge.client.terminal.cli, vibeforge.client.client, "
        "vibeforge.client.terminal.chat, vibeforge.client.terminal.repl"
    )
    assert "httpx" in modules
    later = {"vibeforge.runs.protocol", "pydantic", "websockets", "openai", "anthropic", "fastapi"}
    assert not later & modules
