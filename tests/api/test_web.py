"""The web client's files and the one-time sign-in codes, over the app's HTTP interface."""

from __future__ import annotations

import fnmatch
import gzip
import tomllib
from pathlib import Path

import httpx

from vibeforge.api.web import WEB_DIR
from vibeforge.users.signin import SigninCodes, signin_url

ROOT = Path(__file__).resolve().parents[2]


def anonymous(app: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://t")


async def test_a_browser_gets_the_page_and_an_api_client_the_description(app: object) -> None:
    async with anonymous(app) as client:
        page = await client.get("/", headers={"Accept": "text/html,application/xhtml+xml"})
        described = await client.get("/", headers={"Accept": "application/json"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/web/js/main.js">' in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "connect-src 'self'" in policy
    assert described.json()["name"] == "vibeforge"


async def test_client_files_are_compressed_revalidated_and_confined(app: object) -> None:
    async with anonymous(app) as client:
        script = await client.get("/web/js/socket.js", headers={"Accept-Encoding": "gzip"})
        etag = script.headers["etag"]
        again = await client.get("/web/js/socket.js", headers={"If-None-Match": etag})
        escape = await client.get("/web/..%2F..%2Fconfig.py")
        missing = await client.get("/web/nope.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert script.headers["content-encoding"] == "gzip"
    assert script.headers["cache-control"] == "no-cache"
    assert script.text == (WEB_DIR / "js" / "socket.js").read_text()
    assert again.status_code == 304
    assert escape.status_code == 404 and missing.status_code == 404


def test_every_client_file_is_package_data_and_loads_nothing_from_elsewhere() -> None:
    """The wheel carries every file of the client, and no file names another host."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["vibeforge"]
    package = WEB_DIR.parent
    files = [p for p in WEB_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert len(files) > 10
    for path in files:
        relative = path.relative_to(package).as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), relative
        text = path.read_text()
        for scheme in ("http://", "https://", "//cdn", "@import url"):
            if path.suffix in (".js", ".css", ".html"):
                assert scheme not in text.replace("http://www.w3.org/2000/svg", ""), (
                    f"{relative} refers to {scheme}"
                )
    assert gzip.compress(b"x")  # the server compresses; nothing is stored pre-compressed


async def test_a_sign_in_code_gives_a_new_token_once(app, settings) -> None:  # type: ignore[no-untyped-def]
    services = app.state.services
    user = await services.users.by_email("admin@localhost")
    codes = SigninCodes(settings.resolved_data_dir)
    left_at_start = list(codes.directory.iterdir())  # the link printed at first start
    code = codes.create(user.id).code
    async with anonymous(app) as client:
        first = await client.post("/auth/signin", json={"code": code})
        second = await client.post("/auth/signin", json={"code": code})
        wrong = await client.post("/auth/signin", json={"code": "x" * 43})
        extra = await client.post("/auth/signin", json={"code": code, "user": "me"})
        assert first.status_code == 200, first.text
        body = first.json()
        assert body["user"]["email"] == "admin@localhost"
        assert body["token"]["name"] == "web sign-in"
        me = await client.get("/me", headers={"Authorization": f"Bearer {body['token']['token']}"})
    assert me.status_code == 200
    assert second.status_code == 401 and second.json()["error"] == "unauthorized"
    assert "already used" in second.json()["detail"]
    assert wrong.status_code == 401
    assert extra.status_code == 422
    left = [path.name for path in (settings.resolved_data_dir / "signin").iterdir()]
    assert left == [path.name for path in left_at_start], "the used code is gone, nothing else"


async def test_an_expired_sign_in_code_is_refused(app, settings) -> None:  # type: ignore[no-untyped-def]
    user = await app.state.services.users.by_email("admin@localhost")
    code = SigninCodes(settings.resolved_data_dir, ttl_s=-1).create(user.id).code
    async with anonymous(app) as client:
        refused = await client.post("/auth/signin", json={"code": code})
    assert refused.status_code == 401


def test_codes_are_stored_only_as_digests(tmp_path: Path) -> None:
    code = SigninCodes(tmp_path).create("user-1").code
    stored = list((tmp_path / "signin").iterdir())
    assert len(stored) == 1 and code not in stored[0].name and code not in stored[0].read_text()
    assert oct(stored[0].stat().st_mode & 0o777) == "0o600"


def test_the_link_names_a_reachable_address() -> None:
    assert signin_url("0.0.0.0", 8000, "abc") == "http://127.0.0.1:8000/#/signin?code=abc"
    assert signin_url("::1", 9, "abc") == "http://[::1]:9/#/signin?code=abc"
