"""Full-text search storage in the chatbot's language: PostgreSQL ``tsvector`` + GIN, SQLite FTS5.

Three things are searchable: messages, conversation titles and memories. Each stored row
carries the ``language`` of its chatbot at the time it was written (``en`` or ``da``, the
``ChatbotConfig.language``), which picks the stemmer.

**PostgreSQL** (migration 0006): a stored generated ``tsvector`` column per searchable table,
``to_tsvector('danish' | 'english', text)`` chosen by the row's ``language``, with a GIN
index. PostgreSQL keeps it right on every insert and update, so an edited message
(``messages.content`` updated in place) or a renamed conversation is re-indexed by the
database itself. ``ix_messages_search_recent`` on ``messages (chatbot_id, created_at) INCLUDE
(id, session_id, role, search_vector)`` lets a search for a common word walk a chatbot's
newest messages in the index alone and stop at the first thousand matches (about 270 MB per
million messages: a common word in ~10 ms instead of ~40, bench/store_search.py). The columns
and indexes are not in the ORM models (no dialect-neutral type exists); :data:`SEARCH_COLUMNS`
and :data:`SEARCH_INDEXES` name them and :func:`include_object` keeps Alembic's comparison off
them.

**SQLite**: FTS5's own stemmer (porter) is English only, so the text is stemmed here, in
Python, with the Snowball stemmer of the row's language (PyStemmer; the same algorithms as
PostgreSQL's ``english_stem`` and ``danish_stem``, and PostgreSQL's stop words,
:mod:`samtale.storage.stopwords`): *leveringen* and *levering* both become ``levering``. The
stems are kept in a plain table per kind (``message_search_docs``, ``title_search_docs``,
``memory_search_docs``: an ``INTEGER PRIMARY KEY`` that VACUUM never renumbers, the source
row's id with ``ON DELETE CASCADE``, a ``scope`` and the stemmed text), and an external-content
FTS5 table over it (``message_search``, ``title_search``, ``memory_search``) is maintained by
triggers on that table. Deleting a message, conversation or memory deletes its document
(cascade) and with it its FTS entry (trigger). Writing and rewriting documents is
``samtale.conversation.search.indexing``'s job (the recorder, edits, renames, memories).

``scope`` holds tokens that FTS5 intersects with the query inside the index: the chatbot
(:func:`chatbot_scope`) and the shopper (:func:`shopper_scope`). A shopper's search therefore
reads only the shopper's own postings, whatever the size of the store; the SQL around it still
filters on ``chatbot_id`` and user. (A scope token is also a phrase whose document count FTS5's
``bm25()`` computes once per query, by reading its whole posting list: a search names the
narrowest scope it can, the shopper's, and nothing as common as a role.)
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import cache
from typing import Any

import Stemmer
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, Text, UniqueConstraint

from samtale.storage import stopwords

LANGUAGES: dict[str, str] = {"en": "english", "da": "danish"}
"""Chatbot language → the PostgreSQL text search configuration and Snowball stemmer of that name."""

WORD_RE = re.compile(r"[^\W_]+")
"""A word: a run of letters and digits (what FTS5's ``unicode61`` tokenizer keeps as one token)."""

STEM_CACHE_SIZE = 200_000
"""Distinct words whose stems an :class:`Analyzer` remembers before it starts over."""


def text_search_config(language: str) -> str:
    """The PostgreSQL text search configuration of a chatbot language (``da`` → ``danish``; else ``english``)."""
    return LANGUAGES.get(language, "english")


class Analyzer:
    """Turns text into the terms SQLite's index stores: lower case, words, stop words dropped, stemmed.

    PostgreSQL's ``to_tsvector`` does the same for its side (same stop words, same Snowball
    stemmers), so a query finds the same rows on both databases.

    Args:
        language: ``en`` or ``da`` (another value is treated as ``en``).
    """

    def __init__(self, language: str) -> None:
        self.language = language if language in LANGUAGES else "en"
        self._stemmer = Stemmer.Stemmer(LANGUAGES[self.language])
        self._stop = stopwords.DANISH if self.language == "da" else stopwords.ENGLISH
        self._stems: dict[str, str] = {}
        self._lock = threading.Lock()  # a PyStemmer object is not thread-safe

    def words(self, text: str) -> list[str]:
        """The words of ``text``, lower-cased (NFC), stop words kept: what a snippet marks."""
        return WORD_RE.findall(unicodedata.normalize("NFC", text).lower())

    def stem(self, word: str) -> str:
        """The stem of one lower-case word."""
        stem = self._stems.get(word)
        if stem is None:
            with self._lock:
                if len(self._stems) >= STEM_CACHE_SIZE:
                    self._stems.clear()
                stem = self._stems[word] = self._stemmer.stemWord(word)
        return stem

    def is_stop_word(self, word: str) -> bool:
        """Whether a lower-case word is one of the configuration's stop words (never indexed)."""
        return word in self._stop

    def terms(self, text: str) -> list[str]:
        """The index terms of ``text`` in order: its words minus stop words, stemmed."""
        return [self.stem(word) for word in self.words(text) if word not in self._stop]

    def document(self, text: str) -> str:
        """``text`` as the stemmed document SQLite's FTS5 table stores (terms joined by spaces)."""
        return " ".join(self.terms(text))


@cache
def analyzer(language: str) -> Analyzer:
    """The shared :class:`Analyzer` of a chatbot language (``en`` | ``da``)."""
    return Analyzer(language if language in LANGUAGES else "en")


def chatbot_scope(chatbot_id: str) -> str:
    """The scope token of a chatbot: ``c`` + the hex of its id (exact, and one FTS5 token)."""
    return "c" + chatbot_id.encode("utf-8").hex()


def shopper_scope(shopper_id: str) -> str:
    """The scope token of a shopper: ``u`` + their ``users.id`` without hyphens."""
    return "u" + shopper_id.replace("-", "")


# -- SQLite: the stemmed documents behind the FTS5 tables (not ORM models: SQLite only) --------

SEARCH_METADATA = MetaData()
"""The SQLite-only search tables (kept out of ``Base.metadata``; migration 0006 creates them)."""

MESSAGE_DOCS = Table(
    "message_search_docs",
    SEARCH_METADATA,
    Column("id", Integer, primary_key=True),
    Column("message_id", String(36), ForeignKey("messages.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("scope", Text, nullable=False),
    Column("body", Text, nullable=False),
)
"""One stemmed message per row; FTS5 table ``message_search`` (columns ``scope``, ``body``) indexes it."""

TITLE_DOCS = Table(
    "title_search_docs",
    SEARCH_METADATA,
    Column("id", Integer, primary_key=True),
    Column("session_id", String(64), ForeignKey("conversation_sessions.id", ondelete="CASCADE"), nullable=False),
    Column("scope", Text, nullable=False),
    Column("body", Text, nullable=False),
    UniqueConstraint("session_id"),
)
"""One stemmed conversation title per row; FTS5 table ``title_search`` indexes it."""

MEMORY_DOCS = Table(
    "memory_search_docs",
    SEARCH_METADATA,
    Column("id", Integer, primary_key=True),
    Column("memory_id", String(36), ForeignKey("memories.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("scope", Text, nullable=False),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("tags", Text, nullable=False),
)
"""One stemmed memory per row; FTS5 table ``memory_search`` (``scope, question, answer, tags``) indexes it."""

FTS_TABLES = {"message": "message_search", "title": "title_search", "memory": "memory_search"}
"""The SQLite FTS5 table of each searchable kind."""

# -- PostgreSQL: generated tsvector columns and their indexes (not in the ORM models) -----------

SEARCH_COLUMNS = {
    ("messages", "search_vector"),
    ("conversation_sessions", "title_vector"),
    ("memories", "search_vector"),
}
"""The PostgreSQL generated ``tsvector`` columns, as ``(table, column)``."""

SEARCH_INDEXES = frozenset(
    {
        "ix_messages_search",
        "ix_messages_search_recent",
        "ix_conversation_sessions_title_search",
        "ix_conversation_sessions_title_trgm",
        "ix_memories_search",
        "ix_memories_tags",
    }
)
"""PostgreSQL's full-text indexes: GIN per kind, ``ix_messages_search_recent`` (a chatbot's messages newest
first with their ``tsvector``), the title trigram index and the memories' tags index."""

SQLITE_SEARCH_TABLE = re.compile(r"^(message|title|memory)_search(_docs|_data|_idx|_docsize|_config|_content)?$")
"""SQLite tables of full-text search: the documents, the FTS5 tables and FTS5's shadow tables."""


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic's ``include_object`` hook: leave the dialect-specific search objects alone.

    They exist in the database (migration 0006) but not in ``Base.metadata``; without this hook
    ``alembic revision --autogenerate`` would drop them and a schema comparison would list them.
    Anything else, and anything that is in the models, is compared as usual.
    """
    if not reflected or compare_to is not None or name is None:
        return True
    if type_ == "table":
        return not SQLITE_SEARCH_TABLE.match(name)
    if type_ == "column":
        return (getattr(obj.table, "name", None), name) not in SEARCH_COLUMNS
    if type_ == "index":
        return name not in SEARCH_INDEXES
    return True
