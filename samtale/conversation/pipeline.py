"""One turn, from the shopper's message to the ``end`` event: route, retrieve, prompt, stream.

:func:`run_turn` runs as its own task, independent of any client connection: the answer is
completed and recorded whether or not anyone is listening, and a reader that comes back
resumes from its last event id. Every phase is timed (milliseconds) into the metrics row.

Routing runs first and in parallel with the likely flow's retrieval
(:func:`samtale.routing.speculative.route_speculatively`): the retrieval of the guessed flow
starts while the router is still deciding and is cancelled when the decision differs. The
query embedding is computed once per turn and shared by the router and every retrieval. The
caller learns the decided flow type through the ``routed`` future as soon as it is known (the
process-message response carries it).

Events, in order: ``start`` (ids), ``flow`` (the routing decision), ``sources`` (chunks used),
``token``… (``{"token": "…"}``), then ``end`` (usage and timings) or ``error``
(``{category, message}``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from samtale.chatbots.schema import ChatbotConfig, FlowConfig
from samtale.conversation.prompts import build_messages
from samtale.conversation.recorder import TurnRecord
from samtale.errors import ErrorCategory, SamtaleError
from samtale.knowledge.question_filters import FilterMode, LLMFilterExtractor
from samtale.knowledge.retrieval import Retrieval
from samtale.knowledge.types import ContextChunk
from samtale.llm.base import GenerationRequest, LLMProvider, TextDelta, Usage, stream_with_retries, word_pieces
from samtale.orders.flow import handle_order_turn
from samtale.orders.trackers.base import Tracker
from samtale.routing.router import Router as FlowRouter
from samtale.routing.speculative import QueryVector, route_speculatively
from samtale.streaming.hub import Stream

logger = logging.getLogger(__name__)

FAILURE_MESSAGES = {
    "en": {
        ErrorCategory.LLM: "Sorry, our assistant is not answering right now. Please try again in a moment.",
        ErrorCategory.TEMPLATE: "Sorry, this chatbot is misconfigured right now. The shop has been notified.",
        ErrorCategory.VECTOR_STORE: "Sorry, I cannot search the shop's information right now. Please try again.",
        ErrorCategory.ORDER_API: "Sorry, the order system is not answering right now. Please try again later.",
    },
    "da": {
        ErrorCategory.LLM: "Beklager, vores assistent svarer ikke lige nu. Prøv igen om et øjeblik.",
        ErrorCategory.TEMPLATE: "Beklager, denne chatbot er fejlkonfigureret lige nu. Butikken er underrettet.",
        ErrorCategory.VECTOR_STORE: "Beklager, jeg kan ikke søge i butikkens oplysninger lige nu. Prøv igen.",
        ErrorCategory.ORDER_API: "Beklager, ordresystemet svarer ikke lige nu. Prøv igen senere.",
    },
}
GENERIC_FAILURE = {
    "en": "Sorry, something went wrong while answering. Please try again.",
    "da": "Beklager, noget gik galt under svaret. Prøv igen.",
}


class TurnStoppedError(SamtaleError):
    """The client asked to stop this answer (``POST /api/stream/{id}/stop``)."""

    code = "stopped"
    category = ErrorCategory.STREAMING


class OrderSystemUnavailableError(SamtaleError):
    """The shop's order API failed or none is configured; the message is the shopper's reply."""

    code = "order_api_unavailable"
    category = ErrorCategory.ORDER_API


class Retriever(Protocol):
    """Knowledge retrieval as the pipeline uses it (``samtale.knowledge.retrieval.Retriever``)."""

    async def retrieve(
        self,
        *,
        chatbot_id: str,
        index_name: str,
        query: str,
        top_k: int,
        min_score: float | None = None,
        query_vector: Any = None,
        filter_mode: FilterMode = "rules",
        extractor: LLMFilterExtractor | None = None,
    ) -> Retrieval:
        """The best ``top_k`` chunks of an index for ``query`` (``query_vector``: its embedding, if
        known), searched with the filters the question states (``filter_mode``)."""
        ...


ProviderFactory = Callable[[ChatbotConfig, FlowConfig], LLMProvider]
TrackerFactory = Callable[[ChatbotConfig, FlowConfig], Awaitable[Tracker | None]]


@dataclass(slots=True)
class RoutingOutcome:
    """The flow chosen for a turn and how (the ``flow`` SSE event; ``fallback`` is the reason a
    failed strategy sent the message to ``main``, e.g. ``timeout``)."""

    route_key: str = "main"
    strategy: str = "none"
    confidence: float = 1.0
    routing_ms: float = 0.0
    speculative_hit: bool | None = None
    query_vector: Any = None
    fallback: str | None = None


RouterFactory = Callable[[ChatbotConfig], Awaitable[FlowRouter | None]]
"""The chatbot's router (built once per routing config), or None when it routes everything to ``main``."""


