"""Snippets: a short stretch of a matched text with the matching words marked.

A snippet is plain text (never HTML-escaped: the text is the shopper's or the assistant's as
stored) in which each matching word is wrapped in :data:`MARK_START` and :data:`MARK_END`
(``<mark>`` … ``</mark>``). A client escapes the text between the marks and renders the marks
as highlighting (docs/api.md, "Search"). PostgreSQL's ``ts_headline`` is given the same marks
(:data:`TS_HEADLINE_OPTIONS`); on SQLite, whose FTS5 index holds stems rather than the text,
:func:`highlight` marks the words whose stem is a query term (the same stemmer as the index).
"""

from __future__ import annotations

import re

from samtale.storage.fulltext import WORD_RE, Analyzer

MARK_START = "<mark>"
"""Opens a matched word in a snippet."""
MARK_END = "</mark>"
"""Closes a matched word in a snippet."""
SNIPPET_WORDS = 30
"""The most words a snippet shows (PostgreSQL: ``MaxWords``)."""
TS_HEADLINE_OPTIONS = f"StartSel={MARK_START}, StopSel={MARK_END}, MaxWords={SNIPPET_WORDS}, MinWords=12, ShortWord=2"
"""``ts_headline`` options that give PostgreSQL's snippets the same marks and length as SQLite's."""
LEAD_WORDS = 4
"""Words kept before the first match, so a snippet does not start on the matched word."""

_SPACE = re.compile(r"\s+")


def highlight(text: str, *, terms: frozenset[str], analyzer: Analyzer, substring: str | None = None) -> str:
    """The snippet of ``text``: up to :data:`SNIPPET_WORDS` words around its densest run of matches.

    Args:
        text: the stored text (a message, a title, a memory).
        terms: the stems to mark (``ParsedQuery.terms``).
        analyzer: the stemmer the index used for ``text``.
        substring: also mark the first case-insensitive occurrence of this text when no word
            matched (a title found by substring).

    Returns:
        The snippet, whitespace collapsed, with ``…`` where the text was cut.
    """
    flat = _SPACE.sub(" ", text).strip()
    words = list(WORD_RE.finditer(flat))
    hits = [index for index, word in enumerate(words) if analyzer.stem(word.group().lower()) in terms]
    if not hits and substring:
        return _mark_substring(flat, substring)
    if not words:
        return flat
    start = _best_start(hits)
    end = min(len(words), start + SNIPPET_WORDS)
    marked = set(hits)
    begin = 0 if start == 0 else words[start].start()
    finish = len(flat) if end == len(words) else words[end - 1].end()
    pieces = ["…" if begin > 0 else ""]
    cursor = begin
    for index in range(start, end):
        if index in marked:
            word = words[index]
            pieces.append(flat[cursor : word.start()])
            pieces.append(f"{MARK_START}{word.group()}{MARK_END}")
            cursor = word.end()
    pieces.append(flat[cursor:finish])
    pieces.append("…" if finish < len(flat) else "")
    return "".join(pieces)


def _best_start(hits: list[int]) -> int:
    """The first word of the window holding the most hits, :data:`LEAD_WORDS` before its first hit."""
    if not hits:
        return 0
    best, best_count = hits[0], 0
    for position, first in enumerate(hits):
        count = sum(1 for later in hits[position:] if later < first + SNIPPET_WORDS - LEAD_WORDS)
        if count > best_count:
            best, best_count = first, count
    return max(0, best - LEAD_WORDS)


def _mark_substring(text: str, substring: str) -> str:
    """``text`` with the first case-insensitive occurrence of ``substring`` marked (unchanged when absent)."""
    needle = substring.strip()
    found = re.search(re.escape(needle), text, re.IGNORECASE) if needle else None
    if found is None:
        return text
    return f"{text[: found.start()]}{MARK_START}{found.group()}{MARK_END}{text[found.end() :]}"
