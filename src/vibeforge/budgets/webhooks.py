"""Budget warnings sent to a webhook: a JSON POST signed with HMAC-SHA256 of its body
(`X-Vibeforge-Signature: sha256=HEX`), retried with backoff when the receiver fails."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from typing import Any

import httpx

log = logging.getLogger("vibeforge.budgets")
SIGNATURE_HEADER = "X-Vibeforge-Signature"
EVENT_HEADER = "X-Vibeforge-Event"
ATTEMPTS = 4
FIRST_DELAY_S = 0.5  # then doubled
TIMEOUT_S = 10.0


def signature(secret: str, body: bytes) -> str:
    """The signature header's value for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _retryable(status: int) -> bool:
    return status in (408, 429) or status >= 500


class WebhookSender:
    """Delivers events in tasks of their own, so a slow receiver delays no call."""

    def __init__(self, first_delay_s: float = FIRST_DELAY_S) -> None:
        self.first_delay_s = first_delay_s
        self._tasks: set[asyncio.Task[bool]] = set()

    async def send(self, url: str, secret: str | None, event: str, data: dict[str, Any]) -> bool:
        """POST the event until the receiver takes it (2xx) or ATTEMPTS are used up."""
        body = json.dumps({"type": event, "data": data}, separators=(",", ":")).encode()
        headers = {"content-type": "application/json", EVENT_HEADER: event}
        if secret:
            headers[SIGNATURE_HEADER] = signature(secret, body)
        delay = self.first_delay_s
        async with httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False) as client:
            for attempt in range(1, ATTEMPTS + 1):
                try:
                    response = await client.post(url, content=body, headers=headers)
                    if response.is_success:
                        return True
                    if not _retryable(response.status_code):
                        log.warning("webhook %s refused %s: %d", url, event, response.status_code)
                        return False
                except httpx.HTTPError as error:
                    log.warning("webhook %s attempt %d failed: %s", url, attempt, error)
                if attempt < ATTEMPTS:
                    await asyncio.sleep(delay)
                    delay *= 2
        log.warning("webhook %s gave up on %s after %d attempts", url, event, ATTEMPTS)
        return False

    def send_soon(self, url: str, secret: str | None, event: str, data: dict[str, Any]) -> None:
        """Send in the background."""
        task = asyncio.get_running_loop().create_task(self.send(url, secret, event, data))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Stop deliveries still retrying."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
