"""An OpenAI-compatible relay: `chat.completions` requests answered by any vibeforge ChatModel.

Translation (`translate`), encoding of the answer as JSON or SSE (`encode`), recording of every
provider attempt (`recorder`) and the per-caller caps (`relay`) know nothing of how requests
arrive; `asgi` is the HTTP endpoint and `unix` serves it on a Unix socket that sandboxed
programs reach through a small forwarder (`jail_forwarder`).
"""

from vibeforge.relay.recorder import CallRecorder, CallScope, request_record
from vibeforge.relay.relay import Relay, RelayCaps, RelaySession
from vibeforge.relay.translate import RelayError, Translated, translate

__all__ = [
    "CallRecorder",
    "CallScope",
    "Relay",
    "RelayCaps",
    "RelayError",
    "RelaySession",
    "Translated",
    "request_record",
    "translate",
]
