"""A stop during an extraction loses nothing: the attachment is extracted again at start-up,
and an upload cut off half-way leaves no file behind."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import httpx

from tests.attachments.conftest import extracting_pdf, settled
from tests.servers import vibeforge_server
from tests.stubs import TOKEN


async def test_an_extraction_cut_off_by_a_stop_is_finished_after_the_restart(
    tmp_path: Path, database_url: str
) -> None:
    data_dir = tmp_path / "data"
    env = {"VIBEFORGE_ADMIN_TOKEN": TOKEN}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with vibeforge_server(data_dir, database_url, env=env) as first:
        async with httpx.AsyncClient(base_url=first.url, headers=headers, timeout=30) as http:
            project = (await http.post("/projects", json={"name": "p"})).json()["id"]
            attachment = await extracting_pdf(http, project)
            # A half-sent upload the stop cut off, an hour ago (a newer one may be another
            # process's upload in flight: start-up leaves those alone).
            tmp = data_dir / "attachments" / "tmp"
            tmp.mkdir(parents=True, exist_ok=True)
            (tmp / "cut-off.part").write_bytes(b"half")
            (tmp / "in-flight.part").write_bytes(b"new")
            hour_ago = time.time() - 3600
            os.utime(tmp / "cut-off.part", (hour_ago, hour_ago))
    with vibeforge_server(data_dir, database_url, env=env) as second:
        async with httpx.AsyncClient(base_url=second.url, headers=headers, timeout=30) as http:
            found = await settled(http, attachment, within=60)
            assert found["state"] == "ready" and found["units"] == 1000
        assert "restarted 1 attachment extractions" in second.log()
        assert not (tmp / "cut-off.part").exists() and (tmp / "in-flight.part").exists()
        assert second.crashes() == []


async def test_a_client_gone_mid_upload_leaves_nothing_and_no_crash(
    tmp_path: Path, database_url: str
) -> None:
    data_dir = tmp_path / "data"
    env = {"VIBEFORGE_ADMIN_TOKEN": TOKEN}
    with vibeforge_server(data_dir, database_url, env=env) as running:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=running.url, headers=headers) as http:
            project = (await http.post("/projects", json={"name": "p"})).json()["id"]
        host, port = running.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        part = (
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.txt"\r\n\r\n'
            + b"y" * 3_000_000
        )
        writer.write(
            f"POST /attachments?project_id={project} HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {TOKEN}\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\n"
            f"Content-Length: {len(part) + 1_000_000}\r\n\r\n".encode()
            + part
        )
        await writer.drain()
        writer.close()  # gone, a megabyte short
        for _ in range(500):  # until the server has ended the request
            if '"method": "POST", "path": "/attachments"' in running.log():
                break
            await asyncio.sleep(0.02)
        assert '"method": "POST", "path": "/attachments", "status": 400' in running.log()
        tmp = data_dir / "attachments" / "tmp"
        assert not tmp.exists() or list(tmp.iterdir()) == [], "the partial upload is removed"
        async with httpx.AsyncClient(base_url=running.url, headers=headers) as http:
            listed = (await http.get("/attachments", params={"project_id": project})).json()
        assert listed["items"] == []
        assert running.crashes() == []
        del reader
