"""Files: every change is a version; bad paths and bad content are refused with 4xx."""

import httpx
import pytest


@pytest.fixture
async def project(client: httpx.AsyncClient) -> str:
    return (await client.post("/projects", json={"name": "files"})).json()["id"]


async def test_write_read_list_delete(client: httpx.AsyncClient, project: str) -> None:
    written = await client.put(
        f"/projects/{project}/files/src/app.py", json={"content": "print('hi')\n", "message": "m"}
    )
    assert written.status_code == 200
    version = written.json()["version_id"]
    assert written.json()["changed"] is True

    read = (await client.get(f"/projects/{project}/files/src/app.py")).json()
    assert read == {"path": "src/app.py", "content": "print('hi')\n", "version_id": version}

    tree = (await client.get(f"/projects/{project}/files")).json()
    assert tree["version_id"] == version
    assert {(item["path"], item["size"]) for item in tree["items"]} == {
        ("main.py", 0),
        ("src/app.py", 12),
    }

    deleted = await client.delete(f"/projects/{project}/files/src/app.py")
    assert deleted.status_code == 200
    assert deleted.json()["version_id"] != version
    assert (await client.get(f"/projects/{project}/files/src/app.py")).status_code == 404
    old = await client.get(f"/projects/{project}/files/src/app.py", params={"version_id": version})
    assert old.json()["content"] == "print('hi')\n"


async def test_writing_the_same_content_makes_no_new_version(
    client: httpx.AsyncClient, project: str
) -> None:
    first = (await client.put(f"/projects/{project}/files/a.txt", json={"content": "x"})).json()
    again = (await client.put(f"/projects/{project}/files/a.txt", json={"content": "x"})).json()
    assert again == {"version_id": first["version_id"], "changed": False}


async def test_unicode_and_crlf_round_trip(client: httpx.AsyncClient, project: str) -> None:
    content = "naïve = '日本語 🎉'\r\nsecond\r\n"
    await client.put(f"/projects/{project}/files/u.py", json={"content": content})
    assert (await client.get(f"/projects/{project}/files/u.py")).json()["content"] == content


async def test_rename_keeps_content(client: httpx.AsyncClient, project: str) -> None:
    await client.put(f"/projects/{project}/files/old.py", json={"content": "v = 1\n"})
    renamed = await client.post(
        f"/projects/{project}/files:rename", json={"from": "old.py", "to": "pkg/new.py"}
    )
    assert renamed.status_code == 200, renamed.text
    assert (await client.get(f"/projects/{project}/files/pkg/new.py")).json()[
        "content"
    ] == "v = 1\n"
    assert (await client.get(f"/projects/{project}/files/old.py")).status_code == 404

    missing = await client.post(
        f"/projects/{project}/files:rename", json={"from": "nope.py", "to": "x.py"}
    )
    assert missing.status_code == 404
    taken = await client.post(
        f"/projects/{project}/files:rename", json={"from": "pkg/new.py", "to": "main.py"}
    )
    assert taken.status_code == 409


@pytest.mark.parametrize(
    "path",
    [
        "..%2Fescape.py",
        "a/..%2F..%2Fescape.py",
        "%2Fetc%2Fpasswd",
        ".git/config",
        "sub/.git/HEAD",
        "nul%00byte.py",
        "back%5Cslash.py",
        "x" * 300,
    ],
)
async def test_unsafe_paths_are_refused(client: httpx.AsyncClient, project: str, path: str) -> None:
    for method, body in [("GET", None), ("PUT", {"content": "x"}), ("DELETE", None)]:
        response = await client.request(method, f"/projects/{project}/files/{path}", json=body)
        assert response.status_code == 422, (method, path, response.text)
        assert response.json()["error"] == "invalid_path"


async def test_too_long_path_is_refused(client: httpx.AsyncClient, project: str) -> None:
    path = "/".join(["d" * 200] * 6)
    response = await client.put(f"/projects/{project}/files/{path}", json={"content": ""})
    assert response.status_code == 422


async def test_file_over_the_limit_is_413_and_leaves_nothing(
    client: httpx.AsyncClient, project: str
) -> None:
    before = (await client.get(f"/projects/{project}/versions")).json()["items"]
    big = "x" * (1024 * 1024 + 1)
    response = await client.put(f"/projects/{project}/files/big.txt", json={"content": big})
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert (await client.get(f"/projects/{project}/versions")).json()["items"] == before
    assert (await client.get(f"/projects/{project}/files/big.txt")).status_code == 404


async def test_oversized_body_is_413_before_parsing(
    client: httpx.AsyncClient, project: str
) -> None:
    body = b'{"content": "' + b"y" * (8 * 1024 * 1024) + b'"}'
    response = await client.put(
        f"/projects/{project}/files/huge.txt",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b'{"content": "\\ud800"}', "invalid_input"),  # a lone surrogate is not UTF-8 text
        (b'{"content": "a\\u0000b"}', "validation_error"),  # NUL: binary, not text
        (b'{"content": 5}', "validation_error"),
        (b'{"content": null}', "validation_error"),
        (b"{}", "validation_error"),
        (b'{"content": "x", "extra": true}', "validation_error"),
        (b'{"content": "x"', "malformed_json"),
        (b"\xff\xfe garbage", "malformed_json"),
    ],
)
async def test_bad_bodies_are_4xx(
    client: httpx.AsyncClient, project: str, raw: bytes, error: str
) -> None:
    response = await client.put(
        f"/projects/{project}/files/t.py", content=raw, headers={"content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"] == error
    assert (await client.get(f"/projects/{project}/files/t.py")).status_code == 404


async def test_file_under_a_file_is_a_conflict(client: httpx.AsyncClient, project: str) -> None:
    response = await client.put(f"/projects/{project}/files/main.py/inner.py", json={"content": ""})
    assert response.status_code == 409


async def test_unknown_ids_are_404(client: httpx.AsyncClient, project: str) -> None:
    assert (await client.get("/projects/nope/files")).status_code == 404
    assert (await client.get(f"/projects/{project}/files/missing.py")).status_code == 404
    assert (await client.delete(f"/projects/{project}/files/missing.py")).status_code == 404
    bad_version = await client.get(
        f"/projects/{project}/files/main.py", params={"version_id": "f" * 40}
    )
    assert bad_version.status_code == 404


async def test_reading_a_directory_is_refused(client: httpx.AsyncClient, project: str) -> None:
    await client.put(f"/projects/{project}/files/pkg/a.py", json={"content": ""})
    response = await client.get(f"/projects/{project}/files/pkg")
    assert response.status_code == 422
