"""One turn, from the shopper's message to the ``end`` event: the steps in order, and the failure path.

:func:`run_turn` runs as its own task, independent of any client connection: the answer is
completed and recorded whether or not anyone is listening, and a reader that comes back
resumes from its last event id. Every step is timed (milliseconds) into the turn's
:class:`~samtale.conversation.turn.TurnMetrics`.

Steps (:mod:`samtale.conversation.steps`), each ``run(ctx, deps)``: image (the message's photo
described, when it has one), routing (with the likely
flow's retrieval started speculatively), order (``apiflow`` flows), retrieval, memory (a
verified shopper's memories, when the chatbot enables them), answer. A new
step is a module and one line in :data:`STEPS`.

Events, in order (:class:`~samtale.conversation.events.EventName`): ``start`` (emitted by the
conversation service), ``image``, ``flow``, ``order`` and/or ``sources``, ``memory``, ``token``…, then
``end`` or ``error``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from samtale.conversation.events import EventName
from samtale.conversation.failures import OrderSystemUnavailableError, shopper_failure_message
from samtale.conversation.recorder import TurnRecord
from samtale.conversation.steps import answer, image, memory, order, retrieval, routing
from samtale.conversation.turn import TurnContext, TurnDependencies, TurnError, TurnInput, TurnResult
from samtale.errors import ErrorCategory, SamtaleError
from samtale.streaming.hub import Stream

logger = logging.getLogger(__name__)

Step = Callable[[TurnContext, TurnDependencies], Awaitable[None]]
"""A step of the turn: reads and fills the context, emits its events, raises ``SamtaleError`` to fail."""

STEPS: tuple[Step, ...] = (image.run, routing.run, order.run, retrieval.run, memory.run, answer.run)
"""The steps of a turn in order; a step that answers by itself (``ctx.answered``) ends the sequence."""


async def run_turn(
    *,
    turn: TurnInput,
    stream: Stream,
    deps: TurnDependencies,
    routed: asyncio.Future[str] | None = None,
) -> TurnResult:
    """Produce one answer into ``stream`` and hand the finished turn to ``deps.submit``.

    Never raises for a failure of a step: the failure becomes an ``error`` event with its
    category and the operator's message, the shopper is told what happened in their language,
    and the assistant message is stored as failed.

    Args:
        turn: what the turn starts from.
        stream: the turn's event stream (its ``start`` event already emitted).
        deps: what the steps use from outside the turn.
        routed: resolved with the decided flow type right after the ``flow`` event (or with
            ``main`` when the turn fails before a decision), for the process-message response.
    """
    ctx = TurnContext.begin(turn, stream, routed)
    try:
        for step in STEPS:
            if ctx.answered:
                break
            await step(ctx, deps)
    except OrderSystemUnavailableError as exc:
        _fail(ctx, TurnError(category=exc.category, message=exc.message, shopper_message=exc.shopper_message))
    except SamtaleError as exc:
        _fail(ctx, _turn_error(ctx, exc.category, exc.message))
    except Exception as exc:
        logger.exception("turn failed in chatbot %s", ctx.chatbot.id)
        _fail(ctx, _turn_error(ctx, ErrorCategory.STREAMING, f"internal error ({type(exc).__name__})"))
    finally:
        if ctx.retrieval is not None and not ctx.retrieval.done():
            ctx.retrieval.cancel()  # a fixed reply or a failure: the early retrieval is not needed
        ctx.announce_flow()
    return _finish(ctx, deps)


def _turn_error(ctx: TurnContext, category: ErrorCategory, message: str) -> TurnError:
    """A failure of ``category`` with the shopper's sentence in the chatbot's language."""
    return TurnError(
        category=category,
        message=message,
        shopper_message=shopper_failure_message(category=category, language=ctx.chatbot.language),
    )


def _fail(ctx: TurnContext, error: TurnError) -> None:
    """Mark the turn failed, emit ``error`` (unless the stream already ended) and make the
    shopper's sentence the answer when nothing was streamed yet."""
    ctx.status = "failed"
    ctx.error = error
    ctx.metrics.status = "failed"
    ctx.metrics.error_category = error.category.value
    ctx.metrics.total_ms = (time.perf_counter() - ctx.turn.received_at) * 1000.0
    if not ctx.stream.done:
        ctx.stream.emit(
            EventName.ERROR,
            {"category": error.category.value, "message": error.message, "shopper_message": error.shopper_message},
        )
    if not ctx.answer_parts:
        ctx.answer_parts.append(error.shopper_message)


def _finish(ctx: TurnContext, deps: TurnDependencies) -> TurnResult:
    """Hand the turn to the recorder and return what the conversation's history keeps."""
    answer_text = "".join(ctx.answer_parts)
    stream, turn = ctx.stream, ctx.turn
    record = TurnRecord(
        chatbot_id=turn.chatbot.id,
        user_id=turn.user_id,
        session_id=turn.session_id,
        session_state=ctx.state,
        streaming_session_id=stream.id,
        token_hash=turn.token_hash,
        flow_type=ctx.flow.type,
        status=stream.status if stream.done else ctx.status,
        user_text=turn.question,
        assistant_text=answer_text,
        events=list(stream.events),
        context=ctx.context,
        metrics=ctx.metrics,
        error=ctx.error,
        started_at=turn.started_at,
        verified=turn.verified,
        language=turn.chatbot.language,
        user_extra={"image": ctx.image.as_event()} if ctx.image is not None else {},
    )
    deps.submit(record)
    return TurnResult(answer=answer_text, status=ctx.status, flow_type=ctx.flow.type, state=ctx.state, record=record)
