"""Many files as one version, binary files as base64, downloads, and version ids as people
copy them (short) — with the edge cases that used to surprise: a revert to the head, a path
with a trailing slash."""

import base64

import httpx
import pytest

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\xff\xfe"


@pytest.fixture
async def project(client: httpx.AsyncClient) -> str:
    return (await client.post("/projects", json={"name": "bulk"})).json()["id"]


async def _versions(client: httpx.AsyncClient, project: str) -> list[dict]:  # type: ignore[type-arg]
    return (await client.get(f"/projects/{project}/versions")).json()["items"]


async def test_fifty_files_are_one_version(client: httpx.AsyncClient, project: str) -> None:
    files = {f"pkg/m{i}.py": f"N = {i}\n" for i in range(50)}
    made = await client.post(
        f"/projects/{project}/commits", json={"files": files, "message": "import"}
    )
    assert made.status_code == 200, made.text
    assert made.json()["changed"] is True
    versions = await _versions(client, project)
    assert [v["message"] for v in versions] == ["import", "Create project"]
    listed = (await client.get(f"/projects/{project}/files")).json()["items"]
    assert len(listed) == 51
    again = await client.post(f"/projects/{project}/commits", json={"files": files})
    assert again.json() == {"version_id": made.json()["version_id"], "changed": False}


async def test_writes_deletes_and_renames_together(client: httpx.AsyncClient, project: str) -> None:
    await client.post(
        f"/projects/{project}/commits",
        json={"files": {"a.py": "A\n", "b.py": "B\n", "c.py": "C\n"}},
    )
    head = (await _versions(client, project))[0]["id"]
    change = {
        "files": {"new.py": "NEW\n", "c.py": None},
        "renames": {"a.py": "b.py", "b.py": "a.py"},  # a swap
        "expected_version": head[:7],
    }
    done = await client.post(f"/projects/{project}/commits", json=change)
    assert done.status_code == 200, done.text
    read = {
        path: (await client.get(f"/projects/{project}/files/{path}")).json()["content"]
        for path in ("a.py", "b.py", "new.py")
    }
    assert read == {"a.py": "B\n", "b.py": "A\n", "new.py": "NEW\n"}
    assert (await client.get(f"/projects/{project}/files/c.py")).status_code == 404
    message = (await _versions(client, project))[0]["message"]
    assert message == "Update new.py; Delete c.py; Rename a.py to b.py, b.py to a.py"
    stale = await client.post(
        f"/projects/{project}/commits", json={"files": {"x.py": ""}, "expected_version": head}
    )
    assert stale.status_code == 409


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"renames": {"missing.py": "z.py"}}, 404, "not_found"),
        ({"renames": {"main.py": "main.py"}}, 422, "invalid_input"),
        ({"renames": {"main.py": "z.py"}, "files": {"z.py": "x"}}, 422, "invalid_input"),
        ({"files": {"../up.py": "x"}}, 422, "invalid_path"),
        (
            {"files": {"bin.dat": {"content": "not base64!", "encoding": "base64"}}},
            422,
            "invalid_input",
        ),
        ({"files": {"t.txt": "nul \u0000 inside"}}, 422, "invalid_input"),
        ({"files": {"t.txt": {"content": "x", "encoding": "latin-1"}}}, 422, "validation_error"),
        ({"files": {"t.txt": 5}}, 422, "validation_error"),
    ],
)
async def test_bad_commits_change_nothing(
    client: httpx.AsyncClient,
    project: str,
    change: dict,
    status: int,
    code: str,  # type: ignore[type-arg]
) -> None:
    before = await _versions(client, project)
    refused = await client.post(f"/projects/{project}/commits", json=change)
    assert (refused.status_code, refused.json()["error"]) == (status, code), refused.text
    assert await _versions(client, project) == before


async def test_binary_files_go_in_as_base64_and_come_out_raw(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, project: str
) -> None:
    encoded = base64.b64encode(PNG).decode()
    body = {"files": {"img/logo.png": {"content": encoded, "encoding": "base64"}}}
    made = await client.post(f"/projects/{project}/commits", json=body)
    assert made.status_code == 200, made.text
    raw = await client.get(f"/projects/{project}/files/img/logo.png/raw")
    assert raw.status_code == 200 and raw.content == PNG
    assert raw.headers["content-type"] == "application/octet-stream"
    assert raw.headers["content-disposition"] == "attachment; filename*=UTF-8''logo.png"
    assert raw.headers["x-content-type-options"] == "nosniff"
    listed = (await client.get(f"/projects/{project}/files")).json()["items"]
    assert {"path": "img/logo.png", "size": len(PNG)} in listed
    as_json = await client.get(f"/projects/{project}/files/img/logo.png")
    assert as_json.status_code == 422 and "/raw" in as_json.json()["detail"]
    await client.put(f"/projects/{project}/files/page.html", json={"content": "<script>x</script>"})
    page = await client.get(f"/projects/{project}/files/page.html/raw")
    assert page.headers["content-type"] == "text/plain; charset=utf-8", "never served as HTML"
    first = (await _versions(client, project))[-1]["id"]
    old = await client.get(f"/projects/{project}/files/main.py/raw", params={"version_id": first})
    assert old.status_code == 200 and old.content == b""
    assert (
        await other_client.get(f"/projects/{project}/files/img/logo.png/raw")
    ).status_code == 404


async def test_reverting_to_the_head_makes_no_version(
    client: httpx.AsyncClient, project: str
) -> None:
    await client.put(f"/projects/{project}/files/main.py", json={"content": "x = 1\n"})
    head = (await _versions(client, project))[0]["id"]
    same = await client.post(f"/projects/{project}/revert", json={"version_id": head})
    assert same.json() == {"version_id": head, "changed": False}
    assert len(await _versions(client, project)) == 2


async def test_short_version_ids_work_wherever_a_version_id_does(
    client: httpx.AsyncClient, project: str
) -> None:
    await client.put(f"/projects/{project}/files/main.py", json={"content": "x = 1\n"})
    await client.put(f"/projects/{project}/files/main.py", json={"content": "x = 2\n"})
    versions = await _versions(client, project)
    first, middle = versions[-1]["id"], versions[1]["id"]
    for short in (middle[:7], middle[:12], middle[:12].upper()):
        read = await client.get(f"/projects/{project}/files/main.py", params={"version_id": short})
        assert read.json() == {"path": "main.py", "content": "x = 1\n", "version_id": middle}
        diff = (await client.get(f"/projects/{project}/versions/{short}/diff")).json()
        assert diff["version_id"] == middle and "+x = 1" in diff["diff"]
    against = await client.get(
        f"/projects/{project}/versions/{middle[:7]}/diff", params={"against": first[:9]}
    )
    assert against.json()["against"] == first
    reverted = await client.post(f"/projects/{project}/revert", json={"version_id": middle[:7]})
    assert reverted.json()["changed"] is True
    assert (await client.get(f"/projects/{project}/files/main.py")).json()["content"] == "x = 1\n"
    for bad in ("abc12", "zzzzzzz", "main", "0000000"):
        refused = await client.get(f"/projects/{project}/versions/{bad}/diff")
        assert refused.status_code == 404, bad


async def test_a_trailing_slash_is_refused_not_dropped(
    client: httpx.AsyncClient, project: str
) -> None:
    refused = await client.put(f"/projects/{project}/files/trailing/", json={"content": "x"})
    assert refused.status_code == 422 and refused.json()["error"] == "invalid_path"
    assert "directory" in refused.json()["detail"]
    assert (await client.get(f"/projects/{project}/files/trailing")).status_code == 404
