"""The Python client of vibeforge: `Client` (async) and `SyncClient`, over REST and `/ws`.

Names are imported on first use, so `import vibeforge.client.terminal` (the `vibeforge chat`
command) does not pay for the event protocol before it needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vibeforge.client.callbacks import Callbacks
    from vibeforge.client.client import Client
    from vibeforge.client.errors import ApiError, ClientError, ConnectionLost
    from vibeforge.client.run import Run
    from vibeforge.client.sync import SyncClient, SyncRun

_EXPORTS = {
    "Client": "vibeforge.client.client",
    "ApiError": "vibeforge.client.errors",
    "ClientError": "vibeforge.client.errors",
    "ConnectionLost": "vibeforge.client.errors",
    "Callbacks": "vibeforge.client.callbacks",
    "Run": "vibeforge.client.run",
    "SyncClient": "vibeforge.client.sync",
    "SyncRun": "vibeforge.client.sync",
}
__all__ = [
    "ApiError",
    "Callbacks",
    "Client",
    "ClientError",
    "ConnectionLost",
    "Run",
    "SyncClient",
    "SyncRun",
]
assert sorted(_EXPORTS) == __all__


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vibeforge.client' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
