"""The real server: started as users start it, over real HTTP."""

import stat
from pathlib import Path

import httpx

from tests.servers import vibeforge_server


def test_first_start_creates_admin_and_serves_the_api(tmp_path: Path, database_url: str) -> None:
    data_dir = tmp_path / "data"
    with vibeforge_server(data_dir, database_url) as server:
        token_file = data_dir / "admin-token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        auth = {"Authorization": f"Bearer {token}"}

        health = httpx.get(f"{server.url}/health").json()
        assert health["status"] == "ok"
        assert health["database"] == "ok"

        assert httpx.get(f"{server.url}/projects").status_code == 401
        project = httpx.post(f"{server.url}/projects", json={"name": "e2e"}, headers=auth).json()
        written = httpx.put(
            f"{server.url}/projects/{project['id']}/files/main.py",
            json={"content": "print('e2e')\n"},
            headers=auth,
        )
        assert written.status_code == 200
        assert written.headers["x-request-id"]
        versions = httpx.get(f"{server.url}/projects/{project['id']}/versions", headers=auth)
        assert len(versions.json()["items"]) == 2
        secret_key = data_dir / "secret-key"
        assert stat.S_IMODE(secret_key.stat().st_mode) == 0o600
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700, "the data directory is private"
    printed = server.output()
    assert token in printed, "the generated token is printed once on the first start"

    with vibeforge_server(data_dir, database_url) as again:
        assert httpx.get(f"{again.url}/me", headers=auth).status_code == 200
    assert token not in again.output(), "the token is never printed again"


def test_admin_token_from_the_environment(tmp_path: Path, database_url: str) -> None:
    token = "vf_from-environment-0123456789"
    env = {"VIBEFORGE_ADMIN_TOKEN": token}
    with vibeforge_server(tmp_path / "data", database_url, env=env) as server:
        me = httpx.get(f"{server.url}/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["email"] == "admin@localhost"
    assert not (tmp_path / "data" / "admin-token").exists()
    assert token not in server.output()
