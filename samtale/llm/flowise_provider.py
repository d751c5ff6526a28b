"""Flowise's Prediction API (``POST {base}/api/v1/prediction/{chatflowId}``), the seeds' LLM backend.

Request body (Flowise docs, "Prediction API")::

    {"question": "…", "streaming": true,
     "history": [{"role": "userMessage" | "apiMessage", "content": "…"}],
     "overrideConfig": {"systemMessagePrompt": "…", "temperature": 0.2, "maxTokens": 512, …}}

A streamed answer is SSE whose ``data:`` lines are JSON ``{"event": …, "data": …}`` with events
``start``, ``token``, ``metadata``, ``sourceDocuments``, ``usedTools``, ``error`` and ``end``
(Flowise's ``SSEStreamer``); a chatflow that cannot stream answers JSON ``{"text": …}`` even
when asked to stream, and that is accepted too. Flowise reports no token counts, so usage is
estimated by counting words.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson

from samtale.llm.base import (
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

_FLOWISE_ROLES = {"user": "userMessage", "assistant": "apiMessage"}


class FlowiseProvider:
    """Streams answers from one Flowise chatflow.

    Args:
        base_url: the Flowise server, e.g. ``http://127.0.0.1:3000``.
        chatflow_id: the chatflow to call.
        api_key: the chatflow's resolved API key (sent as ``Authorization: Bearer``), or None.
        http_client: the shared connection pool; None makes a private one.
        timeout_s: request timeout in seconds; None keeps ``http_client``'s timeout.
        override_config: extra ``overrideConfig`` fields sent with every request.
    """

    name = "flowise"

    def __init__(
        self,
        *,
        base_url: str,
        chatflow_id: str,
        api_key: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        timeout_s: float | None = None,
        override_config: dict[str, Any] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.chatflow_id = chatflow_id
        self.url = f"{self.base_url}/api/v1/prediction/{chatflow_id}"
        self._owns_client = http_client is None
        self._client = http_client if http_client is not None else httpx.AsyncClient()
        self._timeout: httpx.Timeout | None = httpx.Timeout(timeout_s) if timeout_s is not None else None
        self._headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self._override_config = dict(override_config or {})

    def body(self, request: GenerationRequest, *, streaming: bool) -> dict[str, Any]:
        """The Prediction API body for ``request``.

        The last user message is the ``question`` (it is what the prompt template rendered, so
        any context it carries reaches the chatflow); earlier user and assistant messages are
        the ``history``; system messages become ``overrideConfig.systemMessagePrompt``; images
        go as ``uploads`` (``{data: data URL, type: "file", name, mime}``, Flowise "Image Uploads").
        """
        messages = list(request.messages)
        last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=None)
        question = messages[last_user].content if last_user is not None else request.question
        history = [
            {"role": _FLOWISE_ROLES[m.role], "content": m.content}
            for i, m in enumerate(messages)
            if m.role in _FLOWISE_ROLES and i != last_user
        ]
        override: dict[str, Any] = dict(self._override_config)
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        if system:
            override["systemMessagePrompt"] = system
        if request.temperature is not None:
            override["temperature"] = request.temperature
        if request.max_tokens is not None:
            override["maxTokens"] = request.max_tokens
        if request.model is not None:
            override["modelName"] = request.model
        body: dict[str, Any] = {"question": question, "streaming": streaming, "history": history}
        if request.images:  # the Prediction API's image uploads: base64 data URLs
            body["uploads"] = [
                {"data": image.data_url(), "type": "file", "name": image.name, "mime": image.mime}
                for image in request.images
            ]
        if override:
            body["overrideConfig"] = override
        return body

    def _prompt_words(self, request: GenerationRequest) -> int:
        return count_words(*(message.content for message in request.messages))

    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamItem]:
        """Stream the chatflow's answer as :class:`TextDelta` items, then an estimated :class:`Usage`.

        Raises:
            LLMConnectionError: Flowise is unreachable, drops the stream or times out.
            LLMStatusError: Flowise answers with an HTTP error status.
            LLMResponseError: Flowise streams an ``error`` event or an unreadable line.
        """
        content = orjson.dumps(self.body(request, streaming=True))
        headers = {**self._headers, "content-type": "application/json", "accept": "text/event-stream"}
        completion_words = 0
        try:
            http_request = self._client.build_request(
                "POST", self.url, content=content, headers=headers, timeout=self._timeout or self._client.timeout
            )
            response = await self._client.send(http_request, stream=True)
            try:
                if response.status_code >= 400:
                    await response.aread()
                    raise _status_error(response)
                if response.headers.get("content-type", "").startswith("application/json"):
                    text = _text_of(await response.aread())
                    completion_words = count_words(text)
                    if text:
                        yield TextDelta(text)
                else:
                    async for line in response.aiter_lines():
                        if not line.startswith("data:"):
                            continue
                        event, data = _event_of(line[5:])
                        if event == "token" and isinstance(data, str) and data:
                            completion_words += count_words(data)
                            yield TextDelta(data)
                        elif event == "error":
                            raise LLMResponseError(f"Flowise chatflow {self.chatflow_id} reported an error: {data}")
            finally:
                # After a body read to its end (aiter_lines reads to EOF) this returns the
                # connection to the pool; after an early stop it closes the connection.
                await response.aclose()
        except httpx.TimeoutException as exc:
            raise LLMConnectionError(f"Flowise at {self.base_url} timed out ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise LLMConnectionError(f"Flowise at {self.base_url} could not be reached: {type(exc).__name__}") from exc
        yield Usage(prompt_tokens=self._prompt_words(request), completion_tokens=completion_words, estimated=True)

    async def complete(self, request: GenerationRequest) -> Completion:
        """Return the chatflow's whole answer (``{"text": …}``) with an estimated :class:`Usage`.

        Raises:
            LLMConnectionError, LLMStatusError: as :meth:`stream`.
            LLMResponseError: the answer is not JSON with a ``text`` string.
        """
        try:
            response = await self._client.post(
                self.url,
                content=orjson.dumps(self.body(request, streaming=False)),
                headers={**self._headers, "content-type": "application/json"},
                timeout=self._timeout or self._client.timeout,
            )
        except httpx.TimeoutException as exc:
            raise LLMConnectionError(f"Flowise at {self.base_url} timed out ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise LLMConnectionError(f"Flowise at {self.base_url} could not be reached: {type(exc).__name__}") from exc
        if response.status_code >= 400:
            raise _status_error(response)
        text = _text_of(response.content)
        usage = Usage(prompt_tokens=self._prompt_words(request), completion_tokens=count_words(text), estimated=True)
        return Completion(text=text, usage=usage, model=None)

    async def aclose(self) -> None:
        """Close the HTTP pool if this provider made it."""
        if self._owns_client:
            await self._client.aclose()


def _status_error(response: httpx.Response) -> LLMStatusError:
    message = ""
    try:
        payload = orjson.loads(response.content)
        if isinstance(payload, dict):
            message = str(payload.get("message") or "")
    except orjson.JSONDecodeError:
        message = response.text[:200]
    return LLMStatusError(
        f"Flowise answered HTTP {response.status_code}: {message}".rstrip(": "),
        status_code=response.status_code,
        retry_after_s=parse_retry_after(response.headers.get("retry-after")),
    )


def _event_of(raw: str) -> tuple[str, Any]:
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise LLMResponseError(f"Flowise streamed a line that is not JSON: {raw[:80]!r}") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("event"), str):
        raise LLMResponseError(f"Flowise streamed JSON without an event name: {raw[:80]!r}")
    return payload["event"], payload.get("data")


def _text_of(content: bytes) -> str:
    try:
        payload = orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise LLMResponseError("Flowise answered with something that is not JSON") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("text"), str):
        raise LLMResponseError("Flowise's answer has no `text`")
    return payload["text"]
