"""Adapt an LLM provider of :mod:`samtale.llm` to the assistant's :class:`~.assistant.JSONCompleter`.

The provider's ``complete`` is asked for OpenAI structured output (``response_format`` of type
``json_schema``); the answer's text is parsed as JSON, or handed back as the raw string when it
is not JSON (the assistant then logs it and asks again).
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from samtale.llm.base import ChatMessage, Completion, GenerationRequest

ROLES = {"system", "user", "assistant"}


class CompletingProvider(Protocol):
    """The part of an LLM provider this adapter needs (``OpenAIProvider`` has it)."""

    async def complete(self, request: GenerationRequest) -> Completion:  # pragma: no cover - protocol
        """Return the whole answer to ``request``."""
        ...


class ProviderJSONCompleter:
    """:class:`~.assistant.JSONCompleter` over a provider's non-streamed ``complete``.

    Args:
        provider: e.g. :class:`samtale.llm.openai_provider.OpenAIProvider`.
        model: the model to ask for; None uses the provider's own.
        temperature: sampling temperature (seed 004 runs at 0.2).
    """

    def __init__(self, *, provider: CompletingProvider, model: str | None = None, temperature: float = 0.2) -> None:
        self.provider = provider
        self.model = model
        self.temperature = temperature

    async def complete_json(
        self, *, messages: list[dict[str, Any]], schema: dict[str, Any]
    ) -> tuple[dict[str, Any] | str, dict[str, Any]]:
        """Ask for JSON following ``schema`` (an OpenAI ``json_schema`` object: name, strict, schema).

        Returns:
            The parsed JSON object (or the raw text when it is not a JSON object) and
            ``{"model", "usage": {"prompt_tokens", "completion_tokens", "estimated"}}``.

        Raises:
            LLMError: the provider could not answer.
        """
        chat = [ChatMessage(role=m["role"], content=str(m["content"])) for m in messages if m.get("role") in ROLES]
        question = next((m.content for m in reversed(chat) if m.role == "user"), "")
        request = GenerationRequest(
            messages=chat,
            question=question,
            model=self.model,
            temperature=self.temperature,
            response_format={"type": "json_schema", "json_schema": schema},
        )
        completion = await self.provider.complete(request)
        info = {
            "model": completion.model or self.model,
            "usage": {
                "prompt_tokens": completion.usage.prompt_tokens,
                "completion_tokens": completion.usage.completion_tokens,
                "estimated": completion.usage.estimated,
            },
        }
        try:
            parsed = json.loads(completion.text)
        except json.JSONDecodeError:
            return completion.text, info
        return (parsed if isinstance(parsed, dict) else completion.text), info
