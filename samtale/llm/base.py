"""The one streaming interface every LLM provider implements, its errors, and retries.

A provider turns a :class:`GenerationRequest` into a stream of :class:`TextDelta` items followed
by one :class:`Usage` (DESIGN section 10). The conversation pipeline measures TTFT on the first
``TextDelta`` and stores the ``Usage``.

Exception tree (all category ``llm``)::

    ServiceError
    └── LLMError                 the provider failed; not retried unless a subclass says so
        ├── LLMConnectionError   network failure or timeout               (retryable)
        ├── LLMStatusError       the provider answered with an HTTP error  (429 and 5xx retryable)
        └── LLMResponseError     the provider's answer cannot be understood

Retries (:func:`stream_with_retries`) use exponential backoff and happen only before the first
item of a stream has been yielded: once a shopper has seen a token, a failure is reported, never
papered over by a second, different answer.
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential

from samtale.errors import ErrorCategory, ServiceError
from samtale.llm.context import ContextChunk

Role = Literal["system", "user", "assistant"]
Language = Literal["en", "da"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of a chat prompt: ``role`` is ``system``, ``user`` or ``assistant``."""

    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image sent with the shopper's (last user) message to a vision-capable model.

    Attributes:
        data: the image's bytes (normalised JPEG or PNG, ``samtale.images.normalise``).
        mime: its type, ``image/jpeg`` or ``image/png``.
        name: a display name (Flowise's ``uploads[].name``).
    """

    data: bytes
    mime: str
    name: str = "image"

    def data_url(self) -> str:
        """The image as a base64 ``data:`` URL (RFC 2397): OpenAI's ``image_url``, Flowise's ``uploads``."""
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """Everything a provider needs to answer one turn.

    Attributes:
        messages: the already-rendered prompt: system prompt, conversation history and the
            shopper's message last (as the prompt template produced them).
        question: the shopper's raw message, as typed.
        language: the chatbot's language (``en`` or ``da``); the offline answerer replies in it.
        context: the retrieved knowledge chunks, best first.
        order: a verified, normalised order summary (see :mod:`samtale.llm.offline` for the keys
            it reads), or None when the turn is not about an order.
        model: the model name to ask for; None means the provider's configured model.
        temperature: sampling temperature; None means the provider's default.
        max_tokens: upper bound on the reply length in tokens; None means the provider's default.
        response_format: an OpenAI ``response_format`` object (e.g. ``{"type": "json_schema",
            "json_schema": {...}}``) asking for structured output, or None for free text.
        chatbot_name: the chatbot's display name, for providers that mention it.
        images: images sent with the last user message (a vision request); the offline
            answerer ignores them.
    """

    messages: list[ChatMessage]
    question: str
    language: Language = "en"
    context: Sequence[ContextChunk] = ()
    order: Mapping[str, Any] | None = None
    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    response_format: dict[str, Any] | None = None
    chatbot_name: str | None = None
    images: Sequence[ImagePart] = ()


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the reply text, in order; concatenating every delta gives the whole reply."""

    text: str


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one generation.

    Attributes:
        prompt_tokens: tokens of the prompt, as the provider counted them.
        completion_tokens: tokens of the reply.
        estimated: True when the provider reported no counts and these were estimated by
            counting whitespace-separated words (Flowise, the offline answerer, an
            OpenAI-compatible server that ignores ``stream_options.include_usage``).
    """

    prompt_tokens: int
    completion_tokens: int
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


StreamItem = TextDelta | Usage


@dataclass(frozen=True, slots=True)
class Completion:
    """A whole (non-streamed) answer: its text, token usage and the model that produced it."""

    text: str
    usage: Usage
    model: str | None = None


@runtime_checkable
class LLMProvider(Protocol):
    """What every provider offers: a streamed answer and a whole one.

    ``stream`` yields :class:`TextDelta` items in order and then one :class:`Usage`; it raises
    :class:`LLMError` subclasses. ``complete`` returns the whole answer at once (used by the
    routing classifier and by structured output such as the template builder's JSON).
    """

    name: str

    def stream(self, request: GenerationRequest) -> AsyncIterator[StreamItem]:
        """Stream the answer to ``request``."""
        ...

    async def complete(self, request: GenerationRequest) -> Completion:
        """Return the whole answer to ``request``."""
        ...


class LLMError(ServiceError):
    """The LLM provider failed to answer (category ``llm``); not retryable unless a subclass says so."""

    code = "llm_error"
    category = ErrorCategory.LLM
    retryable: bool = False


class LLMConnectionError(LLMError):
    """The provider could not be reached, dropped the connection, or timed out (retryable)."""

    code = "llm_unreachable"
    retryable = True


class LLMStatusError(LLMError):
    """The provider answered with an HTTP error status.

    Args:
        message: what happened, without secrets.
        status_code: the HTTP status; 408, 409, 429 and 5xx are retryable, other 4xx are not
            (a bad request or a wrong key does not get better by asking again).
        retry_after_s: the server's ``Retry-After`` in seconds, when it sent one.
    """

    code = "llm_status"

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        retry_after_s: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, details={"status_code": status_code, **(details or {})})
        self.status_code = status_code
        self.retry_after_s = retry_after_s
        self.retryable = status_code in (408, 409, 429) or status_code >= 500


class LLMResponseError(LLMError):
    """The provider answered, but the answer cannot be parsed or reports an error."""

    code = "llm_bad_response"


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from an HTTP ``Retry-After`` header given as a number (RFC 9110 §10.2.3), else None."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


_PIECES = re.compile(r"\s*\S+|\s+$")


def word_pieces(text: str) -> list[str]:
    """Split ``text`` into word tokens that keep their leading whitespace (``"a b"`` → ``["a", " b"]``).

    Joining the pieces gives ``text`` back exactly.
    """
    return _PIECES.findall(text)


def count_words(*texts: str) -> int:
    """The number of whitespace-separated words in ``texts`` (our token estimate)."""
    return sum(len(text.split()) for text in texts)


@dataclass(slots=True)
class RetryStats:
    """What :func:`stream_with_retries` did, for the turn's metrics.

    Attributes:
        attempts: calls made to the provider (1 when the first one succeeded).
        errors: the error of each failed attempt, in order.
    """

    attempts: int = 0
    errors: list[LLMError] = field(default_factory=list)

    @property
    def retries(self) -> int:
        """Attempts beyond the first."""
        return max(0, self.attempts - 1)


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, LLMError) and exc.retryable


class _BackoffWithRetryAfter:
    """Exponential backoff (``base_delay_s`` × 2^n, capped) that waits at least a 429's Retry-After."""

    def __init__(self, *, base_delay_s: float, max_delay_s: float) -> None:
        self._exponential = wait_exponential(multiplier=base_delay_s, min=0, max=max_delay_s)
        self._max_delay_s = max_delay_s

    def __call__(self, retry_state: RetryCallState) -> float:
        delay = float(self._exponential(retry_state))
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, LLMStatusError) and exc.retry_after_s is not None:
            delay = max(delay, min(exc.retry_after_s, self._max_delay_s))
        return delay


async def stream_with_retries(
    provider: LLMProvider,
    request: GenerationRequest,
    *,
    attempts: int,
    base_delay_s: float,
    max_delay_s: float = 8.0,
    stats: RetryStats | None = None,
    on_retry: Callable[[int, LLMError], None] | None = None,
) -> AsyncIterator[StreamItem]:
    """Stream ``provider``'s answer, retrying failures that happen before the first item.

    Args:
        provider: the provider to call.
        request: the generation request (sent unchanged on every attempt).
        attempts: the most calls to make in all (1 = no retry); at least 1. The process setting
            ``llm_retries`` counts retries, so pass ``llm_retries + 1``.
        base_delay_s: the first backoff delay in seconds; it doubles per retry (tenacity's
            ``wait_exponential``), capped at ``max_delay_s``. A 429's ``Retry-After`` is honoured
            up to that cap.
        stats: filled in as attempts are made (attempt count and errors), so the caller can
            record retries even when the stream finally fails.
        on_retry: called with (attempt number that failed, its error) before each backoff.

    Yields:
        The provider's items, unchanged.

    Raises:
        LLMError: the last error when every attempt failed before the first item, a
            non-retryable error at once, or any error after the first item (never retried).
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    record = stats if stats is not None else RetryStats()

    def before_sleep(retry_state: RetryCallState) -> None:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if on_retry is not None and isinstance(exc, LLMError):
            on_retry(retry_state.attempt_number, exc)

    retrying = AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=_BackoffWithRetryAfter(base_delay_s=base_delay_s, max_delay_s=max_delay_s),
        retry=retry_if_exception(_is_retryable),
        before_sleep=before_sleep,
        reraise=True,
    )
    iterator: AsyncIterator[StreamItem] | None = None
    first: StreamItem | None = None
    async for attempt in retrying:
        with attempt:
            record.attempts += 1
            iterator = provider.stream(request)
            try:
                first = await anext(iterator)
            except StopAsyncIteration:
                first = None
            except LLMError as exc:
                record.errors.append(exc)
                raise
    if iterator is None or first is None:
        return
    try:
        yield first
        async for item in iterator:
            yield item
    except LLMError as exc:
        record.errors.append(exc)
        raise
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()
