"""The stub LLM server: real HTTP speaking OpenAI, Ollama and Anthropic, scripted per request."""

from vibeforge.llm.stub.script import RecordedRequest, Script, ScriptedToolCall
from vibeforge.llm.stub.server import StubLLMServer

__all__ = ["RecordedRequest", "Script", "ScriptedToolCall", "StubLLMServer"]
