"""The turn as typed data: what it starts from, what it measures, what it leaves behind.

A turn's steps (:mod:`samtale.conversation.steps`) share one :class:`TurnContext`; each fills
its own fields (the routing step the flow, the order step the verified order, the retrieval
step the chunks, the answer step the text) and its own timings in :class:`TurnMetrics`, which
mirrors the ``conversation_processing_metrics`` table column for column, so a misspelt phase
is a type error, not a silently dropped key. :class:`TurnDependencies` is what the steps use
from outside the turn (retrieval, the LLM, the router, the order tracker).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from samtale.chatbots.schema import ChatbotConfig, FlowConfig
from samtale.conversation.events import PublicMetrics
from samtale.errors import ErrorCategory
from samtale.files.types import FileInfo
from samtale.images.describe import ImageDescriber, ImageDescription
from samtale.knowledge.retrieval import Retrieval, Retriever
from samtale.knowledge.types import ContextChunk
from samtale.llm.base import LLMProvider
from samtale.orders.trackers.base import Tracker
from samtale.routing.router import Router as FlowRouter
from samtale.security.rate_limits import RateLimiter
from samtale.streaming.hub import Stream

if TYPE_CHECKING:
    from samtale.conversation.recorder import TurnRecord
    from samtale.conversation.shoppers import OrderAttemptStore


ProviderFactory = Callable[[ChatbotConfig, FlowConfig], LLMProvider]
"""The LLM provider of a chatbot's flow."""
TrackerFactory = Callable[[ChatbotConfig, FlowConfig], Awaitable[Tracker | None]]
"""The order tracker of an ``apiflow`` flow's integration (None when it names none)."""
RouterFactory = Callable[[ChatbotConfig], Awaitable[FlowRouter | None]]
"""The chatbot's router (built once per routing config), or None when it routes everything to ``main``."""


@dataclass(frozen=True, slots=True)
class RecalledMemory:
    """A memory of the shopper recalled into a turn's prompt (``score``: text relevance, higher is better)."""

    id: str
    question: str
    answer: str
    importance: int
    score: float


class MemoryRecaller(Protocol):
    """Finds a shopper's memories relevant to a question, and stores a new one
    (``samtale.conversation.search.memories``)."""

    def __call__(
        self, *, chatbot_id: str, language: str, user_id: str, question: str, top_k: int
    ) -> Awaitable[list[RecalledMemory]]:
        """At most ``top_k`` of the shopper's memories, most relevant first."""
        ...

    def remember(self, *, chatbot_id: str, language: str, user_id: str, memory: NewMemory) -> Awaitable[RecalledMemory]:
        """Store ``memory`` for the shopper (the shopper asked the chatbot to remember it)."""
        ...


@dataclass(frozen=True, slots=True)
class NewMemory:
    """A memory a turn creates: question, answer, tags, importance 1–5 (seed 003)."""

    question: str
    answer: str
    tags: tuple[str, ...] = ()
    importance: int = 3


@dataclass(frozen=True, slots=True)
class TurnImage:
    """The stored image a message carries (``samtale.images.service``): its ``files`` row, and the
    upload's frame count (more than 1: an animated image, described by its first frame)."""

    file: FileInfo
    frames: int = 1


@dataclass(slots=True)
class TurnInput:
    """What a turn starts from. Times are ``time.perf_counter()`` seconds; ``config_ms`` is
    the time it took to load the chatbot's config, in milliseconds. ``token_hash`` is the
    SHA-256 of the stream's session token; ``verified`` says the shopper's ``user_hash`` verified;
    ``image`` is the message's photo, if it has one (``question`` may then be empty)."""

    chatbot: ChatbotConfig
    user_id: str
    session_id: str
    question: str
    history: list[tuple[str, str]]
    state: dict[str, Any]
    received_at: float
    config_ms: float
    started_at: datetime
    token_hash: str
    verified: bool = False
    client_address: str | None = None
    image: TurnImage | None = None


@dataclass(slots=True)
class TurnHandle:
    """What the caller of ``ConversationService.start_turn`` gets back. ``session_token``
    reads the turn's stream; it is the conversation's own token unless the turn was authorised
    by a verified ``user_hash`` without it (then it is a token for this answer's stream only)."""

    session_id: str
    stream: Stream
    session_token: str
    flow_type: str


@dataclass(slots=True)
class TurnMetrics:
    """One row of ``conversation_processing_metrics``, minus the ids and ``created_at`` the
    recorder adds (a test keeps the two in step). Times in milliseconds; None means the phase
    did not happen (no first token, nothing streamed)."""

    flow_type: str = "main"
    route_key: str | None = None
    routing_strategy: str | None = None
    speculative_hit: bool | None = None
    provider: str = "none"
    model: str | None = None
    status: str = "ok"
    error_category: str | None = None
    config_ms: float = 0.0
    image_ms: float | None = None
    routing_ms: float = 0.0
    retrieval_ms: float = 0.0
    order_ms: float = 0.0
    prompt_ms: float = 0.0
    llm_ttft_ms: float | None = None
    stream_ms: float | None = None
    persist_ms: float | None = None
    ttft_ms: float | None = None
    total_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens_per_s: float | None = None

    def row(self) -> dict[str, Any]:
        """The metrics as column values (``{column: value}``) for the recorder's insert."""
        return {name: getattr(self, name) for name in METRIC_FIELDS}

    def public(self) -> PublicMetrics:
        """The timings the ``end`` event shows: each ``*_ms`` rounded to µs, ``tokens_per_s`` to
        0.1, a phase that did not run left out; ``order_ms`` and ``persist_ms`` stay internal."""
        public: PublicMetrics = {"config_ms": round(self.config_ms, 3), "routing_ms": round(self.routing_ms, 3)}
        if self.image_ms is not None:
            public["image_ms"] = round(self.image_ms, 3)
        public["retrieval_ms"] = round(self.retrieval_ms, 3)
        public["prompt_ms"] = round(self.prompt_ms, 3)
        if self.llm_ttft_ms is not None:
            public["llm_ttft_ms"] = round(self.llm_ttft_ms, 3)
        if self.ttft_ms is not None:
            public["ttft_ms"] = round(self.ttft_ms, 3)
        if self.stream_ms is not None:
            public["stream_ms"] = round(self.stream_ms, 3)
        public["total_ms"] = round(self.total_ms, 3)
        if self.tokens_per_s is not None:
            public["tokens_per_s"] = round(self.tokens_per_s, 1)
        return public


