"""A stop during an extraction loses nothing: the attachment is extracted again at start-up,
and an upload cut off half-way leaves no file behind."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.attachments.conftest import settled, upload
from tests.attachments.files import numbered_pdf
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
            created = await upload(http, "big.pdf", numbered_pdf(1000, 60), project_id=project)
            attachment = created.json()["id"]
            for _ in range(200):
                state = (await http.get(f"/attachments/{attachment}")).json()["state"]
                if state == "extracting":
                    break
                await asyncio.sleep(0.02)
            assert state == "extracting"
            # A half-sent upload the stop cuts off.
            (data_dir / "attachments" / "tmp").mkdir(parents=True, exist_ok=True)
            (data_dir / "attachments" / "tmp" / "cut-off.part").write_bytes(b"half")
    with vibeforge_server(data_dir, database_url, env=env) as second:
        async with httpx.AsyncClient(base_url=second.url, headers=headers, timeout=30) as http:
            found = await settled(http, attachment, within=60)
            assert found["state"] == "ready" and found["units"] == 1000
        assert "restarted 1 attachment extractions" in second.log()
        assert not (data_dir / "attachments" / "tmp" / "cut-off.part").exists()
        assert second.crashes() == []
