"""Conversation history in routing: recognising a follow-up that belongs to the previous flow.

A short message that opens with a connective ("and …", "what about …", "og …", "hvad med …")
or points back with a pronoun ("when will it arrive?", "hvornår kommer den?") continues the
previous turn's topic, so the router leans towards the previous turn's route key.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

FOLLOW_UP_MAX_WORDS = 9

_OPENERS = re.compile(
    r"^\s*(and|but|also|so|then|what about|how about|and what about|og|men|også|så|hvad med|hvad så med)\b",
    re.IGNORECASE,
)
_POINTERS = re.compile(
    r"\b(it|its|it's|that|this|they|them|those|these|there|det|den|dem|denne|dette|disse|der|dens|dets)\b",
    re.IGNORECASE,
)


def is_follow_up(message: str) -> bool:
    """True when ``message`` reads as a follow-up to the previous turn.

    A message of at most :data:`FOLLOW_UP_MAX_WORDS` words that opens with a connective or
    contains a pronoun pointing back (English and Danish).
    """
    if len(message.split()) > FOLLOW_UP_MAX_WORDS:
        return False
    return bool(_OPENERS.search(message) or _POINTERS.search(message))


def recent_turns(history: Sequence[tuple[str, str]], turns: int) -> list[dict[str, str]]:
    """The last ``turns`` messages of ``history`` as ``{"role", "content"}`` dicts, oldest first."""
    if turns <= 0:
        return []
    return [{"role": role, "content": content} for role, content in list(history)[-turns:]]
