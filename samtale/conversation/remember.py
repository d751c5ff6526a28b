"""A shopper asks the chatbot to remember something: the LLM turns it into a memory (seed 003 memories).

"Remember that I prefer dry whites" (or "Husk at jeg foretrækker tørre hvidvine") is spotted by
:func:`asks_to_remember` (a cue at the start of a sentence, in English or Danish). The chatbot's
model then writes the memory as a question and an answer in the shopper's words, with tags and an
importance 1–5, as JSON (:func:`memory_schema`, OpenAI structured output); the memory step stores
it for the verified shopper. The offline answerer cannot write one: nothing is stored then.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from samtale.conversation.turn import NewMemory
from samtale.errors import SamtaleError
from samtale.llm.base import ChatMessage, GenerationRequest, LLMProvider

logger = logging.getLogger(__name__)

CUES = re.compile(
    r"(?:^|[.!?]\s+)(?:please\s+|pls\s+|venligst\s+|kan du\s+)?"
    r"(?:remember(?:\s+that|\s*:)|keep in mind(?:\s+that)?|don't forget(?:\s+that)?|note that i\b"
    r"|husk(?:\s+på)?(?:\s*,?\s*at|\s*:)|glem ikke(?:\s*,?\s*at)?|bemærk(?:\s*,?\s*at)\s+jeg\b)",
    re.IGNORECASE,
)
"""Where a shopper asks to be remembered: "remember that", "keep in mind", "husk at", "glem ikke at"…"""

MEMORY_MAX_TOKENS = 200
"""Completion tokens for the memory's JSON."""

INSTRUCTIONS = {
    "en": (
        "The shopper asks you to remember something about them. Write it as a memory: `question`, what "
        "a shop assistant would later ask (e.g. 'Which wines does the shopper prefer?'); `answer`, the fact "
        "in the shopper's words; `tags`, 1-3 lower-case topic words; `importance` 1-5 (5 = always relevant). "
        "Answer with the JSON object only, in English."
    ),
    "da": (
        "Kunden beder dig huske noget om dem. Skriv det som et minde: `question`, hvad en ekspedient senere "
        "ville spørge om (fx 'Hvilke vine foretrækker kunden?'); `answer`, faktum med kundens ord; `tags`, "
        "1-3 emneord med små bogstaver; `importance` 1-5 (5 = altid relevant). Svar kun med JSON-objektet, på dansk."
    ),
}
"""The system prompt per chatbot language."""


class ExtractedMemory(BaseModel):
    """The model's memory, as :func:`memory_schema` asks for it."""

    question: str = Field(min_length=1, max_length=500)
    answer: str = Field(min_length=1, max_length=2000)
    tags: list[str] = Field(default_factory=list, max_length=10)
    importance: int = Field(default=3, ge=1, le=5)


def asks_to_remember(text: str) -> bool:
    """Whether ``text`` asks the chatbot to remember something (:data:`CUES`)."""
    return CUES.search(text.strip()) is not None


def memory_schema() -> dict[str, Any]:
    """The OpenAI ``response_format`` for :class:`ExtractedMemory`."""
    return {
        "type": "json_schema",
        "json_schema": {
            "name": "memory",
            "strict": True,
            "schema": {
                "type": "object",
                "properties": {
                    "question": {"type": "string"},
                    "answer": {"type": "string"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "importance": {"type": "integer", "minimum": 1, "maximum": 5},
                },
                "required": ["question", "answer", "tags", "importance"],
                "additionalProperties": False,
            },
        },
    }


def parse_memory(text: str) -> NewMemory | None:
    """The memory in the model's answer (a JSON object, possibly in a code fence), or None."""
    body = text.strip().removeprefix("```json").removeprefix("```").removesuffix("```").strip()
    try:
        extracted = ExtractedMemory.model_validate(json.loads(body))
    except (ValueError, ValidationError):
        return None
    tags = tuple(dict.fromkeys(tag.strip().lower() for tag in extracted.tags if tag.strip()))[:3]
    return NewMemory(
        question=extracted.question.strip(),
        answer=extracted.answer.strip(),
        tags=tags,
        importance=extracted.importance,
    )


async def extract_memory(*, provider: LLMProvider, text: str, language: str) -> NewMemory | None:
    """Ask ``provider`` to write the memory ``text`` asks for; None when it cannot or fails.

    A failing model is logged (not raised): the turn still answers the shopper.
    """
    if provider.name == "offline":
        return None
    request = GenerationRequest(
        messages=[ChatMessage("system", INSTRUCTIONS.get(language, INSTRUCTIONS["en"])), ChatMessage("user", text)],
        question=text,
        language="da" if language == "da" else "en",
        temperature=0.0,
        max_tokens=MEMORY_MAX_TOKENS,
        response_format=memory_schema(),
    )
    try:
        completion = await provider.complete(request)
    except SamtaleError as exc:
        logger.warning("the model could not write a memory: %s", exc.message)
        return None
    memory = parse_memory(completion.text)
    if memory is None:
        logger.warning("the model's memory was not the JSON asked for; nothing stored")
    return memory
