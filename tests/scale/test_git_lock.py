"""Concurrent edits of one project through two processes: serialised per project across the
cluster, so none is lost and none is refused for a race it did not start."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.scale.cluster import HEADERS, two_servers


async def test_concurrent_edits_through_both_processes_lose_nothing(
    tmp_path: Path, postgres_url: str, redis_url: str, redis_prefix: str
) -> None:
    with two_servers(tmp_path / "data", postgres_url, redis_url, redis_prefix) as (a, b):
        async with (
            httpx.AsyncClient(base_url=a.url, headers=HEADERS, timeout=60) as on_a,
            httpx.AsyncClient(base_url=b.url, headers=HEADERS, timeout=60) as on_b,
        ):
            project = (await on_a.post("/projects", json={"name": "edits"})).json()["id"]

            async def write(index: int) -> httpx.Response:
                client = on_a if index % 2 else on_b
                body = {"content": f"value = {index}\n"}
                return await client.put(f"/projects/{project}/files/f{index}.py", json=body)

            answers = await asyncio.gather(*(write(i) for i in range(24)))
            assert [r.status_code for r in answers] == [200] * 24, [r.text for r in answers]
            versions = {r.json()["version_id"] for r in answers}
            assert len(versions) == 24, "every write is its own version"
            files = (await on_b.get(f"/projects/{project}/files")).json()
            paths = {entry["path"] for entry in files["items"]}
            assert {f"f{i}.py" for i in range(24)} <= paths
            for i in (0, 7, 23):
                read = (await on_a.get(f"/projects/{project}/files/f{i}.py")).json()
                assert read["content"] == f"value = {i}\n"

            # Two writers from the same base version: one wins, the other is told (409).
            head = (await on_a.get(f"/projects/{project}/versions")).json()["items"][0]["id"]

            async def based(client: httpx.AsyncClient, text: str) -> httpx.Response:
                body = {"files": {"same.py": text}, "expected_version": head}
                return await client.post(f"/projects/{project}/commits", json=body)

            racing = await asyncio.gather(based(on_a, "a = 1\n"), based(on_b, "b = 2\n"))
            assert sorted(r.status_code for r in racing) == [200, 409], [r.text for r in racing]
