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
