"""Parallel routing (the seeds' "parallel" flow execution): start the likely flow's work early.

While the router is still deciding (the query embedding is computed in a worker thread; an LLM
classifier may be asked), the work of the most likely flow, by the fastest strategy
(:meth:`Router.settle`: keyword rules, the previous flow for a follow-up, else ``main``; after
the embedding, the semantic scores), is already running. When the final decision differs,
that work is cancelled and the decided flow's work starts; ``speculative_hit`` says which
happened. A decision that is final at once (a keyword rule, a keywords-only router) needs no
speculation: ``speculative_hit`` is None.

The query embedding is computed once and shared (shielded, so cancelling a speculative task
never cancels it) by the router, the speculative work and the decided flow's work.

Typical use by the conversation pipeline::

    routed = await route_speculatively(
        router=router, message=text, history=history, last_route_key=last,
        start_work=lambda route_key, query_vector: asyncio.create_task(retrieve(route_key, query_vector)),
    )
    chunks = await routed.work if routed.work is not None else []
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from samtale.routing.router import Router
from samtale.routing.types import RoutingDecision, Vector

T = TypeVar("T")

QueryVector = Callable[[], Awaitable[Vector | None]]
"""Returns the shared query embedding (None when the router cannot embed; then the work embeds
the message itself). Awaiting it from a task that is later cancelled does not cancel it."""

StartWork = Callable[[str, QueryVector], "asyncio.Task[T] | None"]
"""Starts a flow's work for a route key (for example its knowledge retrieval) and returns its
task, or None when that flow has no such work."""


@dataclass(slots=True)
class SpeculativeRoute(Generic[T]):
    """The outcome of :func:`route_speculatively`.

    Attributes:
        decision: the router's decision; ``routing_ms`` covers everything up to it (the query
            embedding included); ``query_vector`` is the shared embedding when one was computed.
        speculative_hit: True when work started before the decision was used, False when it was
            cancelled for the decided flow's, None when the decision was final at once.
        guess_route_key: the route key speculated on last (None without speculation).
        work: the decided flow's work, already running (the kept speculative task or a new one),
            or None when that flow has none. The caller awaits or cancels it.
    """

    decision: RoutingDecision
    speculative_hit: bool | None
    guess_route_key: str | None
    work: asyncio.Task[T] | None


def _forget(task: asyncio.Task[T] | None) -> None:
    """Cancel a task nobody will await, and mark its outcome retrieved (no "never retrieved" warning)."""
    if task is None:
        return
    task.cancel()
    task.add_done_callback(lambda done: done.cancelled() or done.exception())


async def route_speculatively(
    *,
    router: Router,
    message: str,
    history: Sequence[tuple[str, str]] = (),
    last_route_key: str | None = None,
    start_work: StartWork[T],
) -> SpeculativeRoute[T]:
    """Decide the flow of ``message`` while the likely flow's work already runs.

    Args:
        router: the chatbot's router.
        message: the shopper's message.
        history: earlier turns as ``(role, content)``, most recent last.
        last_route_key: the route key of the previous turn, or None.
        start_work: see :data:`StartWork`; not called for a decision final at once (the caller
            does the decided flow's work itself), else called for the guess and again for a
            changed guess or a decision that differs from it.

    Returns:
        The decision, whether the speculation was used, and the decided flow's running work.

    Raises:
        RoutingError: the message could not be embedded (every started task is cancelled).
    """
    started = time.perf_counter()
    decision, final = router.settle(message=message, last_route_key=last_route_key)
    if final:
        decision.detail.pop("unsure", None)
        decision.routing_ms = (time.perf_counter() - started) * 1000.0
        return SpeculativeRoute(decision=decision, speculative_hit=None, guess_route_key=None, work=None)

    embedding: asyncio.Task[Vector] | None = None

    def start_embedding() -> asyncio.Task[Vector]:
        nonlocal embedding
        if embedding is None:
            embedding = asyncio.create_task(router.embed_query(message), name="samtale-query-embedding")
            embedding.add_done_callback(lambda done: done.cancelled() or done.exception())
        return embedding

    async def query_vector() -> Vector | None:
        return await asyncio.shield(start_embedding()) if router.can_embed else None

    if router.needs_embedding:
        start_embedding()  # routing needs it: start at once, before the speculative work

    guess_key = decision.route_key
    work = start_work(guess_key, query_vector)
    try:
        vector: Vector | None = None
        if router.needs_embedding:
            vector = await start_embedding()
            decision, final = router.settle(message=message, last_route_key=last_route_key, query_vector=vector)
            if decision.route_key != guess_key and not final:
                # A better guess (the semantic scores) while the LLM is still to be asked.
                _forget(work)
                guess_key = decision.route_key
                work = start_work(guess_key, query_vector)
        if final:
            decision.detail.pop("unsure", None)
        else:
            decision = await router.decide(
                message=message, history=history, last_route_key=last_route_key, query_vector=vector
            )
    except BaseException:
        _forget(work)
        _forget(embedding)
        raise
    hit = decision.route_key == guess_key
    if not hit:
        _forget(work)
        work = start_work(decision.route_key, query_vector)
    if decision.query_vector is None and embedding is not None and embedding.done() and not embedding.cancelled():
        decision.query_vector = embedding.result()
    decision.routing_ms = (time.perf_counter() - started) * 1000.0
    return SpeculativeRoute(decision=decision, speculative_hit=hit, guess_route_key=guess_key, work=work)
