"""A hostile batch against a real server (REST, the WebSocket, the model's edits): every
refused write makes no version, and `git fsck --strict` finds the repository clean."""

import httpx
import pytest

from tests.hostile_paths import (
    ALL_HOSTILE,
    BAD_URL_PATHS,
    HOSTILE,
    fsck_strict,
    send_json,
    tree_paths,
    url_quote,
    versions,
)
from tests.servers import RunningServer
from tests.stubs import TOKEN
from tests.wsclient import WsClient
from vibeforge.llm.stub import Script, StubLLMServer


@pytest.fixture
async def project(http: httpx.AsyncClient) -> str:
    created = await http.post("/projects", json={"name": "hostile", "main_file": "app.py"})
    project_id = created.json()["id"]
    written = await http.put(f"/projects/{project_id}/files/app.py", json={"content": "x = 1\n"})
    assert written.status_code == 200
    return project_id


async def test_rest_through_a_real_server_refuses_every_class(
    server: RunningServer, http: httpx.AsyncClient, project: str
) -> None:
    before = await versions(http, project)
    base = f"/projects/{project}/files"
    for path in ALL_HOSTILE:
        url = f"{base}/{url_quote(path)}"
        for response in (
            await send_json(http, "PUT", url, {"content": "x\n"}),
            await http.delete(url),
            await send_json(http, "POST", f"{base}:rename", {"from": "app.py", "to": path}),
        ):
            assert response.status_code == 422, (path, response.text)
            assert response.json()["error"] == "invalid_path", (path, response.text)
    # uvicorn decodes %FF to U+FFFD; the bytes as sent are what is judged.
    for raw in BAD_URL_PATHS:
        response = await send_json(http, "PUT", f"{base}/{raw}", {"content": "x\n"})
        assert response.status_code == 422, (raw, response.text)
        assert "not valid UTF-8" in response.json()["detail"]
    assert await versions(http, project) == before
    repository = server.data_dir / "projects" / project
    assert tree_paths(repository) == ["app.py"]
    fsck_strict(repository)


async def test_socket_uploads_and_deletes_refuse_every_class(
    server: RunningServer, http: httpx.AsyncClient, project: str
) -> None:
    before = await versions(http, project)
    ws = await WsClient.open(server.url, TOKEN)
    for kind, paths in sorted(HOSTILE.items()):
        for path in paths:
            for action, extra in (("upload_file", {"content": "x\n"}), ("delete_file", {})):
                # json.dumps escapes lone surrogates, so they arrive as such, not as U+FFFD.
                await ws.send(action, project_id=project, path=path, **extra)
                error = await ws.until("error")
                assert error["data"]["code"] == "invalid_path", (kind, path, error)
    # A binary frame whose bytes are not UTF-8 is refused as a whole, not repaired.
    frame = b'{"type": "upload_file", "data": {"project_id": "%s", "path": "a\xff.py", '
    frame += b'"content": "x"}}'
    await ws.connection.send(frame.replace(b"%s", project.encode()))
    assert (await ws.until("error"))["data"]["code"] == "malformed_json"
    # The socket still works, and a good upload is a version.
    await ws.send("upload_file", project_id=project, path="ok.py", content="ok\n")
    changed = await ws.until("code_changed")
    assert changed["data"]["files"] == ["ok.py"] and changed["data"]["changed"] is True
    await ws.close()
    after = await versions(http, project)
    assert after[1:] == before, "only the good upload made a version"
    repository = server.data_dir / "projects" / project
    assert tree_paths(repository) == ["app.py", "ok.py"]
    fsck_strict(repository)


def _edit_reply(path: str) -> Script:
    """A model reply creating `path` with a search/replace block."""
    text = f"Creating it.\n\n{path}\n```\n<<<<<<< SEARCH\n=======\nevil = 1\n>>>>>>> REPLACE\n```\n"
    return Script(chunks=(text,))


def _diff_reply(path: str) -> Script:
    """A model reply creating `path` with a unified diff."""
    text = f"```diff\n--- /dev/null\n+++ b/{path}\n@@ -0,0 +1 @@\n+evil = 1\n```\n"
    return Script(chunks=(text,))


@pytest.mark.parametrize(
    "path",
    [
        "GIT~1/hooks/post-checkout",
        ".git./config",
        ".GIT/hooks/pre-commit",
        ".git::$INDEX_ALLOCATION/config",
        ".gitmodules",
        "aux.py",
        "x/.g\u200cit/config",
    ],
)
async def test_model_edits_naming_hostile_paths_make_no_version(
    server: RunningServer, http: httpx.AsyncClient, stub: StubLLMServer, project: str, path: str
) -> None:
    model = {
        "name": "stub",
        "provider": "openai-compatible",
        "model": "stub-model",
        "base_url": f"{stub.url}/v1",
        "api_key": "sk-stub-hostile-0123456789",
    }
    assert (await http.post("/models", json=model)).status_code == 201
    session = (await http.post(f"/projects/{project}/sessions", json={})).json()
    before = await versions(http, project)
    for reply in (_edit_reply, _diff_reply):
        stub.book.default = reply(path)  # the coder and every fixer insist on the path
        answer = await http.post(
            f"/sessions/{session['session_id']}/messages",
            json={"prompt": f"create {path}", "model": "stub"},
            timeout=60,
        )
        assert answer.status_code < 500, answer.text
        outcome = answer.json()
        fixer_prompt = str(stub.requests[-1].body["messages"][-1]["content"])
        if reply is _diff_reply:  # a diff header always names its path: the rule refused it
            assert "the edit names an unusable path" in fixer_prompt, fixer_prompt
        assert outcome.get("proposal_status") != "applied", outcome
        assert outcome.get("version_id") in (None, before[0]), outcome
    assert len(stub.requests) >= 2, "the model was asked"
    assert await versions(http, project) == before
    repository = server.data_dir / "projects" / project
    assert tree_paths(repository) == ["app.py"]
    fsck_strict(repository)
