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
