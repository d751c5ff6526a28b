"""Memory step: recall the verified shopper's memories relevant to the question (seed 003 memories).

Runs when the chatbot enables ``memory`` (``ChatbotConfig.memory``) and the turn's ``user_hash``
verified (a bare user id proves nothing, and the memories are shown in the ``memory`` event).
The recalled memories go into the prompt (template variable ``memories``; the default prompts
list them) and are listed, most relevant first, in one ``memory`` event. A message that asks
the chatbot to remember something ("remember that I prefer dry whites",
:mod:`samtale.conversation.remember`) first becomes a memory written by the chatbot's model,
named in the event as ``created`` and recalled at once.
"""

from __future__ import annotations

import logging

from samtale.conversation.events import EventName, MemoryData, RecalledMemoryData
from samtale.conversation.remember import asks_to_remember, extract_memory
from samtale.conversation.turn import RecalledMemory, TurnContext, TurnDependencies
from samtale.errors import ConflictError, InputError

logger = logging.getLogger(__name__)


async def run(ctx: TurnContext, deps: TurnDependencies) -> None:
    """Fill ``ctx.memories`` and emit ``memory``; nothing when memory is off, the shopper is not
    verified or the deployment recalls nothing.

    Raises:
        SamtaleError: the database failed (category ``database``).
    """
    settings = ctx.chatbot.memory
    if not settings.enabled or deps.memories is None or not ctx.turn.verified:
        return
    created = None
    if asks_to_remember(ctx.turn.question):
        new = await extract_memory(
            provider=deps.provider_factory(ctx.chatbot, ctx.flow), text=ctx.turn.question, language=ctx.chatbot.language
        )
        if new is not None:
            try:
                created = await deps.memories.remember(
                    chatbot_id=ctx.chatbot.id, language=ctx.chatbot.language, user_id=ctx.turn.user_id, memory=new
                )
            except (InputError, ConflictError) as exc:  # the memory limit, or text the store refuses
                logger.info("a requested memory was not stored: %s", exc.message)
    ctx.memories = await deps.memories(
        chatbot_id=ctx.chatbot.id,
        language=ctx.chatbot.language,
        user_id=ctx.turn.user_id,
        question=ctx.turn.question,
        top_k=settings.top_k,
    )
    event: MemoryData = {"memories": [_data(memory) for memory in ctx.memories]}
    if created is not None:
        event["created"] = _data(created)
    ctx.stream.emit(EventName.MEMORY, event)


def _data(memory: RecalledMemory) -> RecalledMemoryData:
    return {
        "id": memory.id,
        "question": memory.question,
        "answer": memory.answer,
        "importance": memory.importance,
        "score": round(memory.score, 4),
    }
