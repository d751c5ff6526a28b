"""Routing step: which flow answers, decided while the likely flow's retrieval already runs.

The router (:func:`samtale.routing.speculative.route_speculatively`) starts the retrieval of
the flow it guesses while it is still deciding; that retrieval task is kept in the context when
the decision agrees and cancelled when it does not. The query embedding is computed once per
turn and shared by the router and every retrieval.
"""

from __future__ import annotations

import logging

from samtale.conversation.events import EventName, FlowData
from samtale.conversation.steps.retrieval import start_retrieval
from samtale.conversation.turn import TurnContext, TurnDependencies
from samtale.routing.speculative import route_speculatively

logger = logging.getLogger(__name__)


async def run(ctx: TurnContext, deps: TurnDependencies) -> None:
    """Decide the turn's flow, emit the ``flow`` event and resolve ``ctx.routed``.

    A chatbot without a router (strategy ``none``) answers in ``main``. A strategy that fails
    falls back to ``main`` inside the router; the event's ``fallback`` says why.
    """
    chatbot = ctx.chatbot
    route_key, strategy, confidence, routing_ms = "main", "none", 1.0, 0.0
    speculative_hit: bool | None = None
    fallback: str | None = None
    router = await deps.router_factory(chatbot) if deps.router_factory is not None else None
    if router is not None:
        routed = await route_speculatively(
            router=router,
            message=ctx.search_text,
            history=ctx.turn.history,
            last_route_key=ctx.state.get("last_route_key"),
            start_work=lambda key, query_vector: start_retrieval(ctx, deps, route_key=key, query_vector=query_vector),
        )
        decision = routed.decision
        ctx.retrieval = routed.work
        ctx.query_vector = decision.query_vector
        route_key, strategy = decision.route_key, decision.strategy
        confidence, routing_ms = decision.confidence, decision.routing_ms
        speculative_hit = routed.speculative_hit
        fallback = decision.detail.get("fallback")
        if fallback is not None:
            logger.warning("routing in chatbot %s fell back to main (%s: %s)", chatbot.id, strategy, fallback)

    flow = ctx.flow = chatbot.flow(route_key)
    metrics = ctx.metrics
    metrics.routing_ms = routing_ms
    metrics.route_key = flow.key
    metrics.routing_strategy = strategy
    metrics.speculative_hit = speculative_hit
    metrics.flow_type = flow.type
    ctx.state["last_route_key"] = flow.key
    ctx.stream.flow_type = flow.type
    event: FlowData = {
        "flow_type": flow.type,
        "route_key": flow.key,
        "strategy": strategy,
        "confidence": round(confidence, 4),
        "routing_ms": round(routing_ms, 3),
        "speculative_hit": speculative_hit,
    }
    if fallback is not None:
        event["fallback"] = fallback
    ctx.stream.emit(EventName.FLOW, event)
    ctx.announce_flow()
