"""Any OpenAI-compatible chat completions endpoint (OpenAI, Azure, vLLM, Ollama, llama.cpp…).

Uses the official ``openai`` SDK over an injected ``httpx.AsyncClient`` (the process's AI
connection pool), with the SDK's own retries off: :func:`samtale.llm.base.stream_with_retries`
retries, and only before the first token. Streams ask for ``stream_options.include_usage`` so
the last chunk carries token counts, and every stream is read to its very end (past
``data: [DONE]`` and the closing chunk) so its keep-alive connection goes back to the pool
(DESIGN section 10).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
from openai import AsyncOpenAI

from samtale.llm.base import (
    ChatMessage,
    Completion,
    GenerationRequest,
    LLMConnectionError,
    LLMError,
    LLMResponseError,
    LLMStatusError,
    StreamItem,
    TextDelta,
    Usage,
    count_words,
    parse_retry_after,
)


class OpenAIProvider:
    """Streams chat completions from an OpenAI-compatible server.

    Args:
        base_url: the API base, e.g. ``https://api.openai.com/v1`` or ``http://127.0.0.1:9100/v1``.
        api_key: the resolved key (not an ``${ENV}`` reference); servers that need none accept
            any string.
        model: the model asked for when a request names none.
        http_client: the shared connection pool; None lets the SDK make its own.
        timeout_s: overall request timeout in seconds; None keeps ``http_client``'s timeout.
        temperature, max_tokens: defaults for requests that set none.
    """

    name = "openai"

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        model: str,
        http_client: httpx.AsyncClient | None = None,
        timeout_s: float | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> None:
        self.base_url = base_url
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        options: dict[str, Any] = {"base_url": base_url, "api_key": api_key or "none", "max_retries": 0}
        if timeout_s is not None:
            options["timeout"] = timeout_s
        if http_client is not None:
            options["http_client"] = http_client
        self._client = AsyncOpenAI(**options)

    def _arguments(self, request: GenerationRequest) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "model": request.model or self.model,
            "messages": [_message(message) for message in request.messages],
        }
        temperature = request.temperature if request.temperature is not None else self.temperature
        if temperature is not None:
            arguments["temperature"] = temperature
        max_tokens = request.max_tokens if request.max_tokens is not None else self.max_tokens
        if max_tokens is not None:
            arguments["max_tokens"] = max_tokens
        if request.response_format is not None:
            arguments["response_format"] = request.response_format
        return arguments

    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamItem]:
        """Stream the reply as :class:`TextDelta` items, then one :class:`Usage`.

        Raises:
            LLMConnectionError: the server is unreachable, drops the stream or times out.
            LLMStatusError: the server answers with an HTTP error status.
            LLMResponseError: the server streams an error or an unparseable chunk.
        """
        arguments = self._arguments(request)
        try:
            stream = await self._client.chat.completions.create(
                **arguments, stream=True, stream_options={"include_usage": True}
            )
        except openai.OpenAIError as exc:
            raise _mapped(exc) from exc
        usage: Usage | None = None
        pieces: list[str] = []
        finished = False
        try:
            async for chunk in stream:
                if chunk.usage is not None:
                    usage = Usage(
                        prompt_tokens=chunk.usage.prompt_tokens, completion_tokens=chunk.usage.completion_tokens
                    )
                for choice in chunk.choices:
                    content = choice.delta.content if choice.delta is not None else None
                    if content:
                        pieces.append(content)
                        yield TextDelta(content)
            finished = True
        except openai.OpenAIError as exc:
            raise _mapped(exc) from exc
        except httpx.HTTPError as exc:
            raise LLMConnectionError(f"the LLM stream from {self.base_url} broke off: {type(exc).__name__}") from exc
        finally:
            if finished:
                await _read_to_end(stream.response)
            else:
                await stream.response.aclose()
        if usage is None:
            prompt = [message.content for message in request.messages]
            usage = Usage(prompt_tokens=count_words(*prompt), completion_tokens=len(pieces), estimated=True)
        yield usage

    async def complete(self, request: GenerationRequest) -> Completion:
        """Return the whole reply (honours ``request.response_format``, e.g. a JSON schema).

        Raises:
            LLMConnectionError, LLMStatusError: as :meth:`stream`.
            LLMResponseError: the answer has no choices or no content.
        """
        try:
            answer = await self._client.chat.completions.create(**self._arguments(request))
        except openai.OpenAIError as exc:
            raise _mapped(exc) from exc
        if not answer.choices or answer.choices[0].message.content is None:
            raise LLMResponseError(f"the LLM at {self.base_url} returned no content")
        text = answer.choices[0].message.content
        if answer.usage is not None:
            usage = Usage(prompt_tokens=answer.usage.prompt_tokens, completion_tokens=answer.usage.completion_tokens)
        else:
            prompt = [message.content for message in request.messages]
            usage = Usage(prompt_tokens=count_words(*prompt), completion_tokens=count_words(text), estimated=True)
        return Completion(text=text, usage=usage, model=answer.model)

    async def aclose(self) -> None:
        """Close the SDK client (and its HTTP pool when it made its own)."""
        await self._client.close()


def _message(message: ChatMessage) -> dict[str, str]:
    return {"role": message.role, "content": message.content}


async def _read_to_end(response: Any) -> None:
    """Read what is left of a finished stream so its connection returns to the pool."""
    if not response.is_closed:
        try:
            async for _ in response.stream:
                pass
        except (httpx.HTTPError, httpx.StreamError):
            pass
        finally:
            await response.aclose()


def _mapped(exc: openai.OpenAIError) -> LLMError:
    """Our exception for an SDK exception (the message never includes the API key)."""
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        kind = "timed out" if isinstance(exc, openai.APITimeoutError) else "could not be reached"
        return LLMConnectionError(f"the LLM server {kind}: {exc.message}")
    if isinstance(exc, openai.APIStatusError):
        retry_after = parse_retry_after(exc.response.headers.get("retry-after"))
        return LLMStatusError(
            f"the LLM server answered HTTP {exc.status_code}: {exc.message}",
            status_code=exc.status_code,
            retry_after_s=retry_after,
        )
    if isinstance(exc, openai.APIError):
        return LLMResponseError(f"the LLM server sent an error or an unreadable answer: {exc.message}")
    return LLMError(f"the LLM call failed: {exc}")
