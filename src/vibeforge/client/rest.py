"""The REST half of the Python client: one method per route, answers as the server's JSON.

Answers are returned as decoded JSON (dicts and lists) rather than copies of the server's
response models, so a field the server adds reaches the caller and breaks nothing. Every
refusal becomes an `ApiError` carrying the server's `{"error", "detail"}`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx

from vibeforge.client.errors import ApiError

JSON = dict[str, Any]
PAGE_LIMIT = 500  # the server's largest page


def _file_url(project_id: str, path: str) -> str:
    # A path's own slashes stay; every other reserved character (`?`, `#`, `%`) is escaped.
    return f"/projects/{quote(project_id, safe='')}/files/{quote(path, safe='/')}"


def _id(value: str) -> str:
    return quote(value, safe="")


def _error_of(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return ApiError(response.status_code, body["error"], str(body.get("detail", "")), body)
    text = response.text[:500] or response.reason_phrase
    return ApiError(response.status_code, f"http_{response.status_code}", text, body)


class RestClient:
    """REST calls to one vibeforge server as one user (`token`)."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            # Over plain HTTP no TLS handshake can happen (redirects are not followed), and
            # the default context would load the CA bundle: 50 ms of every chat's start-up.
            verify=self.base_url.startswith("https://"),
        )

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self.http.aclose()

    async def request(
        self, method: str, url: str, *, json: Any = None, params: JSON | None = None
    ) -> Any:
        """One call; the decoded JSON answer (None for 204), or ApiError."""
        query = {key: value for key, value in (params or {}).items() if value is not None}
        response = await self.http.request(method, url, json=json, params=query or None)
        if response.status_code >= 400:
            raise _error_of(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    async def call(
        self, method: str, url: str, *, json: Any = None, params: JSON | None = None
    ) -> JSON:
        """One call answered with a JSON object."""
        result: JSON = await self.request(method, url, json=json, params=params)
        return result

    async def pages(self, url: str, **params: Any) -> AsyncIterator[JSON]:
        """Every item of a paged list, following its cursors."""
        cursor: str | None = None
        while True:
            page = await self.request("GET", url, params={**params, "cursor": cursor})
            for item in page["items"]:
                yield item
            cursor = page.get("next")
            if not cursor:
                return

    # -- the server and the caller ----------------------------------------------------------

    async def health(self) -> JSON:
        """GET /health (needs no token)."""
        return await self.call("GET", "/health")

    async def me(self) -> JSON:
        """The authenticated user."""
        return await self.call("GET", "/me")

    # -- projects, files, versions ----------------------------------------------------------

    async def list_projects(self, limit: int = PAGE_LIMIT) -> list[JSON]:
        """The caller's projects, newest first."""
        return [item async for item in self.pages("/projects", limit=limit)]

    async def create_project(self, name: str, description: str = "", **fields: Any) -> JSON:
        """A new project (`main_file` may be given)."""
        body = {"name": name, "description": description, **fields}
        return await self.call("POST", "/projects", json=body)

    async def get_project(self, project_id: str) -> JSON:
        """One project, with `current_code`."""
        return await self.call("GET", f"/projects/{_id(project_id)}")

    async def update_project(self, project_id: str, **changes: Any) -> JSON:
        """PATCH a project."""
        return await self.call("PATCH", f"/projects/{_id(project_id)}", json=changes)

    async def delete_project(self, project_id: str) -> None:
        """Delete a project and its repository."""
        await self.request("DELETE", f"/projects/{_id(project_id)}")

    async def list_files(self, project_id: str) -> JSON:
        """The project's file tree at its newest version."""
        return await self.call("GET", f"/projects/{_id(project_id)}/files")

    async def read_file(self, project_id: str, path: str, version_id: str | None = None) -> JSON:
        """`{path, content, version_id}` of a file."""
        params = {"version_id": version_id}
        return await self.call("GET", _file_url(project_id, path), params=params)

    async def write_file(
        self, project_id: str, path: str, content: str, message: str | None = None
    ) -> JSON:
        """Write a file as a new version."""
        body = {"content": content, "message": message}
        return await self.call("PUT", _file_url(project_id, path), json=body)

    async def delete_file(self, project_id: str, path: str) -> JSON:
        """Delete a file as a new version."""
        return await self.call("DELETE", _file_url(project_id, path))

    async def rename_file(self, project_id: str, source: str, target: str) -> JSON:
        """Rename a file as a new version."""
        body = {"from": source, "to": target}
        url = f"/projects/{_id(project_id)}/files:rename"
        return await self.call("POST", url, json=body)

    async def list_versions(self, project_id: str, limit: int = 50) -> list[JSON]:
        """The newest `limit` versions of a project, newest first."""
        url = f"/projects/{_id(project_id)}/versions"
        page = await self.request("GET", url, params={"limit": limit})
        items: list[JSON] = page["items"]
        return items

    async def version_diff(
        self, project_id: str, version_id: str, against: str | None = None
    ) -> JSON:
        """`{version_id, against, diff}`: a version against another (default: its parent)."""
        url = f"/projects/{_id(project_id)}/versions/{_id(version_id)}/diff"
        return await self.call("GET", url, params={"against": against})

    async def revert(self, project_id: str, version_id: str, message: str | None = None) -> JSON:
        """A new version whose files equal those of `version_id`."""
        body = {"version_id": version_id, "message": message}
        url = f"/projects/{_id(project_id)}/revert"
        return await self.call("POST", url, json=body)

    # -- sessions and messages --------------------------------------------------------------

    async def open_session(self, project_id: str, node_id: str | None = None) -> JSON:
        """The project's global session, or its session about `node_id` (made on first use)."""
        url = f"/projects/{_id(project_id)}/sessions"
        return await self.call("POST", url, json={"node_id": node_id})

    async def list_sessions(self, project_id: str) -> list[JSON]:
        """The project's sessions."""
        return [item async for item in self.pages(f"/projects/{_id(project_id)}/sessions")]

    async def get_session(self, session_id: str) -> JSON:
        """One session, with its `last_seq` and `active_run_id`."""
        return await self.call("GET", f"/sessions/{_id(session_id)}")

    async def clear_session(self, session_id: str) -> None:
        """Clear a session's history (its messages become archived)."""
        await self.request("DELETE", f"/sessions/{_id(session_id)}")

    async def messages(self, session_id: str, include_archived: bool = False) -> list[JSON]:
        """Every message of a session, oldest first."""
        url = f"/sessions/{_id(session_id)}/messages"
        flag = "true" if include_archived else None
        return [item async for item in self.pages(url, limit=PAGE_LIMIT, include_archived=flag)]

    async def message_full(self, message_id: str) -> JSON:
        """A message with every LLM call behind it."""
        return await self.call("GET", f"/messages/{_id(message_id)}/full")

    async def post_message(self, session_id: str, body: JSON, *, wait: bool) -> JSON:
        """POST a message; `wait=False` answers `{message_id, run_id, trace_id}` at once."""
        url = f"/sessions/{_id(session_id)}/messages"
        params = None if wait else {"wait": "false"}
        return await self.call("POST", url, json=body, params=params)

    # -- models, runs, proposals, usage -----------------------------------------------------

    async def list_models(self) -> list[JSON]:
        """The caller's model configs (no API key is ever returned)."""
        return [item async for item in self.pages("/models")]

    async def get_model(self, ref: str) -> JSON:
        """A model config by id or name."""
        return await self.call("GET", f"/models/{_id(ref)}")

    async def create_model(self, **body: Any) -> JSON:
        """Store a provider connection."""
        return await self.call("POST", "/models", json=body)

    async def get_run(self, run_id: str) -> JSON:
        """A run's status, stages and timings."""
        return await self.call("GET", f"/runs/{_id(run_id)}")

    async def cancel_run(self, run_id: str) -> JSON:
        """Cancel a run: `{run_id, status, cancelled}` once its partial answer is stored."""
        return await self.call("POST", f"/runs/{_id(run_id)}/cancel")

    async def get_proposal(self, proposal_id: str) -> JSON:
        """A proposal and what became of it."""
        return await self.call("GET", f"/proposals/{_id(proposal_id)}")

    async def accept_proposal(self, proposal_id: str) -> JSON:
        """Apply a pending proposal (merged three-way if its base is stale)."""
        return await self.call("POST", f"/proposals/{_id(proposal_id)}/accept")

    async def reject_proposal(self, proposal_id: str) -> JSON:
        """Reject a pending proposal."""
        return await self.call("POST", f"/proposals/{_id(proposal_id)}/reject")

    async def usage(self, project_id: str | None = None, group_by: str = "model") -> JSON:
        """Tokens, cost and latency of the caller's LLM calls."""
        params = {"project_id": project_id, "group_by": group_by}
        return await self.call("GET", "/usage", params=params)