@dataclass(slots=True)
class TurnInput:
    """What a turn starts from. Times are ``time.perf_counter()`` seconds."""

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


@dataclass(slots=True)
class TurnResult:
    """What a turn produced, for the session cache and the recorder."""

    answer: str
    status: str
    flow_type: str
    state: dict[str, Any] = field(default_factory=dict)


async def run_turn(
    *,
    turn: TurnInput,
    stream: Stream,
    retriever: Retriever | None,
    provider_factory: ProviderFactory,
    router: RouterFactory | None,
    llm_retries: int,
    submit: Callable[[TurnRecord], None],
    tracker_factory: TrackerFactory | None = None,
    max_failed_order_attempts: int = 5,
    routed: asyncio.Future[str] | None = None,
) -> TurnResult:
    """Produce one answer into ``stream`` and hand the finished turn to ``submit`` (the recorder).

    Never raises for a failure of a phase: the failure becomes an ``error`` event with its
    category, the shopper is told what happened in their language, and the assistant message
    is stored as failed.

    Args:
        routed: resolved with the decided flow type right after the ``flow`` event (or with
            ``main`` when the turn fails before a decision), for the process-message response.
    """
    chatbot = turn.chatbot
    metrics: dict[str, Any] = {
        "config_ms": turn.config_ms,
        "routing_ms": 0.0,
        "retrieval_ms": 0.0,
        "order_ms": 0.0,
        "prompt_ms": 0.0,
        "status": "ok",
        "provider": "none",
    }
    answer_parts: list[str] = []
    context: list[ContextChunk] = []
    flow = chatbot.main_flow
    state = dict(turn.state)
    status = "completed"
    retrieval: asyncio.Task[Retrieval] | None = None
    try:
        # Routing: which flow answers, while the likely flow's retrieval already runs.
        outcome = RoutingOutcome()
        flow_router = await router(chatbot) if router is not None else None
        if flow_router is not None:
            routed_turn = await route_speculatively(
                router=flow_router,
                message=turn.question,
                history=turn.history,
                last_route_key=state.get("last_route_key"),
                start_work=lambda route_key, query_vector: _start_retrieval(
                    turn=turn,
                    route_key=route_key,
                    retriever=retriever,
                    query_vector=query_vector,
                    provider_factory=provider_factory,
                ),
            )
            decision = routed_turn.decision
            retrieval = routed_turn.work
            outcome = RoutingOutcome(
                route_key=decision.route_key,
                strategy=decision.strategy,
                confidence=decision.confidence,
                routing_ms=decision.routing_ms,
                speculative_hit=routed_turn.speculative_hit,
                query_vector=decision.query_vector,
                fallback=decision.detail.get("fallback"),
            )
            if outcome.fallback is not None:
                logger.warning(
                    "routing in chatbot %s fell back to main (%s: %s)", chatbot.id, outcome.strategy, outcome.fallback
                )
        flow = chatbot.flow(outcome.route_key)
        metrics.update(
            routing_ms=outcome.routing_ms,
            route_key=flow.key,
            routing_strategy=outcome.strategy,
            speculative_hit=outcome.speculative_hit,
            flow_type=flow.type,
        )
        state["last_route_key"] = flow.key
        stream.flow_type = flow.type
        flow_event: dict[str, Any] = {
            "flow_type": flow.type,
            "route_key": flow.key,
            "strategy": outcome.strategy,
            "confidence": round(outcome.confidence, 4),
            "routing_ms": round(outcome.routing_ms, 3),
            "speculative_hit": outcome.speculative_hit,
        }
        if outcome.fallback is not None:
            flow_event["fallback"] = outcome.fallback
        stream.emit("flow", flow_event)
        if routed is not None and not routed.done():
            routed.set_result(flow.type)

        order_summary, fixed_reply = await _order_step(
            turn=turn,
            flow=flow,
            state=state,
            metrics=metrics,
            tracker_factory=tracker_factory,
            max_failed_attempts=max_failed_order_attempts,
            provider_factory=provider_factory,
        )
        if order_summary is not None:
            stream.emit("order", {"order": order_summary})
        if fixed_reply is not None:
            _stream_fixed_reply(stream, fixed_reply, answer_parts, metrics, turn, flow.type)
        else:
            await _grounded_answer(
                turn=turn,
                stream=stream,
                flow=flow,
                order_summary=order_summary,
                query_vector=outcome.query_vector,
                retrieval=retrieval,
                retriever=retriever,
                provider_factory=provider_factory,
                llm_retries=llm_retries,
                metrics=metrics,
                answer_parts=answer_parts,
                context=context,
            )
    except OrderSystemUnavailableError as exc:
        status = "failed"
        _fail(stream, metrics, turn, exc.category, exc.message, answer_parts, shopper_message=exc.message)
    except SamtaleError as exc:
        status = "failed"
        _fail(stream, metrics, turn, exc.category, exc.message, answer_parts)
    except Exception as exc:
        status = "failed"
        logger.exception("turn failed in chatbot %s", chatbot.id)
        _fail(stream, metrics, turn, ErrorCategory.STREAMING, f"internal error ({type(exc).__name__})", answer_parts)
    finally:
        if retrieval is not None and not retrieval.done():
            retrieval.cancel()  # a fixed reply or a failure: the early retrieval is not needed
        if routed is not None and not routed.done():
            routed.set_result(flow.type)

    return _finish(
        turn=turn,
        stream=stream,
        flow=flow,
        state=state,
        metrics=metrics,
        answer_parts=answer_parts,
        context=context,
        status=status,
        submit=submit,
    )


