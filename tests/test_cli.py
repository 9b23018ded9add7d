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


def test_users_signin_link_prints_a_link_whose_code_is_redeemable(
    tmp_path: Path, database_url: str
) -> None:
    from vibeforge.users.signin import SigninCodes

    args = {"data_dir": tmp_path, "database_url": database_url}
    created = _vibeforge("users", "create", "web@example.com", **args)
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
