"""The events of one answer's stream: their names and the shape of each payload (DESIGN section 7).

Every event a turn emits is named by :class:`EventName` and carries one of the payload types
below as its ``data``. The payloads are ``TypedDict`` s: plain dicts at run time (a token event
costs no more than before, and the hub, the Redis mirror, the ``streaming_events`` rows and the
polling endpoint keep handling JSON objects), checked by mypy where they are built, and
described in OpenAPI through :data:`EVENT_PAYLOADS` (Pydantic reads ``TypedDict`` s).

Wire order of one turn: ``start``, ``image`` (the message's photo and its description, when it
has one), ``flow``, then ``order`` (a verified order) and/or
``sources`` (the chunks used), ``memory`` (the shopper's recalled memories, when the chatbot
enables ``memory`` and the shopper is verified), ``token`` … and finally ``end`` or ``error``;
nothing follows the terminal event.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import (
    Annotated,
    Any,
    NotRequired,  # Pydantic reads only typing_extensions' TypedDict on 3.11
)

from pydantic import BaseModel, WithJsonSchema
from typing_extensions import TypedDict

from samtale.orders.models import Order


class EventName(StrEnum):
    """The name of a stream event (the SSE ``event:`` field and the polling ``event`` key)."""

    START = "start"
    """The ids of the turn: :class:`StartData`."""
    FLOW = "flow"
    """The routing decision: :class:`FlowData`."""
    SOURCES = "sources"
    """The knowledge chunks the answer is grounded in: :class:`SourcesData`."""
    ORDER = "order"
    """The verified order shown to the shopper: :class:`OrderData`."""
    MEMORY = "memory"
    """The shopper's memories recalled into the prompt: :class:`MemoryData`."""
    IMAGE = "image"
    """The shopper's image as the answer knows it: :class:`ImageData`."""
    TOKEN = "token"
    """A piece of the answer's text: :class:`TokenData`."""
    END = "end"
    """The answer is complete: :class:`EndData`. Terminal."""
    ERROR = "error"
    """The answer failed or was stopped: :class:`ErrorData`. Terminal."""


TERMINAL_EVENTS = frozenset({EventName.END, EventName.ERROR})


class StartData(TypedDict):
    """``start``: the conversation, the stream and the chatbot of this turn."""

    session_id: str
    streaming_session_id: str
    chatbot_id: str


class FlowData(TypedDict):
    """``flow``: which flow answers and how it was chosen.

    ``confidence`` is 0..1; ``routing_ms`` is the router's time in milliseconds;
    ``speculative_hit`` says whether the retrieval started during routing was the decided
    flow's (None when none was started); ``fallback`` is present only when a failing strategy
    sent the message to ``main`` (e.g. ``timeout``).
    """

    flow_type: str
    route_key: str
    strategy: str
    confidence: float
    routing_ms: float
    speculative_hit: bool | None
    fallback: NotRequired[str]


class SourceData(TypedDict):
    """One chunk used for the answer; ``score`` is the fused retrieval score (0..1), ``snippet``
    the chunk's first 300 characters."""

    chunk_id: str
    document_id: str
    index: str
    title: str | None
    source: str | None
    score: float
    snippet: str


class FiltersData(TypedDict):
    """The metadata filters the question stated (``conditions`` by field, e.g.
    ``{"price": {"lte": 300}}``) and who chose them (``rules``, ``llm`` or ``request``)."""

    conditions: Mapping[str, Any]
    source: str


class SourcesData(TypedDict):
    """``sources``: the chunks, best first, and the filters used (absent when none applied)."""

    sources: list[SourceData]
    filters: NotRequired[FiltersData]


def _inlined_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s serialization JSON schema with its ``$defs`` inlined where they are referenced,
    so it can sit inside another schema (``WithJsonSchema`` carries no ``$defs``)."""
    schema = model.model_json_schema(mode="serialization")
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(value) for value in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


OrderSummary = Annotated[dict[str, Any], WithJsonSchema(_inlined_schema(Order))]
"""An :class:`~samtale.orders.models.Order` as JSON (never an email, phone number or address)."""


class OrderData(TypedDict):
    """``order``: the order the shopper proved is theirs (order number and a second factor)."""

    order: OrderSummary


class RecalledMemoryData(TypedDict):
    """One memory recalled into the prompt; ``score`` is its text relevance to the question
    (0 for an importance-5 memory recalled without a shared word)."""

    id: str
    question: str
    answer: str
    importance: int
    score: float


class MemoryData(TypedDict):
    """``memory``: the verified shopper's memories the answer may use, most relevant first;
    ``created``, the memory this message asked the chatbot to keep ("remember that …"), if any."""

    memories: list[RecalledMemoryData]
    created: NotRequired[RecalledMemoryData]


class ImageFactsData(TypedDict):
    """What the image's bytes say without a model: format (``jpeg`` | ``png``), pixels, bytes,
    ``orientation`` (``landscape`` | ``portrait`` | ``square``); ``frames`` and ``note`` for an
    animated upload (only its first frame is described)."""

    format: str
    width: int
    height: int
    bytes: int
    orientation: str
    frames: NotRequired[int]
    note: NotRequired[str]


class ImageData(TypedDict):
    """``image``: the message's stored image and its description. ``source`` is ``model`` (the
    vision model described it now), ``cache`` (the same image was described before) or ``none``
    (no vision model, or it failed: ``description`` is empty, nothing is invented; ``reason``
    says why)."""

    file_id: str
    description: str
    source: str
    facts: ImageFactsData
    reason: NotRequired[str]


class TokenData(TypedDict):
    """``token``: the next piece of the answer (after the chatbot's text substitutions)."""

    token: str


class UsageData(TypedDict):
    """Tokens of the turn as the provider counted them (the offline answerer counts pieces)."""

    prompt_tokens: int
    completion_tokens: int


class PublicMetrics(TypedDict, total=False):
    """The turn's timings in milliseconds, as the ``end`` event shows them (rounded to µs), and
    ``tokens_per_s``. A phase that did not run is absent."""

    config_ms: float
    image_ms: float
    routing_ms: float
    retrieval_ms: float
    prompt_ms: float
    llm_ttft_ms: float
    ttft_ms: float
    stream_ms: float
    total_ms: float
    tokens_per_s: float


class EndData(TypedDict):
    """``end``: usage, timings and the flow that answered."""

    usage: UsageData
    metrics: PublicMetrics
    flow_type: str


class ErrorData(TypedDict):
    """``error``: the failure's category (``llm``, ``order_api``, ``streaming``…), the operator's
    message, and the sentence shown to the shopper in the chatbot's language."""

    category: str
    message: str
    shopper_message: str


EventData = StartData | FlowData | SourcesData | OrderData | MemoryData | ImageData | TokenData | EndData | ErrorData
"""Any event's payload."""

EVENT_PAYLOADS: dict[EventName, type] = {
    EventName.START: StartData,
    EventName.FLOW: FlowData,
    EventName.SOURCES: SourcesData,
    EventName.ORDER: OrderData,
    EventName.MEMORY: MemoryData,
    EventName.IMAGE: ImageData,
    EventName.TOKEN: TokenData,
    EventName.END: EndData,
    EventName.ERROR: ErrorData,
}
"""The payload type of every event name (for OpenAPI and tests)."""