def _start_retrieval(
    *,
    turn: TurnInput,
    route_key: str,
    retriever: Retriever | None,
    query_vector: QueryVector,
    provider_factory: ProviderFactory | None,
) -> asyncio.Task[Retrieval] | None:
    """Start the knowledge retrieval of flow ``route_key`` (None when it has no knowledge index).

    The task awaits the turn's shared query embedding (``query_vector``), then searches.
    """
    flow = turn.chatbot.flow(route_key)
    if retriever is None or not flow.knowledge_index:
        return None

    async def retrieve() -> Retrieval:
        return await _retrieve(
            turn=turn,
            flow=flow,
            retriever=retriever,
            query_vector=await query_vector(),
            provider_factory=provider_factory,
        )

    task = asyncio.create_task(retrieve(), name=f"samtale-retrieval-{route_key}")
    task.add_done_callback(lambda done: done.cancelled() or done.exception())
    return task


async def _retrieve(
    *,
    turn: TurnInput,
    flow: FlowConfig,
    retriever: Retriever,
    query_vector: Any,
    provider_factory: ProviderFactory | None,
) -> Retrieval:
    """Search the flow's knowledge index with the filters the question states (flow ``filters``:
    rules, or the flow's LLM when the rules find none; see ``samtale.knowledge.question_filters``)."""
    assert flow.knowledge_index is not None
    extractor = (
        LLMFilterExtractor(provider=provider_factory(turn.chatbot, flow))
        if flow.filters == "llm" and provider_factory is not None
        else None
    )
    return await retriever.retrieve(
        chatbot_id=turn.chatbot.id,
        index_name=flow.knowledge_index,
        query=turn.question,
        top_k=flow.top_k,
        min_score=flow.min_score,
        query_vector=query_vector,
        filter_mode=flow.filters,
        extractor=extractor,
    )