METRIC_FIELDS = tuple(item.name for item in dataclasses.fields(TurnMetrics))
"""The columns :class:`TurnMetrics` fills, in declaration order."""


@dataclass(frozen=True, slots=True)
class TurnError:
    """Why a turn failed: its category, the operator's message (for the error log and the
    ``error`` event's ``message``) and the sentence the shopper was shown, in their language."""

    category: ErrorCategory
    message: str
    shopper_message: str


@dataclass(slots=True)
class TurnContext:
    """The state one turn's steps share, from the ``start`` event to the recorder.

    ``answer_parts`` is the streamed text piece by piece (after substitutions); ``context`` the
    chunks the answer is grounded in; ``order`` the verified order as JSON; ``memories`` the
    shopper's recalled memories; ``image`` the description of the message's photo;
    ``answered`` is set by a step that streamed the whole answer itself (a fixed order reply),
    so later steps skip.
    ``routed`` resolves with the decided flow type for the process-message response.
    """

    turn: TurnInput
    stream: Stream
    flow: FlowConfig
    state: dict[str, Any]
    metrics: TurnMetrics
    routed: asyncio.Future[str] | None = None
    query_vector: Any = None
    retrieval: asyncio.Task[Retrieval] | None = None
    order: dict[str, Any] | None = None
    context: list[ContextChunk] = field(default_factory=list)
    memories: list[RecalledMemory] = field(default_factory=list)
    image: ImageDescription | None = None
    answer_parts: list[str] = field(default_factory=list)
    answered: bool = False
    status: str = "completed"
    error: TurnError | None = None

    @classmethod
    def begin(cls, turn: TurnInput, stream: Stream, routed: asyncio.Future[str] | None = None) -> TurnContext:
        """The context of a turn that has not been routed yet (its flow is ``main`` until then)."""
        flow = turn.chatbot.main_flow
        return cls(
            turn=turn,
            stream=stream,
            flow=flow,
            state=dict(turn.state),
            metrics=TurnMetrics(flow_type=flow.type, config_ms=turn.config_ms),
            routed=routed,
        )

    @property
    def chatbot(self) -> ChatbotConfig:
        """The turn's chatbot."""
        return self.turn.chatbot

    @property
    def search_text(self) -> str:
        """What routing and retrieval search with: the question, and the image's description
        when there is one (a photo of a wine label finds that wine)."""
        if self.image is None or not self.image.description:
            return self.turn.question
        return f"{self.turn.question}\n{self.image.description}".strip()

    def announce_flow(self) -> None:
        """Resolve ``routed`` with the flow type decided so far (idempotent)."""
        if self.routed is not None and not self.routed.done():
            self.routed.set_result(self.flow.type)


@dataclass(frozen=True, slots=True)
class TurnDependencies:
    """What a turn uses from outside itself.

    Args:
        provider_factory: the LLM provider of a chatbot's flow.
        submit: hands the finished turn to the recorder (never blocks).
        retriever: knowledge retrieval (hybrid search over the chatbot's indexes), or None for a
            deployment without knowledge bases.
        router_factory: the chatbot's router; None sends every message to ``main``.
        tracker_factory: the order tracker of an ``apiflow`` flow's integration.
        llm_retries: retries of the LLM call before its first token (seed 002: 2).
        max_failed_order_attempts: failed order look-ups before the order flow locks (default 5).
        order_attempts: the shoppers' failed order look-ups in the store (counted per chatbot
            and shopper across conversations); None keeps the count in the conversation's state.
        memories: recalls a verified shopper's memories for a chatbot with ``memory.enabled``;
            None recalls nothing.
        rate_limiter: counts failed order look-ups per client address across conversations and
            shoppers (the chatbot's ``rate_limits.order_lookup_failures``); None: per shopper only.
        images: describes a message's image with the chatbot's vision model; None: a turn with
            an image says it cannot look at it.
    """

    provider_factory: ProviderFactory
    submit: Callable[[TurnRecord], None]
    retriever: Retriever | None = None
    router_factory: RouterFactory | None = None
    tracker_factory: TrackerFactory | None = None
    llm_retries: int = 2
    max_failed_order_attempts: int = 5
    order_attempts: OrderAttemptStore | None = None
    memories: MemoryRecaller | None = None
    rate_limiter: RateLimiter | None = None
    images: ImageDescriber | None = None


@dataclass(slots=True)
class TurnResult:
    """What a turn produced, for the conversation's history cache, and the record handed to the recorder."""

    answer: str
    status: str
    flow_type: str
    state: dict[str, Any] = field(default_factory=dict)
    record: TurnRecord | None = None
