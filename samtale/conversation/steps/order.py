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

    The failed-attempt count is the shopper's (per chatbot, across all their conversations):
    read from ``deps.order_attempts`` before the flow runs, and a new failed look-up is added
    there atomically at once, so a new ``session_id`` or another worker does not reset it. The
    client address counts too (``rate_limits.order_lookup_failures``, shared by every worker
    through Redis): a new ``user_id`` does not reset it either.
    The conversation's state keeps only the order number asked about.

    Raises:
        OrderSystemUnavailableError: the shop's order API failed or no integration is configured;
            the shopper is told so by the order flow's reply.
    """
    flow = ctx.flow
    if flow.type != "apiflow":
        return
    started = time.perf_counter()
    tracker = await deps.tracker_factory(ctx.chatbot, flow) if deps.tracker_factory is not None else None
    state = dict(ctx.state.get("order", {}))
    store = deps.order_attempts
    if store is not None:
        attempts = await store.load(chatbot_id=ctx.chatbot.id, user_id=ctx.turn.user_id)
        state.update(failed_attempts=attempts.failed, tried=attempts.tried)
    by_address = _address_counter(ctx, deps)
    # An address that used up its failed look-ups (under any user id or conversation) gets the
    # flow's lockout reply, as a shopper over their own count does.
    address_locked = by_address is not None and await by_address.exhausted()
    result = await handle_order_turn(
        message=ctx.turn.question,
        history=ctx.turn.history,
        state={**state, "failed_attempts": ADDRESS_LOCKED} if address_locked else state,
        tracker=tracker,
        language=ctx.chatbot.language,
        max_failed_attempts=deps.max_failed_order_attempts,
        settings=flow.orders,
        llm=(
            deps.provider_factory(ctx.chatbot, flow) if flow.orders is not None and flow.orders.llm_extraction else None
        ),
    )
    failed = not address_locked and int(result.state.get("failed_attempts", 0)) > int(state.get("failed_attempts", 0))
    if failed and by_address is not None:
        await by_address.count()
    if store is None:
        ctx.state["order"] = state if address_locked else result.state
    else:
        if failed:
            await store.add_failure(chatbot_id=ctx.chatbot.id, user_id=ctx.turn.user_id, tried=result.state["tried"])
        ctx.state["order"] = {key: value for key, value in result.state.items() if key == "order_number"}
    ctx.metrics.order_ms = (time.perf_counter() - started) * 1000.0
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


ADDRESS_LOCKED = 1_000_000
"""A failed-attempt count over any flow's lockout limit (the address is locked out)."""


class _AddressFailures:
    """The failed order look-ups of one client address at one chatbot (``rate_limits.order_lookup_failures``)."""

    def __init__(self, ctx: TurnContext, deps: TurnDependencies, address: str) -> None:
        assert deps.rate_limiter is not None
        self._limiter = deps.rate_limiter
        self._limit = ctx.chatbot.rate_limits.order_lookup_failures
        self._keys = (ctx.chatbot.id, address)

    async def exhausted(self) -> bool:
        return await self._limiter.exhausted(rule="order_lookup_failures", limit=self._limit, keys=self._keys)

    async def count(self) -> None:
        await self._limiter.count(rule="order_lookup_failures", limit=self._limit, keys=self._keys)


def _address_counter(ctx: TurnContext, deps: TurnDependencies) -> _AddressFailures | None:
    if deps.rate_limiter is None or ctx.turn.client_address is None:
        return None
    return _AddressFailures(ctx, deps, ctx.turn.client_address)