async def _order_step(
    *,
    turn: TurnInput,
    flow: FlowConfig,
    state: dict[str, Any],
    metrics: dict[str, Any],
    tracker_factory: TrackerFactory | None,
    max_failed_attempts: int,
    provider_factory: ProviderFactory | None = None,
) -> tuple[dict[str, Any] | None, str | None]:
    """The order flow (DESIGN section 11) for an ``apiflow`` turn: extract, verify, look up.

    Returns ``(order summary, None)`` for a verified order, ``(None, reply)`` when the shopper
    gets a fixed reply (a question, not-found, lockout), ``(None, None)`` for other flows.
    The flow's ``orders:`` block sets the lockout limit and, with ``llm_extraction``, lets
    the flow's LLM fill the order variables the rules missed.

    Raises:
        OrderSystemUnavailableError: the shop's order API failed or none is configured.
    """
    if flow.type != "apiflow":
        return None, None
    phase = time.perf_counter()
    tracker = await tracker_factory(turn.chatbot, flow) if tracker_factory is not None else None
    result = await handle_order_turn(
        message=turn.question,
        history=turn.history,
        state=dict(state.get("order", {})),
        tracker=tracker,
        language=turn.chatbot.language,
        max_failed_attempts=max_failed_attempts,
        settings=flow.orders,
        llm=(
            provider_factory(turn.chatbot, flow)
            if flow.orders is not None and flow.orders.llm_extraction and provider_factory is not None
            else None
        ),
    )
    metrics["order_ms"] = (time.perf_counter() - phase) * 1000.0
    state["order"] = result.state
    if result.kind == "unavailable":
        raise OrderSystemUnavailableError(result.reply)
    if result.kind != "order":
        return None, result.reply
    return result.summary, None


async def _grounded_answer(
    *,
    turn: TurnInput,
    stream: Stream,
    flow: FlowConfig,
    order_summary: dict[str, Any] | None,
    query_vector: Any,
    retrieval: asyncio.Task[Retrieval] | None,
    retriever: Retriever | None,
    provider_factory: ProviderFactory,
    llm_retries: int,
    metrics: dict[str, Any],
    answer_parts: list[str],
    context: list[ContextChunk],
) -> None:
    """Retrieve from the flow's knowledge base, build the prompt and stream the LLM's answer.

    ``retrieval``, when given, is this flow's retrieval already started during routing; the
    recorded ``retrieval_ms`` is then the time the turn still had to wait for it. Fills
    ``context`` and ``answer_parts`` in place and ends the stream with ``end``.

    Raises:
        SamtaleError: a phase failed (LLM, template, vector store…); the caller reports it.
    """
    chatbot = turn.chatbot
    # Retrieval from the flow's knowledge base (reusing the router's query embedding, if any).
    phase = time.perf_counter()
    found: Retrieval | None = None
    if retrieval is not None:
        found = await retrieval
    elif retriever is not None and flow.knowledge_index:
        found = await _retrieve(
            turn=turn, flow=flow, retriever=retriever, query_vector=query_vector, provider_factory=provider_factory
        )
    metrics["retrieval_ms"] = (time.perf_counter() - phase) * 1000.0
    sources_event: dict[str, Any] = {"sources": []}
    if found is not None:
        context.extend(found.chunks)
        sources_event["sources"] = [_source_json(chunk) for chunk in context]
        if found.filters is not None:
            sources_event["filters"] = {"conditions": found.filters.filters, "source": found.filters.source}
            if found.filters.error:
                logger.warning("LLM filters failed in chatbot %s: %s", chatbot.id, found.filters.error)
    stream.emit("sources", sources_event)

    # Prompt.
    phase = time.perf_counter()
    messages = build_messages(
        chatbot=chatbot,
        flow=flow,
        question=turn.question,
        history=turn.history,
        context=context,
        order=order_summary,
    )
    llm = chatbot.llm.merged(flow.llm)
    request = GenerationRequest(
        messages=messages,
        question=turn.question,
        language=chatbot.language,
        context=context,
        order=order_summary,
        model=llm.model,
        temperature=llm.temperature,
        max_tokens=llm.max_tokens,
        chatbot_name=chatbot.name,
    )
    provider = provider_factory(chatbot, flow)
    metrics["provider"] = provider.name
    metrics["model"] = llm.model if provider.name != "offline" else None
    metrics["prompt_ms"] = (time.perf_counter() - phase) * 1000.0

    # Generation.
    llm_started = time.perf_counter()
    first_token_at: float | None = None
    usage: Usage | None = None
    async for item in stream_with_retries(provider, request, attempts=llm_retries + 1, base_delay_s=0.25):
        if stream.stop_requested:
            raise TurnStoppedError("the answer was stopped on request")
        if isinstance(item, TextDelta):
            if not item.text:
                continue
            text = _substitute(item.text, chatbot.substitutions)
            if first_token_at is None:
                first_token_at = time.perf_counter()
                metrics["llm_ttft_ms"] = (first_token_at - llm_started) * 1000.0
                metrics["ttft_ms"] = (first_token_at - turn.received_at) * 1000.0
            answer_parts.append(text)
            stream.emit("token", {"token": text})
        elif isinstance(item, Usage):
            usage = item
    finished = time.perf_counter()
    completion_tokens = usage.completion_tokens if usage else len(answer_parts)
    stream_s = finished - first_token_at if first_token_at is not None else 0.0
    metrics.update(
        prompt_tokens=usage.prompt_tokens if usage else 0,
        completion_tokens=completion_tokens,
        stream_ms=stream_s * 1000.0 if first_token_at is not None else None,
        tokens_per_s=(completion_tokens / stream_s) if stream_s > 0 else None,
        total_ms=(finished - turn.received_at) * 1000.0,
    )
    stream.emit(
        "end",
        {
            "usage": {"prompt_tokens": metrics["prompt_tokens"], "completion_tokens": completion_tokens},
            "metrics": _public_metrics(metrics),
            "flow_type": flow.type,
        },
    )


