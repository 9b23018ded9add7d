"""Small test clients of the two socket transports, with one interface: `/ws` (WsClient) and
Socket.IO (SioClient). Events are collected as `{"type", "seq", "data"}` either way."""

from __future__ import annotations

import asyncio
import json
from abc import ABC, abstractmethod
from typing import Any

import socketio
from websockets.asyncio.client import ClientConnection, connect


class EventReader(ABC):
    """Collects a client's events and waits for the ones a test needs."""

    events: list[dict[str, Any]]

    @abstractmethod
    async def next(self, within: float = 10.0) -> dict[str, Any]:
        """The next event."""

    async def until(self, type: str, within: float = 10.0, **match: Any) -> dict[str, Any]:
        """Read events until one of `type` whose data matches `match`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            event = await self.next(max(0.01, deadline - loop.time()))
            data = event.get("data") or {}
            if event["type"] == type and all(data.get(k) == v for k, v in match.items()):
                return event


class WsClient(EventReader):
    """A /ws client: sends envelopes."""

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

    async def command(self, type: str, data: Any) -> dict[str, Any] | None:
        """Send a command with any data at all; /ws has no acknowledgements (None)."""
        await self.connection.send(json.dumps({"type": type, "data": data}))
        return None

    async def next(self, within: float = 10.0) -> dict[str, Any]:
        """The next event."""
        event = json.loads(await asyncio.wait_for(self.connection.recv(), within))
        self.events.append(event)
        return event

    async def close(self) -> None:
        """Close the socket."""
        await self.connection.close()


class SioClient(EventReader):
    """A Socket.IO client that collects events the way WsClient does."""

    def __init__(self, client: socketio.AsyncClient) -> None:
        self.client = client
        self.events: list[dict[str, Any]] = []
        self._arrived: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        @client.on("*")
        async def any_event(name: str, data: Any = None) -> None:
            payload = data if isinstance(data, dict) else {"value": data}
            await self._arrived.put({"type": name, "seq": payload.get("seq"), "data": payload})

    @classmethod
    async def open(cls, url: str, token: str) -> SioClient:
        """Connect over the websocket transport with the token in the auth payload."""
        client = cls(socketio.AsyncClient())
        await client.client.connect(url, auth={"token": token}, transports=["websocket"])
        return client

    async def send(self, type: str, **data: Any) -> dict[str, Any] | None:
        """Emit one command and wait for its acknowledgement."""
        return await self.command(type, data)

    async def command(self, type: str, data: Any) -> dict[str, Any] | None:
        """Emit a command with any data at all; its acknowledgement."""
        ack = await self.client.call(type, data, timeout=10)
        return ack if isinstance(ack, dict) else {"value": ack}

    async def next(self, within: float = 10.0) -> dict[str, Any]:
        """The next event (`vibecode_response`, the alias of `done`, is skipped)."""
        while True:
            event = await asyncio.wait_for(self._arrived.get(), within)
            if event["type"] != "vibecode_response":
                self.events.append(event)
                return event

    async def close(self) -> None:
        """Disconnect."""
        await self.client.disconnect()
