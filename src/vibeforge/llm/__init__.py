"""The LLM provider layer: one streaming ChatModel protocol, adapters per wire API, a stub server.

Importing this package never imports a provider SDK: `openai` and `anthropic` take seconds to
import and are loaded, in a thread, when a model of that provider first streams.
"""

from vibeforge.llm.completion import Completion, collect
from vibeforge.llm.errors import (
    InvalidParameter,
    ProviderAuthenticationError,
    ProviderBadRequest,
    ProviderConnectionError,
    ProviderEmptyResponse,
    ProviderError,
    ProviderHTTPError,
    ProviderProtocolError,
    ProviderRateLimited,
    ProviderServerError,
    ProviderTimeout,
)
from vibeforge.llm.params import PARAMETER_NAMES, Params, merge_params, validate_params
from vibeforge.llm.retry import RetryPolicy
from vibeforge.llm.spec import PROVIDERS, ModelSpec, Provider
from vibeforge.llm.types import (
    AttemptFailed,
    Capabilities,
    ChatModel,
    ChatRequest,
    Finished,
    ImagePart,
    Message,
    StreamEvent,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ToolCall,
    ToolCallDelta,
    ToolSpec,
    Usage,
    UsageReport,
)
from vibeforge.llm.usage import Prices, cost_usd

__all__ = [
    "PARAMETER_NAMES",
    "PROVIDERS",
    "AttemptFailed",
    "Capabilities",
    "ChatModel",
    "ChatRequest",
    "Completion",
    "Finished",
    "ImagePart",
    "InvalidParameter",
    "Message",
    "ModelSpec",
    "Params",
    "Prices",
    "Provider",
    "ProviderAuthenticationError",
    "ProviderBadRequest",
    "ProviderConnectionError",
    "ProviderEmptyResponse",
    "ProviderError",
    "ProviderHTTPError",
    "ProviderProtocolError",
    "ProviderRateLimited",
    "ProviderServerError",
    "ProviderTimeout",
    "RetryPolicy",
    "StreamEvent",
    "TextDelta",
    "TextPart",
    "ThinkingDelta",
    "ToolCall",
    "ToolCallDelta",
    "ToolSpec",
    "Usage",
    "UsageReport",
    "collect",
    "cost_usd",
    "merge_params",
    "validate_params",
]
