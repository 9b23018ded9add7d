"""/health and / describe the server without a token."""

import httpx


async def test_health_reports_database_git_model_and_sandbox(app: object) -> None:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as anonymous:
        health = (await anonymous.get("/health")).json()
    assert health["status"] == "ok"
    assert health["database"] == "ok"
    assert health["git"] != "missing"
    assert "offline" in health["model"]["default"]
    assert health["model"]["why"]
    assert health["sandbox"]["mode"] in ("bubblewrap", "unshare", "setuid", "rlimits")
    assert health["sandbox"]["protections"]["empty_environment"] is True


async def test_index_names_the_service(app: object) -> None:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as anonymous:
        index = (await anonymous.get("/")).json()
    assert index["name"] == "vibeforge"
    assert index["docs"] == "/docs"
    assert len(index["features"]) >= 5


async def test_health_asks_git_its_version_once(app: object, monkeypatch: object) -> None:
    from vibeforge.api.routes import meta

    asked: list[int] = []
    real = meta._git_version

    def counted() -> str | None:
        asked.append(1)
        return real()

    monkeypatch.setattr(meta, "_git_version", counted)  # type: ignore[attr-defined]
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as anonymous:
        for _ in range(3):
            assert (await anonymous.get("/health")).json()["git"] != "missing"
    assert len(asked) == 1, "a process per /health would cost every poll a fork"
