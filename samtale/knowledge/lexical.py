"""The lexical side of hybrid retrieval: BM25 over the same chunks as the vectors (``bm25s``).

Shoppers name producers, vintages and grapes ("Rainstorm 2013 Pinot Gris"): words a small
dense model blurs but an exact-term score finds (DESIGN section 9; issue 5 measured dense
MiniLM alone at 66 % top-5 for winery + variety + region questions). Text is folded before
tokenising: lower case, accents removed (``Vulkà`` matches ``vulka``), stop words dropped and
words stemmed with Snowball (PyStemmer), so ``returns`` matches ``returnable``. Numbers are kept
whole (vintages: ``2013``; ``15.5`` stays one term).

Two field-aware signals, as search engines weight a product's name above its description:

* a title field boost (BM25F-style, Robertson et al. 2004, simplified to a weighted sum of per-field
  BM25 scores): the title is indexed again on its own and its score added with ``title_weight``;
* :meth:`LexicalIndex.title_in_query`: whether a chunk's whole title (or the title without a
  trailing parenthetical, "Rainstorm 2013 Pinot Gris") appears word for word in the query, for
  the exact-title bonus of :func:`samtale.knowledge.retrieval.hybrid_search`.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Sequence

import bm25s
import numpy as np
import Stemmer
from bm25s import stopwords as bm25s_stopwords

from samtale.knowledge.vector_store import Mask, Rows, Scores, top_k_of

#: A term: a number with its decimals (``15.5``, ``2013``) or a run of word characters.
_TOKEN_RE = re.compile(r"\d+(?:[.,]\d+)*|\w+")
#: A trailing parenthetical (a wine title's region): ``… Pinot Gris (Willamette Valley)``.
_TRAILING_PARENS_RE = re.compile(r"\s*\([^()]*(?:\([^()]*\)[^()]*)*\)\s*$")
#: Titles shorter than this many words never count as named in a query (too likely by chance).
MIN_TITLE_WORDS = 3

#: Stop-word lists shipped with bm25s, by Snowball language name.
STOPWORDS: dict[str, tuple[str, ...]] = {
    "english": tuple(bm25s_stopwords.STOPWORDS_EN),
    "danish": tuple(bm25s_stopwords.STOPWORDS_DANISH),
    "german": tuple(bm25s_stopwords.STOPWORDS_GERMAN),
    "swedish": tuple(bm25s_stopwords.STOPWORDS_SWEDISH),
    "norwegian": tuple(bm25s_stopwords.STOPWORDS_NORWEGIAN),
}


def fold(text: str) -> str:
    """Lower-case ``text`` and strip accents (NFKD, combining marks dropped)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def phrase(text: str) -> str:
    """``text`` as folded words joined by single spaces, padded with a space on each side.

    ``phrase(title) in phrase(query)`` tests whether the query contains the title word for word,
    ignoring case, accents and punctuation.
    """
    return f" {' '.join(_TOKEN_RE.findall(fold(text)))} "


class Analyzer:
    """Turns text into BM25 terms: fold, split on non-word characters, drop stop words, stem.

    Args:
        language: a Snowball language (``english``, ``danish``…) for stemming and stop words.
    """

    def __init__(self, *, language: str = "english") -> None:
        self.language = language
        self._stemmer = Stemmer.Stemmer(language)
        self._stopwords = frozenset(fold(word) for word in STOPWORDS.get(language, ()))
        self._stems: dict[str, str] = {}
        self._lock = threading.Lock()  # a PyStemmer object is not thread-safe

    def _stem_all(self, words: set[str]) -> None:
        new = [word for word in words if word not in self._stems]
        if new:
            with self._lock:
                self._stems.update(zip(new, self._stemmer.stemWords(new), strict=True))

    def terms(self, text: str) -> list[str]:
        """The terms of one text (query or chunk)."""
        words = [w for w in _TOKEN_RE.findall(fold(text)) if w not in self._stopwords and (len(w) > 1 or w.isdigit())]
        self._stem_all(set(words))
        return [self._stems[word] for word in words]

    def terms_of_many(self, texts: Sequence[str]) -> list[list[str]]:
        """The terms of many texts; each distinct word is stemmed once."""
        split = [
            [w for w in _TOKEN_RE.findall(fold(text)) if w not in self._stopwords and (len(w) > 1 or w.isdigit())]
            for text in texts
        ]
        self._stem_all({word for words in split for word in words})
        return [[self._stems[word] for word in words] for words in split]


