"""A small WebSocket test client for the /ws protocol."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect


class WsClient:
    """Sends envelopes, collects events, waits for the ones a test needs."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.events: list[dict[str, Any]] = []

    @classmethod
    async def open(cls, url: str, token: str) -> WsClient:
        """Connect with the token in the query string."""
        ws_url = url.replace("http://", "ws://") + f"/ws?token={token}"
        return cls(await connect(ws_url, max_size=None))

    async def send(self, type: str, **data: Any) -> None:
        """Send one envelope."""
        await self.connection.send(json.dumps({"type": type, "data": data}))

    async def next(self, within: float = 10.0) -> dict[str, Any]:
        """The next event."""
        event = json.loads(await asyncio.wait_for(self.connection.recv(), within))
        self.events.append(event)
        return event

    async def until(self, type: str, within: float = 10.0, **match: Any) -> dict[str, Any]:
        """Read events until one of `type` whose data matches `match`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            event = await self.next(max(0.01, deadline - loop.time()))
            data = event.get("data") or {}
            if event["type"] == type and all(data.get(k) == v for k, v in match.items()):
                return event

    async def close(self) -> None:
        """Close the socket."""
        await self.connection.close()
