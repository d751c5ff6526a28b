"""The lexical side of hybrid retrieval: BM25 over the same chunks as the vectors (``bm25s``).

Shoppers name producers, vintages and grapes ("Rainstorm 2013 Pinot Gris"): words a small
dense model blurs but an exact-term score finds (DESIGN section 9; issue 5 measured dense
MiniLM alone at 66 % top-5 for winery + variety + region questions). Text is folded before
tokenising: lower case, accents removed (``Vulkà`` matches ``vulka``), stop words dropped and
words stemmed with Snowball (PyStemmer), so ``returns`` matches ``returnable``.
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

_TOKEN_RE = re.compile(r"\w+")

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
    """

    def __init__(self, texts: Sequence[str], *, analyzer: Analyzer) -> None:
        self.analyzer = analyzer
        self.size = len(texts)
        self._model: bm25s.BM25 | None = None
        if texts:
            corpus = [terms or [""] for terms in analyzer.terms_of_many(texts)]
            model = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
            model.index(corpus, show_progress=False)
            self._model = model

    def scores(self, query: str) -> Scores:
        """The BM25 score of every row for ``query`` (zeros when no query term is in the index)."""
        if self._model is None:
            return np.zeros(self.size, dtype=np.float32)
        ids = self._model.get_tokens_ids([term for term in self.analyzer.terms(query) if term])
        if not ids:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._model.get_scores_from_ids(ids), dtype=np.float32)

    def search(self, query: str, k: int, *, allowed: Mask | None = None) -> tuple[Scores, Rows]:
        """The ``k`` best rows with a score above zero, best first: ``(BM25 scores, rows)``."""
        scores = self.scores(query)
        if allowed is not None:
            scores = np.where(allowed, scores, np.float32(0))
        best = top_k_of(scores, k)
        best = best[scores[best] > 0]
        return scores[best], best
