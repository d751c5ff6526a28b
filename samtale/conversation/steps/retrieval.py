"""Retrieval step: the chunks of the flow's knowledge base the answer is grounded in.

The retrieval may already be running (started by the routing step for the guessed flow); the
recorded ``retrieval_ms`` is then the time the turn still had to wait for it. Questions that
state limits ("a red under 300 kr") search with metadata filters (the flow's ``filters``:
rules, or the flow's LLM when the rules find none; see :mod:`samtale.knowledge.question_filters`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from samtale.chatbots.schema import FlowConfig
from samtale.conversation.events import EventName, SourceData, SourcesData
from samtale.conversation.turn import TurnContext, TurnDependencies
from samtale.knowledge.question_filters import LLMFilterExtractor
from samtale.knowledge.retrieval import Retrieval
from samtale.knowledge.types import ContextChunk
from samtale.routing.speculative import QueryVector

logger = logging.getLogger(__name__)
SNIPPET_CHARS = 300
"""The characters of a chunk's text the ``sources`` event shows."""


async def run(ctx: TurnContext, deps: TurnDependencies) -> None:
    """Wait for (or run) the decided flow's retrieval, fill ``ctx.context`` and emit ``sources``
    (an empty list for a flow without a knowledge index).

    Raises:
        SamtaleError: the vector store or the embedder failed (category ``vector_store``…).
    """
    started = time.perf_counter()
    found: Retrieval | None = None
    if ctx.retrieval is not None:
        found = await ctx.retrieval
    elif deps.retriever is not None and ctx.flow.knowledge_index:
        found = await retrieve(ctx, deps, flow=ctx.flow, query_vector=ctx.query_vector)
    ctx.metrics.retrieval_ms = (time.perf_counter() - started) * 1000.0
    event: SourcesData = {"sources": []}
    if found is not None:
        ctx.context.extend(found.chunks)
        event["sources"] = [source_data(chunk) for chunk in ctx.context]
        if found.filters is not None:
            event["filters"] = {"conditions": found.filters.filters, "source": found.filters.source}
            if found.filters.error:
                logger.warning("LLM filters failed in chatbot %s: %s", ctx.chatbot.id, found.filters.error)
    ctx.stream.emit(EventName.SOURCES, event)


def start_retrieval(
    ctx: TurnContext, deps: TurnDependencies, *, route_key: str, query_vector: QueryVector
) -> asyncio.Task[Retrieval] | None:
    """Start the retrieval of flow ``route_key`` as a task (None when it has no knowledge index).

    The task awaits the turn's shared query embedding (``query_vector``), then searches; the
    routing step calls this for its guess while it is still deciding.
    """
    flow = ctx.chatbot.flow(route_key)
    if deps.retriever is None or not flow.knowledge_index:
        return None

    async def search() -> Retrieval:
        return await retrieve(ctx, deps, flow=flow, query_vector=await query_vector())

    task = asyncio.create_task(search(), name=f"samtale-retrieval-{route_key}")
    task.add_done_callback(lambda done: done.cancelled() or done.exception())
    return task


async def retrieve(ctx: TurnContext, deps: TurnDependencies, *, flow: FlowConfig, query_vector: Any) -> Retrieval:
    """Search ``flow``'s knowledge index for the turn's question and image description
    (:attr:`~samtale.conversation.turn.TurnContext.search_text`; ``query_vector``: its
    embedding when already known, else None), with the filters the question states.

    Raises:
        ValueError: the flow has no knowledge index or the deployment no retriever (a caller bug).
    """
    if deps.retriever is None or flow.knowledge_index is None:
        raise ValueError(f"flow {flow.key} has no knowledge index to search")
    extractor = LLMFilterExtractor(provider=deps.provider_factory(ctx.chatbot, flow)) if flow.filters == "llm" else None
    return await deps.retriever.retrieve(
        chatbot_id=ctx.chatbot.id,
        index_name=flow.knowledge_index,
        query=ctx.search_text,
        top_k=flow.top_k,
        min_score=flow.min_score,
        query_vector=query_vector,
        filter_mode=flow.filters,
        extractor=extractor,
    )


def source_data(chunk: ContextChunk) -> SourceData:
    """One chunk as the ``sources`` event shows it (score rounded to 4 places)."""
    return {
        "chunk_id": chunk.chunk_id,
        "document_id": chunk.document_id,
        "index": chunk.index_name,
        "title": chunk.title,
        "source": chunk.source,
        "score": round(chunk.score, 4),
        "snippet": chunk.text[:SNIPPET_CHARS],
    }
