"""The local mode (VIBEFORGE_LOCAL_USER) and CORS origins, against a real server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.servers import vibeforge_server
from tests.stubs import TOKEN
from vibeforge.config import Settings, is_loopback_host

LOCAL = "dev@example.com"
ORIGIN = "http://localhost:5173"


def test_refused_unless_listening_on_loopback(tmp_path: Path, database_url: str) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("VIBEFORGE_")}
    env.update(
        VIBEFORGE_LOCAL_USER=LOCAL,
        VIBEFORGE_HOST="0.0.0.0",
        VIBEFORGE_DATA_DIR=str(tmp_path / "data"),
        VIBEFORGE_DATABASE_URL=database_url,
    )
    done = subprocess.run(
        [sys.executable, "-m", "vibeforge.cli", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert "VIBEFORGE_LOCAL_USER" in done.stderr and "loopback" in done.stderr
    assert not (tmp_path / "data").exists(), "refused before anything was touched"


def test_create_app_refuses_a_public_host(tmp_path: Path) -> None:
    from vibeforge.app import create_app

    settings = Settings(data_dir=tmp_path / "d", local_user=LOCAL, host="192.168.1.20")
    with pytest.raises(ValueError, match="loopback"):
        create_app(settings)


def test_loopback_hosts() -> None:
    assert all(map(is_loopback_host, ["127.0.0.1", "127.5.0.1", "::1", "[::1]", "localhost"]))
    assert not any(map(is_loopback_host, ["0.0.0.0", "::", "10.0.0.1", "example.com"]))


async def test_local_mode_acts_as_the_user_and_tokens_keep_working(
    tmp_path: Path, database_url: str
) -> None:
    env = {"VIBEFORGE_LOCAL_USER": LOCAL, "VIBEFORGE_ADMIN_TOKEN": TOKEN}
    with vibeforge_server(tmp_path / "data", database_url, env=env) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as anonymous:
            health = (await anonymous.get("/health")).json()
            assert health["local_mode"] == {"enabled": True, "user": LOCAL}
            me = await anonymous.get("/me")
            assert me.status_code == 200, me.text
            assert me.json()["email"] == LOCAL and me.json()["is_admin"] is False
            created = await anonymous.post("/projects", json={"name": "local"})
            assert created.status_code == 201, created.text
            # A token still decides who calls, and a wrong one is refused, not "local".
            admin = await anonymous.get("/me", headers={"Authorization": f"Bearer {TOKEN}"})
            assert admin.json()["email"] == "admin@localhost"
            wrong = await anonymous.get("/me", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
            assert wrong.json()["error"] == "unauthorized"
            listed = await anonymous.get("/projects", headers={"Authorization": f"Bearer {TOKEN}"})
            assert [p["name"] for p in listed.json()["items"]] == []
        assert "local mode" in server.log() and LOCAL in server.log()


async def test_off_by_default(server, http: httpx.AsyncClient) -> None:  # type: ignore[no-untyped-def]
    assert (await http.get("/health")).json()["local_mode"] == {"enabled": False, "user": None}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as anonymous:
        refused = await anonymous.get("/me")
    assert refused.status_code == 401
    preflight = await http.options(
        "/projects",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


async def test_cors_preflight(tmp_path: Path, database_url: str) -> None:
    env = {"VIBEFORGE_CORS_ORIGINS": f"{ORIGIN}, https://app.example.com"}
    with vibeforge_server(tmp_path / "data", database_url, env=env) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            asked = {
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            }
            allowed = await client.options("/projects", headers={"Origin": ORIGIN, **asked})
            assert allowed.status_code == 200
            assert allowed.headers["access-control-allow-origin"] == ORIGIN
            assert "POST" in allowed.headers["access-control-allow-methods"]
            assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
            other = await client.options(
                "/projects", headers={"Origin": "https://evil.example", **asked}
            )
            assert other.status_code == 400
            assert "access-control-allow-origin" not in other.headers
            simple = await client.get("/health", headers={"Origin": "https://app.example.com"})
            assert simple.headers["access-control-allow-origin"] == "https://app.example.com"
            plain = await client.get("/health", headers={"Origin": "https://evil.example"})
            assert "access-control-allow-origin" not in plain.headers
