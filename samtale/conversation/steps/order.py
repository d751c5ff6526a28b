"""Order step: for an ``apiflow`` flow, find the shopper's order and prove it is theirs.

The order flow (DESIGN section 11, :func:`samtale.orders.flow.handle_order_turn`) extracts the
order number and a second factor from the conversation, looks the order up in the shop's order
API and verifies it. A verified order is emitted as an ``order`` event and grounds the answer;
otherwise the shopper gets a fixed reply (a question, not-found, lockout) with no LLM call.
"""

from __future__ import annotations

import time

from samtale.conversation.events import EventName
from samtale.conversation.failures import OrderSystemUnavailableError
from samtale.conversation.steps.answer import stream_fixed_reply
from samtale.conversation.turn import TurnContext, TurnDependencies
from samtale.orders.flow import handle_order_turn


async def run(ctx: TurnContext, deps: TurnDependencies) -> None:
    """Run the order flow of an ``apiflow`` turn (other flows pass through untouched).

    Sets ``ctx.order`` (and emits ``order``) for a verified order, or streams the fixed reply
    and sets ``ctx.answered``. The flow's ``orders:`` block sets the lockout limit and, with
    ``llm_extraction``, lets the flow's LLM fill the order variables the rules missed.

    Raises:
        OrderSystemUnavailableError: the shop's order API failed or no integration is configured;
            the shopper is told so by the order flow's reply.
    """
    flow = ctx.flow
    if flow.type != "apiflow":
        return
    started = time.perf_counter()
    tracker = await deps.tracker_factory(ctx.chatbot, flow) if deps.tracker_factory is not None else None
    result = await handle_order_turn(
        message=ctx.turn.question,
        history=ctx.turn.history,
        state=dict(ctx.state.get("order", {})),
        tracker=tracker,
        language=ctx.chatbot.language,
        max_failed_attempts=deps.max_failed_order_attempts,
        settings=flow.orders,
        llm=(
            deps.provider_factory(ctx.chatbot, flow) if flow.orders is not None and flow.orders.llm_extraction else None
        ),
    )
    ctx.metrics.order_ms = (time.perf_counter() - started) * 1000.0
    ctx.state["order"] = result.state
    if result.kind == "unavailable":
        if result.error is not None:
            raise OrderSystemUnavailableError(
                f"the order API failed ({result.error.code}): {result.error.message}", shopper_message=result.reply
            ) from result.error
        raise OrderSystemUnavailableError(
            f"flow {flow.key} has no order integration configured", shopper_message=result.reply
        )
    if result.kind != "order":
        stream_fixed_reply(ctx, result.reply)
        return
    ctx.order = result.summary
    ctx.stream.emit(EventName.ORDER, {"order": result.summary or {}})
