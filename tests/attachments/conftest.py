"""Helpers for attachment tests: uploading and waiting for an extraction to settle."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx


async def upload(
    client: httpx.AsyncClient,
    name: str,
    data: bytes,
    *,
    session_id: str | None = None,
    project_id: str | None = None,
    in_query: bool = False,
) -> httpx.Response:
    """POST /attachments as multipart, the target as form fields (or in the query)."""
    target = {
        key: value
        for key, value in (("session_id", session_id), ("project_id", project_id))
        if value
    }
    files = {"file": (name, data, "application/octet-stream")}
    if in_query:
        return await client.post("/attachments", params=target, files=files)
    return await client.post("/attachments", data=target, files=files)


async def settled(
    client: httpx.AsyncClient, attachment_id: str, within: float = 20
) -> dict[str, Any]:
    """The attachment once it is ready or failed."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = (await client.get(f"/attachments/{attachment_id}")).json()
        if found["state"] in ("ready", "failed"):
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"attachment still {found['state']}")
        await asyncio.sleep(0.02)


async def extracting_pdf(client: httpx.AsyncClient, project_id: str) -> str:
    """A 1,000-page PDF attached to the project, once its extraction is under way; its id."""
    from tests.attachments.files import numbered_pdf

    created = await upload(client, "big.pdf", numbered_pdf(1000, 60), project_id=project_id)
    attachment = str(created.json()["id"])
    for _ in range(200):
        state = (await client.get(f"/attachments/{attachment}")).json()["state"]
        if state == "extracting":
            return attachment
        await asyncio.sleep(0.02)
    raise AssertionError(f"attachment {attachment} still {state}, not extracting")
