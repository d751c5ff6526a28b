"""A conversation's title, made offline from its first question.

The first question is cleaned (markup, URLs and e-mail addresses removed, whitespace collapsed,
a greeting such as "Hi," or "Hej!" dropped) and shortened at a word boundary to at most
``max_chars`` characters, with "…" when something was cut. When the chatbot answers with a real
model, :mod:`samtale.conversation.llm_titles` replaces it by the model's summary once the first
turn is stored; this title is what the list shows until then (and for good on the offline answerer).
"""

from __future__ import annotations

import re

TITLE_CHARS = 60
"""The longest offline title, in characters (the column holds 200)."""

_MARKUP = re.compile(r"<[^>]{0,200}>")
_URL = re.compile(r"\bhttps?://\S+|\bwww\.\S+", re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_GREETING = re.compile(
    r"^(?:hi|hello|hey|dear \w+|good (?:morning|afternoon|evening)|hej|hejsa|goddag|godmorgen|davs)\b[\s,.!:;-]*",
    re.IGNORECASE,
)
_SPACE = re.compile(r"\s+")


def title_from_question(question: str, *, max_chars: int = TITLE_CHARS) -> str:
    """The offline title of a conversation that started with ``question``.

    Args:
        question: the shopper's first message, as sent.
        max_chars: the longest title (characters, "…" included); at least 10.

    Returns:
        The cleaned question, cut after the last whole word that fits, first letter upper-case;
        the cleaned text cut hard when it is one long word, and ``"Conversation"`` when nothing
        is left (a message of only a link or a greeting).
    """
    limit = max(max_chars, 10)
    text = _MARKUP.sub(" ", question)
    text = _URL.sub(" ", text)
    text = _EMAIL.sub(" ", text)
    text = _SPACE.sub(" ", text).strip()
    without_greeting = _GREETING.sub("", text).strip()
    text = without_greeting or text
    text = text.strip(" ,;:-")
    if not text:
        return "Conversation"
    if len(text) > limit:
        cut = text[: limit - 1]
        boundary = cut.rfind(" ")
        if boundary >= limit // 3:
            cut = cut[:boundary]
        text = cut.rstrip(" ,;:.-") + "…"
    return text[0].upper() + text[1:]
