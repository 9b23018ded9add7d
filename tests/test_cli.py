"""The `vibeforge` command line."""

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy.engine import make_url


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
    tmp_path: Path, empty_database_url: str
) -> None:
    database_url = empty_database_url
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


def test_users_signin_link_prints_a_link_whose_code_is_redeemable(
    tmp_path: Path, database_url: str
) -> None:
    from vibeforge.users.signin import SigninCodes

    args = {"data_dir": tmp_path, "database_url": database_url}
    created = _vibeforge("users", "create", "web@example.com", "--init", **args)
    assert created.returncode == 0, created.stderr
    printed = _vibeforge("users", "signin-link", "web@example.com", **args)
    assert printed.returncode == 0, printed.stderr
    link = printed.stdout.strip().splitlines()[-1]
    assert link.startswith("http://127.0.0.1:8000/#/signin?code=")
    code = link.split("code=", 1)[1]
    assert SigninCodes(tmp_path).redeem(code)  # the user's id; it then stops working
    unknown = _vibeforge("users", "signin-link", "nobody@example.com", **args)
    assert unknown.returncode == 2 and "no user" in unknown.stderr


def test_help_lists_the_commands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "vibeforge.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for command in ("serve", "db", "users"):
        assert command in result.stdout


def _bare(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The command as a user runs it: no VIBEFORGE_* settings, in `cwd`."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("VIBEFORGE_")}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "vibeforge.cli", *args],
        env=environment,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_users_create_where_there_is_no_database_refuses_and_creates_nothing(
    tmp_path: Path,
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    refused = _bare("users", "create", "dev@example.com", cwd=elsewhere)
    assert refused.returncode == 2
    assert f"data in {elsewhere / 'data'}" in refused.stderr
    assert "no vibeforge database here" in refused.stderr and "--init" in refused.stderr
    assert not (elsewhere / "data").exists(), "no new, empty data directory was made"
    assert "vf_" not in refused.stdout, "no token the server would reject"

    created = _bare("users", "create", "dev@example.com", "--init", cwd=elsewhere)
    assert created.returncode == 0, created.stderr
    assert "creating a new data directory" in created.stderr
    assert created.stdout.strip().splitlines()[-1].startswith("vf_")
    again = _bare("users", "create", "second@example.com", cwd=elsewhere)
    assert again.returncode == 0, again.stderr
    assert f"database SQLite {elsewhere / 'data' / 'vibeforge.db'}" in again.stderr
    assert "creating" not in again.stderr


def test_every_command_on_the_data_says_which_directory_and_database(
    tmp_path: Path, database_url: str
) -> None:
    upgraded = _vibeforge("db", "upgrade", data_dir=tmp_path / "d", database_url=database_url)
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"data in {tmp_path / 'd'}, database" in upgraded.stderr
    assert "creating a new data directory" in upgraded.stderr
    url = make_url(database_url)
    shown = "SQLite " if url.get_backend_name() == "sqlite" else f"{url.drivername}://"
    assert f"database {shown}" in upgraded.stderr
    if url.password:
        assert str(url.password) not in upgraded.stderr, "never a database password"


def test_a_server_database_without_tables_is_refused_without_init(
    tmp_path: Path, empty_database_url: str
) -> None:
    database_url = empty_database_url
    refused = _vibeforge(
        "users", "create", "x@example.com", data_dir=tmp_path, database_url=database_url
    )
    assert refused.returncode == 2 and "--init" in refused.stderr
    made = _vibeforge(
        "users", "create", "x@example.com", "--init", data_dir=tmp_path, database_url=database_url
    )
    assert made.returncode == 0, made.stderr


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