def _finish(
    *,
    turn: TurnInput,
    stream: Stream,
    flow: FlowConfig,
    state: dict[str, Any],
    metrics: dict[str, Any],
    answer_parts: list[str],
    context: list[ContextChunk],
    status: str,
    submit: Callable[[TurnRecord], None],
) -> TurnResult:
    answer = "".join(answer_parts)
    metrics.setdefault("flow_type", flow.type)
    submit(
        TurnRecord(
            chatbot_id=turn.chatbot.id,
            user_id=turn.user_id,
            session_id=turn.session_id,
            session_state=state,
            streaming_session_id=stream.id,
            token_hash=turn.token_hash,
            flow_type=flow.type,
            status=stream.status if stream.done else status,
            user_text=turn.question,
            assistant_text=answer,
            events=list(stream.events),
            context=context,
            metrics=metrics,
            started_at=turn.started_at,
        )
    )
    return TurnResult(answer=answer, status=status, flow_type=flow.type, state=state)


def _stream_fixed_reply(
    stream: Stream,
    reply: str,
    answer_parts: list[str],
    metrics: dict[str, Any],
    turn: TurnInput,
    flow_type: str,
) -> None:
    """Stream a reply that needs no LLM (an order-flow question or refusal) as token events."""
    first = time.perf_counter()
    metrics["ttft_ms"] = (first - turn.received_at) * 1000.0
    for piece in word_pieces(reply):
        answer_parts.append(piece)
        stream.emit("token", {"token": piece})
    finished = time.perf_counter()
    metrics.update(
        provider="rules",
        completion_tokens=len(answer_parts),
        stream_ms=(finished - first) * 1000.0,
        total_ms=(finished - turn.received_at) * 1000.0,
    )
    stream.emit(
        "end",
        {
            "usage": {"prompt_tokens": 0, "completion_tokens": len(answer_parts)},
            "metrics": _public_metrics(metrics),
            "flow_type": flow_type,
        },
    )


def _fail(
    stream: Stream,
    metrics: dict[str, Any],
    turn: TurnInput,
    category: ErrorCategory,
    message: str,
    answer_parts: list[str],
    shopper_message: str | None = None,
) -> None:
    language = turn.chatbot.language
    if shopper_message is None:
        shopper_message = FAILURE_MESSAGES.get(language, {}).get(category, GENERIC_FAILURE[language])
    metrics.update(
        status="failed",
        error_category=category.value,
        error_message=message,
        total_ms=(time.perf_counter() - turn.received_at) * 1000.0,
    )
    if not stream.done:
        stream.emit("error", {"category": category.value, "message": message, "shopper_message": shopper_message})
    if not answer_parts:
        answer_parts.append(shopper_message)


def _substitute(text: str, substitutions: dict[str, str]) -> str:
    for old, new in substitutions.items():
        text = text.replace(old, new)
    return text


def _source_json(chunk: ContextChunk) -> dict[str, Any]:
    return {
        "chunk_id": chunk.chunk_id,
        "document_id": chunk.document_id,
        "index": chunk.index_name,
        "title": chunk.title,
        "source": chunk.source,
        "score": round(chunk.score, 4),
        "snippet": chunk.text[:300],
    }


def _public_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    keys = ("config_ms", "routing_ms", "retrieval_ms", "prompt_ms", "llm_ttft_ms", "ttft_ms", "stream_ms", "total_ms")
    public = {key: round(float(metrics[key]), 3) for key in keys if metrics.get(key) is not None}
    if metrics.get("tokens_per_s") is not None:
        public["tokens_per_s"] = round(float(metrics["tokens_per_s"]), 1)
    return public
