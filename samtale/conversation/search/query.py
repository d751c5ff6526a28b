"""Search queries from untrusted input: parsed here, never passed to the database as syntax.

The syntax is PostgreSQL's ``websearch_to_tsquery`` (what a search box accepts): words (all must
match), ``"a quoted phrase"``, ``-word`` or ``-"a phrase"`` to exclude, and ``or`` between two
alternatives. On PostgreSQL the raw text goes to ``websearch_to_tsquery`` as a bound parameter,
which accepts any input without a syntax error. On SQLite :func:`parse` turns it into an FTS5
``MATCH`` expression of quoted stemmed terms only (``"levering" AND "vin"``): every term is a run
of letters and digits inside double quotes, so no input can form an FTS5 operator, a column
filter or an unbalanced quote. The scope tokens that keep a search inside one chatbot and one
shopper are added by the caller, outside the shopper's part.

``any`` mode (memory recall) matches rows holding any of the query's terms, ranked by how well
they match, instead of all of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from samtale.storage.fulltext import Analyzer

MAX_QUERY_CHARS = 200
"""The longest query accepted, in characters (the API refuses longer ones with 422)."""

MatchMode = Literal["all", "any"]
"""``all``: every term (websearch semantics); ``any``: at least one term, the more the better."""

_TOKEN_RE = re.compile(r'(-?)"([^"]*)"?|(\S+)')


@dataclass(frozen=True, slots=True)
class Clause:
    """One phrase of a query: its stems in order (one stem for a single word), and whether it is excluded."""

    stems: tuple[str, ...]
    excluded: bool = False

    def fts5(self) -> str:
        """The clause as an FTS5 phrase: its stems inside double quotes (stems hold letters and digits only)."""
        return '"' + " ".join(stem.replace('"', '""') for stem in self.stems) + '"'


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    """A query as alternatives (``or``) of clauses that must all hold; ``terms`` are the stems to mark in snippets."""

    text: str
    alternatives: tuple[tuple[Clause, ...], ...]

    @property
    def terms(self) -> frozenset[str]:
        """Every stem of a clause that is not excluded (what a snippet marks)."""
        return frozenset(
            stem for clauses in self.alternatives for clause in clauses if not clause.excluded for stem in clause.stems
        )

    @property
    def empty(self) -> bool:
        """True when nothing searchable is left (only stop words, punctuation or exclusions): nothing matches."""
        return not self.terms

    def fts5(self, mode: MatchMode = "all") -> str:
        """The FTS5 expression of the query, for a column filter such as ``body : (…)``.

        ``all``: ``(a AND b NOT c) OR (d)``; ``any``: every term that is not excluded, OR-ed.

        Raises:
            ValueError: the query is :attr:`empty` (the caller returns no results instead).
        """
        if self.empty:
            raise ValueError("an empty query has no FTS5 expression")
        if mode == "any":
            return " OR ".join(f'"{stem}"' for stem in sorted(self.terms))
        groups = []
        for clauses in self.alternatives:
            wanted = [clause.fts5() for clause in clauses if not clause.excluded]
            if not wanted:
                continue
            unwanted = "".join(f" NOT {clause.fts5()}" for clause in clauses if clause.excluded)
            groups.append(f"({' AND '.join(wanted)}{unwanted})")
        return " OR ".join(groups)


def parse(text: str, *, analyzer: Analyzer) -> ParsedQuery:
    """Parse a shopper's or staff member's query with the chatbot's :class:`~samtale.storage.fulltext.Analyzer`.

    Words are lower-cased, stop words dropped and the rest stemmed as the index was (*leveringen*
    → ``levering``); a word that splits into several (``rød-vin``) becomes a phrase. Never raises.
    """
    alternatives: list[tuple[Clause, ...]] = []
    current: list[Clause] = []
    for match in _TOKEN_RE.finditer(text[:MAX_QUERY_CHARS]):
        negated, quoted, bare = match.group(1), match.group(2), match.group(3)
        if bare is not None and bare.lower() == "or":
            if current:
                alternatives.append(tuple(current))
                current = []
            continue
        excluded = bool(negated)
        if bare is not None and bare.startswith("-") and len(bare) > 1:
            excluded, bare = True, bare[1:]
        stems = tuple(analyzer.terms(quoted if quoted is not None else bare or ""))
        if stems:
            current.append(Clause(stems=stems, excluded=excluded))
    if current:
        alternatives.append(tuple(current))
    return ParsedQuery(text=text[:MAX_QUERY_CHARS], alternatives=tuple(alternatives))
