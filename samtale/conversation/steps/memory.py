"""Memory step: recall the verified shopper's memories relevant to the question (seed 003 memories).

Runs when the chatbot enables ``memory`` (``ChatbotConfig.memory``) and the turn's ``user_hash``
verified (a bare user id proves nothing, and the memories are shown in the ``memory`` event).
The recalled memories go into the prompt (template variable ``memories``; the default prompts
list them) and are listed, most relevant first, in one ``memory`` event.
"""

from __future__ import annotations

from samtale.conversation.events import EventName, MemoryData
from samtale.conversation.turn import TurnContext, TurnDependencies


async def run(ctx: TurnContext, deps: TurnDependencies) -> None:
    """Fill ``ctx.memories`` and emit ``memory``; nothing when memory is off, the shopper is not
    verified or the deployment recalls nothing.

    Raises:
        SamtaleError: the database failed (category ``database``).
    """
    settings = ctx.chatbot.memory
    if not settings.enabled or deps.memories is None or not ctx.turn.verified:
        return
    ctx.memories = await deps.memories(
        chatbot_id=ctx.chatbot.id,
        language=ctx.chatbot.language,
        user_id=ctx.turn.user_id,
        question=ctx.turn.question,
        top_k=settings.top_k,
    )
    event: MemoryData = {
        "memories": [
            {
                "id": memory.id,
                "question": memory.question,
                "answer": memory.answer,
                "importance": memory.importance,
                "score": round(memory.score, 4),
            }
            for memory in ctx.memories
        ]
    }
    ctx.stream.emit(EventName.MEMORY, event)
