"""Any OpenAI-compatible chat completions endpoint (OpenAI, Azure, vLLM, Ollama, llama.cpp…).

Talks the Chat Completions wire protocol (``POST {base_url}/chat/completions``, OpenAI API
reference "Create chat completion") straight over an injected ``httpx.AsyncClient`` (the
process's AI connection pool): the request body is encoded once with orjson and each streamed
``data:`` line is decoded with orjson into plain dicts. The official ``openai`` SDK did the
same work through pydantic models for every chunk and a typed transform of every request;
under load that was half the CPU of a turn (``bench/README.md``, turns benchmark), so it is
not used. Retries are :func:`samtale.llm.base.stream_with_retries`'s, and only before the
first token.

Streams ask for ``stream_options.include_usage`` so the last chunk carries token counts, and
every stream is read to its very end (past ``data: [DONE]``) so its keep-alive connection goes
back to the pool (DESIGN section 10). Server-sent events are parsed as the WHATWG
"event stream interpretation" says for the fields OpenAI-compatible servers send: ``data:``
lines (several lines of one event joined with ``\\n``), ``event:`` (an ``error`` event is
a failure) and comments; an event ends at a blank line.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson

from samtale.llm.base import (
    ChatMessage,
    Completion,
    GenerationRequest,
    LLMConnectionError,
    LLMResponseError,
    LLMStatusError,
    StreamItem,
    TextDelta,
    Usage,
    count_words,
    parse_retry_after,
)

DONE = "[DONE]"
"""The ``data:`` payload that ends an OpenAI stream (more bytes may follow before EOF)."""


class OpenAIProvider:
    """Streams chat completions from an OpenAI-compatible server.

    Args:
        base_url: the API base, e.g. ``https://api.openai.com/v1`` or ``http://127.0.0.1:9100/v1``;
            requests go to ``{base_url}/chat/completions``.
        api_key: the resolved key (not an ``${ENV}`` reference), sent as ``Authorization: Bearer``;
            servers that need none accept any string.
        model: the model asked for when a request names none.
        http_client: the shared connection pool (never closed here); None makes a private one
            (closed by :meth:`aclose`).
        timeout_s: connect, read, write and pool-wait timeout in seconds for each request; None
            keeps ``http_client``'s timeout (600 s for a private client, as the SDK had).
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
        self.url = f"{base_url.rstrip('/')}/chat/completions"
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self._owns_client = http_client is None
        self._client = http_client if http_client is not None else httpx.AsyncClient(timeout=600.0)
        self._timeout = httpx.Timeout(timeout_s) if timeout_s is not None else self._client.timeout
        authorization = f"Bearer {api_key or 'none'}"
        self._headers = {"authorization": authorization, "content-type": "application/json"}
        self._stream_headers = {**self._headers, "accept": "text/event-stream"}

    def body(self, request: GenerationRequest, *, stream: bool) -> dict[str, Any]:
        """The Chat Completions request body for ``request`` (``stream`` adds the usage option)."""
        body: dict[str, Any] = {
            "model": request.model or self.model,
            "messages": [_message(message) for message in request.messages],
        }
        if request.images:
            _attach_images(body["messages"], request)
        temperature = request.temperature if request.temperature is not None else self.temperature
        if temperature is not None:
            body["temperature"] = temperature
        max_tokens = request.max_tokens if request.max_tokens is not None else self.max_tokens
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if request.response_format is not None:
            body["response_format"] = request.response_format
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamItem]:
        """Stream the reply as :class:`TextDelta` items, then one :class:`Usage`.

        Raises:
            LLMConnectionError: the server is unreachable, drops the stream or times out.
            LLMStatusError: the server answers with an HTTP error status.
            LLMResponseError: the server streams an error or an unparseable chunk.
        """
        http_request = self._client.build_request(
            "POST",
            self.url,
            content=orjson.dumps(self.body(request, stream=True)),
            headers=self._stream_headers,
            timeout=self._timeout,
        )
        try:
            response = await self._client.send(http_request, stream=True)
        except httpx.HTTPError as exc:
            raise self._connection_error(exc) from exc
        usage: Usage | None = None
        completion_pieces = 0
        done = False
        try:
            if response.status_code >= 400:
                await response.aread()
                raise _status_error(response)
            event = ""
            data: list[str] = []
            # Read to EOF even after [DONE]: a fully read body returns the connection to the pool.
            async for line in response.aiter_lines():
                if line:
                    if line.startswith("data:"):
                        data.append(line[6:] if line.startswith("data: ") else line[5:])
                    elif line.startswith("event:"):
                        event = line[6:].strip()
                    continue
                if not data:  # a blank line after comments or other fields only
                    event = ""
                    continue
                payload = data[0] if len(data) == 1 else "\n".join(data)
                data.clear()
                if done or payload == DONE:
                    done = True
                    continue
                chunk = _chunk(payload, self.base_url)
                if event == "error" or chunk.get("error"):
                    raise _stream_error(chunk, self.base_url)
                event = ""
                reported = chunk.get("usage")
                if reported:
                    usage = _usage(reported, self.base_url)
                for choice in chunk.get("choices") or ():
                    delta = choice.get("delta")
                    content = delta.get("content") if delta else None
                    if content:
                        completion_pieces += 1
                        yield TextDelta(content)
        except httpx.HTTPError as exc:
            raise LLMConnectionError(
                f"the LLM stream from {self.base_url} broke off: {type(exc).__name__}"
                + (" (timed out)" if isinstance(exc, httpx.TimeoutException) else "")
            ) from exc
        finally:
            # Fully read: the connection goes back to the pool; stopped early: it is closed.
            await response.aclose()
        if usage is None:
            prompt = [message.content for message in request.messages]
            usage = Usage(prompt_tokens=count_words(*prompt), completion_tokens=completion_pieces, estimated=True)
        yield usage

    async def complete(self, request: GenerationRequest) -> Completion:
        """Return the whole reply (honours ``request.response_format``, e.g. a JSON schema).

        Raises:
            LLMConnectionError, LLMStatusError: as :meth:`stream`.
            LLMResponseError: the answer is not JSON, has no choices or no content.
        """
        try:
            response = await self._client.post(
                self.url,
                content=orjson.dumps(self.body(request, stream=False)),
                headers=self._headers,
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            raise self._connection_error(exc) from exc
        if response.status_code >= 400:
            raise _status_error(response)
        answer = _chunk(response.content, self.base_url)
        if answer.get("error"):
            raise _stream_error(answer, self.base_url)
        choices = answer.get("choices")
        message = choices[0].get("message") if isinstance(choices, list) and choices else None
        text = message.get("content") if isinstance(message, dict) else None
        if not isinstance(text, str):
            raise LLMResponseError(f"the LLM at {self.base_url} returned no content")
        reported = answer.get("usage")
        if reported:
            usage = _usage(reported, self.base_url)
        else:
            prompt = [message.content for message in request.messages]
            usage = Usage(prompt_tokens=count_words(*prompt), completion_tokens=count_words(text), estimated=True)
        model = answer.get("model")
        return Completion(text=text, usage=usage, model=model if isinstance(model, str) else None)

    async def aclose(self) -> None:
        """Close the HTTP pool if this provider made it (a shared pool is left open)."""
        if self._owns_client:
            await self._client.aclose()

    def _connection_error(self, exc: httpx.HTTPError) -> LLMConnectionError:
        """Our error for a request that got no answer (the message never includes the API key)."""
        kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "could not be reached"
        return LLMConnectionError(f"the LLM server {kind}: {self.base_url} ({type(exc).__name__})")


def _message(message: ChatMessage) -> dict[str, Any]:
    return {"role": message.role, "content": message.content}


def _attach_images(messages: list[dict[str, Any]], request: GenerationRequest) -> None:
    """Make the last user message's content a list of parts: its text, then one ``image_url``
    part per image with a ``data:`` URL (Chat Completions "image input"); a prompt without a
    user message gets one."""
    parts = [{"type": "image_url", "image_url": {"url": image.data_url()}} for image in request.images]
    for message in reversed(messages):
        if message["role"] == "user":
            message["content"] = [{"type": "text", "text": message["content"]}, *parts]
            return
    messages.append({"role": "user", "content": [{"type": "text", "text": request.question}, *parts]})


def _chunk(payload: str | bytes, base_url: str) -> dict[str, Any]:
    """One JSON object of the server's answer.

    Raises:
        LLMResponseError: not JSON, or not an object.
    """
    try:
        chunk = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise LLMResponseError(
            f"the LLM server at {base_url} sent an unreadable answer: {str(payload)[:80]!r}"
        ) from exc
    if not isinstance(chunk, dict):
        raise LLMResponseError(f"the LLM server at {base_url} sent JSON that is not an object: {str(payload)[:80]!r}")
    return chunk


def _usage(reported: Any, base_url: str) -> Usage:
    try:
        return Usage(prompt_tokens=int(reported["prompt_tokens"]), completion_tokens=int(reported["completion_tokens"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise LLMResponseError(f"the LLM server at {base_url} sent unreadable token counts: {reported!r}") from exc


def _error_message(payload: Any) -> str:
    """The ``error.message`` of an OpenAI error object (``{"error": {"message": …}}``), else ''."""
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or "")
        if isinstance(error, str):
            return error
        if isinstance(payload.get("message"), str):
            return str(payload["message"])
    return ""


def _stream_error(chunk: dict[str, Any], base_url: str) -> LLMResponseError:
    message = _error_message(chunk) or "no message"
    return LLMResponseError(f"the LLM server at {base_url} sent an error: {message}")


def _status_error(response: httpx.Response) -> LLMStatusError:
    try:
        message = _error_message(orjson.loads(response.content))
    except orjson.JSONDecodeError:
        message = response.text[:200]
    return LLMStatusError(
        f"the LLM server answered HTTP {response.status_code}: {message}".rstrip(": "),
        status_code=response.status_code,
        retry_after_s=parse_retry_after(response.headers.get("retry-after")),
    )