class LexicalIndex:
    """BM25 (Lucene variant, k1 = 1.2, b = 0.75) over ``texts``; rows are positions in ``texts``.

    Args:
        texts: one text per chunk (its title and body).
        analyzer: the :class:`Analyzer` used for the chunks and, later, for queries.
        titles: each chunk's title (None where it has none); indexes the title field (see
            ``title_weight`` of :meth:`scores`) and enables :meth:`title_in_query`.
    """

    def __init__(
        self,
        texts: Sequence[str],
        *,
        analyzer: Analyzer,
        titles: Sequence[str | None] | None = None,
    ) -> None:
        self.analyzer = analyzer
        self.size = len(texts)
        self._model = self._index(texts)
        self._title_model: bm25s.BM25 | None = None
        self._title_phrases: list[tuple[str, str]] = []
        if titles is not None:
            if len(titles) != len(texts):
                raise ValueError("titles must have one entry per text")
            self._title_model = self._index([title or "" for title in titles])
            self._title_phrases = [self._phrases(title) for title in titles]

    def _index(self, texts: Sequence[str]) -> bm25s.BM25 | None:
        if not texts:
            return None
        corpus = [terms or [""] for terms in self.analyzer.terms_of_many(texts)]
        model = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
        model.index(corpus, show_progress=False)
        return model

    @staticmethod
    def _phrases(title: str | None) -> tuple[str, str]:
        if not title:
            return ("", "")
        full = phrase(title)
        short = phrase(_TRAILING_PARENS_RE.sub("", title))
        usable = [p if len(p.split()) >= MIN_TITLE_WORDS else "" for p in (full, short)]
        return (usable[0], usable[1] if usable[1] != usable[0] else "")

    def _field_scores(self, model: bm25s.BM25 | None, terms: list[str]) -> Scores | None:
        if model is None:
            return None
        ids = model.get_tokens_ids(terms)
        if not ids:
            return None
        return np.asarray(model.get_scores_from_ids(ids), dtype=np.float32)

    def scores(self, query: str, *, title_weight: float = 0.0) -> Scores:
        """The BM25 score of every row for ``query`` (zeros when no query term is in the index).

        Args:
            query: the question.
            title_weight: weight of the title field's BM25 score added to the text's (0 = none).
        """
        terms = [term for term in self.analyzer.terms(query) if term]
        total = self._field_scores(self._model, terms)
        if total is None:
            total = np.zeros(self.size, dtype=np.float32)
        if title_weight > 0:
            title = self._field_scores(self._title_model, terms)
            if title is not None:
                total = total + np.float32(title_weight) * title
        return total

    def search(
        self, query: str, k: int, *, allowed: Mask | None = None, title_weight: float = 0.0
    ) -> tuple[Scores, Rows]:
        """The ``k`` best rows with a score above zero, best first: ``(BM25 scores, rows)``."""
        scores = self.scores(query, title_weight=title_weight)
        if allowed is not None:
            scores = np.where(allowed, scores, np.float32(0))
        best = top_k_of(scores, k)
        best = best[scores[best] > 0]
        return scores[best], best

    def title_in_query(self, query: str, rows: Sequence[int]) -> dict[int, int]:
        """``{row: words of its title}`` for those ``rows`` whose title the query names word for word.

        The full title or the title without a trailing parenthetical counts; titles of fewer than
        :data:`MIN_TITLE_WORDS` words never do.
        """
        if not self._title_phrases:
            return {}
        asked = phrase(query)
        found: dict[int, int] = {}
        for row in rows:
            full, short = self._title_phrases[row]
            if full and full in asked:
                found[row] = len(full.split())
            elif short and short in asked:
                found[row] = len(short.split())
        return found
