"""LLM providers behind one streaming interface: openai-compatible, flowise and offline (DESIGN section 10)."""

from samtale.llm.base import (
    ChatMessage,
    Completion,
    GenerationRequest,
    LLMConnectionError,
    LLMError,
    LLMProvider,
    LLMResponseError,
    LLMStatusError,
    RetryStats,
    StreamItem,
    TextDelta,
    Usage,
    stream_with_retries,
)

__all__ = [
    "ChatMessage",
    "Completion",
    "GenerationRequest",
    "LLMConnectionError",
    "LLMError",
    "LLMProvider",
    "LLMResponseError",
    "LLMStatusError",
    "RetryStats",
    "StreamItem",
    "TextDelta",
    "Usage",
    "stream_with_retries",
]
