"""Answer step: build the prompt and stream the LLM's answer, grounded in what earlier steps found.

Also streams the fixed replies that need no LLM (the order flow's questions and refusals). Both
paths pass the text through the chatbot's ``substitutions``
(:class:`~samtale.conversation.substitutions.StreamingReplacer`) and end the stream with ``end``.
"""

from __future__ import annotations

import time

from samtale.conversation.events import EventName
from samtale.conversation.failures import TurnStoppedError
from samtale.conversation.prompts import build_messages
from samtale.conversation.steps.image import photo_question, unseen_notice
from samtale.conversation.substitutions import StreamingReplacer
from samtale.conversation.turn import TurnContext, TurnDependencies
from samtale.llm.base import GenerationRequest, TextDelta, Usage, stream_with_retries, word_pieces

RETRY_BASE_DELAY_S = 0.25
"""The first back-off between LLM attempts before a first token, in seconds (doubling)."""


async def run(ctx: TurnContext, deps: TurnDependencies) -> None:
    """Prompt the flow's LLM with the question, history, chunks and verified order, stream its
    answer as ``token`` events and end with ``end`` (usage and public timings).

    Raises:
        TurnStoppedError: the client asked to stop the answer.
        SamtaleError: the LLM or the prompt template failed (categories ``llm``, ``template``).
    """
    chatbot, flow, metrics, stream = ctx.chatbot, ctx.flow, ctx.metrics, ctx.stream
    notice = unseen_notice(ctx)
    if notice is not None and not ctx.turn.question:
        stream_fixed_reply(ctx, notice)  # a photo alone that cannot be looked at: say so, ask
        return
    started = time.perf_counter()
    question = ctx.turn.question or photo_question(ctx)
    messages = build_messages(
        chatbot=chatbot,
        flow=flow,
        question=question,
        history=ctx.turn.history,
        context=ctx.context,
        order=ctx.order,
        memories=[(memory.question, memory.answer) for memory in ctx.memories],
        image=ctx.image.as_event() if ctx.image is not None else None,
    )
    llm = chatbot.llm.merged(flow.llm)
    request = GenerationRequest(
        messages=messages,
        question=question,
        language=chatbot.language,
        context=ctx.context,
        order=ctx.order,
        model=llm.model,
        temperature=llm.temperature,
        max_tokens=llm.max_tokens,
        chatbot_name=chatbot.name,
    )
    provider = deps.provider_factory(chatbot, flow)
    metrics.provider = provider.name
    metrics.model = llm.model if provider.name != "offline" else None
    metrics.prompt_ms = (time.perf_counter() - started) * 1000.0

    replacer = StreamingReplacer(chatbot.substitutions)
    llm_started = time.perf_counter()
    first_token_at: float | None = None
    if notice is not None:  # the answer first says the photo could not be looked at
        metrics.ttft_ms = (time.perf_counter() - ctx.turn.received_at) * 1000.0
        for piece in word_pieces(StreamingReplacer(chatbot.substitutions).apply(notice) + " "):
            ctx.answer_parts.append(piece)
            stream.emit(EventName.TOKEN, {"token": piece})
    usage: Usage | None = None
    attempts = deps.llm_retries + 1
    async for item in stream_with_retries(provider, request, attempts=attempts, base_delay_s=RETRY_BASE_DELAY_S):
        if stream.stop_requested:
            raise TurnStoppedError("the answer was stopped on request")
        if isinstance(item, TextDelta):
            text = replacer.feed(item.text) if item.text else ""
            if not text:
                continue
            if first_token_at is None:
                first_token_at = time.perf_counter()
                metrics.llm_ttft_ms = (first_token_at - llm_started) * 1000.0
                metrics.ttft_ms = metrics.ttft_ms or (first_token_at - ctx.turn.received_at) * 1000.0
            ctx.answer_parts.append(text)
            stream.emit(EventName.TOKEN, {"token": text})
        elif isinstance(item, Usage):
            usage = item
    rest = replacer.flush()
    if rest:
        if first_token_at is None:
            first_token_at = time.perf_counter()
            metrics.llm_ttft_ms = (first_token_at - llm_started) * 1000.0
            metrics.ttft_ms = metrics.ttft_ms or (first_token_at - ctx.turn.received_at) * 1000.0
        ctx.answer_parts.append(rest)
        stream.emit(EventName.TOKEN, {"token": rest})
    finished = time.perf_counter()
    metrics.prompt_tokens = usage.prompt_tokens if usage else 0
    metrics.completion_tokens = usage.completion_tokens if usage else len(ctx.answer_parts)
    if first_token_at is not None:
        stream_s = finished - first_token_at
        metrics.stream_ms = stream_s * 1000.0
        metrics.tokens_per_s = metrics.completion_tokens / stream_s if stream_s > 0 else None
    _end(ctx, finished)


def stream_fixed_reply(ctx: TurnContext, reply: str) -> None:
    """Stream a reply that needs no LLM (an order-flow question or refusal) as word ``token``
    events, substituted, then ``end``; marks the turn as answered."""
    metrics = ctx.metrics
    first = time.perf_counter()
    metrics.ttft_ms = (first - ctx.turn.received_at) * 1000.0
    for piece in word_pieces(StreamingReplacer(ctx.chatbot.substitutions).apply(reply)):
        ctx.answer_parts.append(piece)
        ctx.stream.emit(EventName.TOKEN, {"token": piece})
    finished = time.perf_counter()
    metrics.provider = "rules"
    metrics.completion_tokens = len(ctx.answer_parts)
    metrics.stream_ms = (finished - first) * 1000.0
    ctx.answered = True
    _end(ctx, finished)


def _end(ctx: TurnContext, finished: float) -> None:
    """Record the turn's total time and emit ``end`` (``finished``: ``perf_counter()`` seconds)."""
    metrics = ctx.metrics
    metrics.total_ms = (finished - ctx.turn.received_at) * 1000.0
    ctx.stream.emit(
        EventName.END,
        {
            "usage": {"prompt_tokens": metrics.prompt_tokens, "completion_tokens": metrics.completion_tokens},
            "metrics": metrics.public(),
            "flow_type": ctx.flow.type,
        },
    )
