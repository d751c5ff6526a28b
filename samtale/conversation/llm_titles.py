"""A conversation's title summarised by the chatbot's LLM, once its first turn is stored.

The first turn stores the offline title (:func:`samtale.conversation.titles.title_from_question`:
the cleaned, shortened first question), so the list has a title at once. When the chatbot sets
``llm_titles`` (opt-in: a completion and a write per conversation) and its ``main`` flow answers
with a real model (any provider but the offline answerer), a background task then asks that model
for a title of at most :data:`TITLE_WORDS` words in the chatbot's language and replaces the
offline one, unless the shopper renamed the conversation meanwhile (the ``UPDATE`` only matches
while the stored title is still the offline one). A failing or empty summary leaves the offline
title; it is logged, never shown to the shopper.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import update

from samtale.chatbots.schema import ChatbotConfig
from samtale.conversation.search.indexing import reindex_title
from samtale.conversation.titles import TITLE_CHARS, title_from_question
from samtale.conversation.turn import ProviderFactory
from samtale.errors import SamtaleError
from samtale.llm.base import ChatMessage, GenerationRequest
from samtale.storage.base import utcnow
from samtale.storage.db import Database
from samtale.storage.models import ConversationSession

logger = logging.getLogger(__name__)

TITLE_WORDS = 6
"""The longest summarised title, in words (a list row's width)."""

TITLE_MAX_TOKENS = 24
"""Completion tokens asked for: room for :data:`TITLE_WORDS` words in either language."""

INSTRUCTIONS = {
    "en": (
        "Write the title of this customer-service conversation from the shopper's first message: at most "
        f"{TITLE_WORDS} words, in English, no quotation marks, no full stop. Answer with the title only."
    ),
    "da": (
        "Skriv titlen på denne kundeservicesamtale ud fra kundens første besked: højst "
        f"{TITLE_WORDS} ord, på dansk, uden anførselstegn og punktum. Svar kun med titlen."
    ),
}
"""The system prompt per chatbot language."""


def clean_summary(text: str) -> str | None:
    """The model's answer as a title: first line, quotes and a final full stop removed, at most
    :data:`TITLE_WORDS` words and :data:`~samtale.conversation.titles.TITLE_CHARS` characters
    (None when nothing is left)."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    line = line.strip().strip("\"'“”„«»").rstrip(".").strip()
    if line.lower().startswith(("title:", "titel:")):
        line = line.split(":", 1)[1].strip()
    words = line.split()[:TITLE_WORDS]
    title = title_from_question(" ".join(words), max_chars=TITLE_CHARS) if words else ""
    return title or None


class TitleSummariser:
    """Summarises new conversations' titles in background tasks (see the module docstring).

    Args:
        db: the store.
        provider_factory: the LLM provider of a chatbot's flow (the turn's own factory).
    """

    def __init__(self, *, db: Database, provider_factory: ProviderFactory) -> None:
        self.db = db
        self.provider_factory = provider_factory
        self._tasks: set[asyncio.Task[Any]] = set()

    def schedule(self, *, chatbot: ChatbotConfig, session_id: str, question: str) -> None:
        """Start summarising the title of the new conversation ``session_id`` (its first question
        ``question``) when the chatbot's ``main`` flow has a real model and ``llm_titles`` is on;
        otherwise do nothing."""
        flow = next((f for f in chatbot.flows if f.type == "main"), None)
        if flow is None or not chatbot.llm_titles:
            return
        provider = self.provider_factory(chatbot, flow)
        if provider.name == "offline":
            return
        task = asyncio.create_task(
            self._summarise(chatbot=chatbot, session_id=session_id, question=question, provider=provider),
            name=f"title-{session_id}",
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _summarise(self, *, chatbot: ChatbotConfig, session_id: str, question: str, provider: Any) -> None:
        language = chatbot.language if chatbot.language in INSTRUCTIONS else "en"
        request = GenerationRequest(
            messages=[ChatMessage("system", INSTRUCTIONS[language]), ChatMessage("user", question)],
            question=question,
            language=language,
            max_tokens=TITLE_MAX_TOKENS,
            temperature=0.2,
            chatbot_name=chatbot.name,
        )
        try:
            title = clean_summary((await provider.complete(request)).text)
        except SamtaleError as exc:
            logger.warning("title summary failed for a conversation of chatbot %s: %s", chatbot.id, exc.message)
            return
        if title is None:
            return
        offline = title_from_question(question)
        async with self.db.engine.begin() as conn:
            changed = await conn.execute(
                update(ConversationSession)
                .where(
                    ConversationSession.id == session_id,
                    ConversationSession.chatbot_id == chatbot.id,
                    ConversationSession.title == offline,
                )
                .values(title=title, updated_at=utcnow())
            )
            if changed.rowcount:
                await reindex_title(conn, chatbot_id=chatbot.id, session_id=session_id)

    async def drain(self) -> None:
        """Wait for the summaries still running (at shutdown and in tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
