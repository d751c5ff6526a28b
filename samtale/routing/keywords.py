"""Keyword routing: regular-expression rules per route key, tried in order."""

from __future__ import annotations

import re
from dataclasses import dataclass

from samtale.chatbots.routing_config import KeywordRule


@dataclass(frozen=True, slots=True)
class KeywordMatch:
    """A rule that matched: its route key, its 1-based number in the config and the matched text."""

    route_key: str
    rule_number: int
    matched: str


class KeywordMatcher:
    """Compiled keyword rules of one chatbot.

    Args:
        rules: the ``routing.keywords`` rules, in order (validated by
            :func:`samtale.chatbots.routing_validation.validate_routing`).
    """

    def __init__(self, rules: list[KeywordRule]) -> None:
        self._rules = [
            (rule.route_key, re.compile(rule.pattern, re.IGNORECASE if rule.ignore_case else 0)) for rule in rules
        ]

    def __bool__(self) -> bool:
        return bool(self._rules)

    def match(self, message: str) -> KeywordMatch | None:
        """The first rule whose pattern occurs in ``message`` (``re.search``), or None."""
        for number, (route_key, pattern) in enumerate(self._rules, start=1):
            found = pattern.search(message)
            if found is not None:
                return KeywordMatch(route_key=route_key, rule_number=number, matched=found.group(0)[:80])
        return None
