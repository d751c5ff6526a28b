"""Topic of a shopper's question (the seeds' *emne*): one of the chatbot's ``topics``.

Offline (:class:`TopicClassifier`) the topic is decided from what the chatbot's config gives, in
English and Danish alike:

* a logistic-regression head on TF-IDF features of the topics' example questions and
  descriptions: character 2–5-grams within words (Danish compounds such as "returfragt" or
  "leveringstid" share stems with "retur" and "levering", misspellings keep most of their
  n-grams) joined with word uni- and bigrams;
* with a multilingual embedder (``analytics_embedder=multilingual``,
  :mod:`samtale.analytics.embedding`): a similarity-weighted vote of the ``EMBEDDING_K`` nearest
  examples, averaged half and half with the n-gram head (measured on the dev set: English
  0.77 → 0.90, Danish 0.78 → 0.86);
* the topics' keyword rules (regular expressions): each topic with a match gets
  ``keyword_weight`` added to its probability before the result is normalised again, so a rule
  decides unless the examples strongly disagree.

The knowledge embedder (all-MiniLM-L6-v2) is not used: it is English-only (nearest topic
description on real Danish shop questions: 0.11 accuracy, issue 15). Without an embedder the
n-gram head and rules classify thousands of questions/s in batches on one core
(``bench/analytics.py``); the embedder costs 7–15 ms a question.

With an LLM configured for the chatbot, :class:`LLMTopicClassifier` asks it for one topic name
by structured output (a JSON schema whose ``topic`` is an enum of the names) and falls back to
the offline result when the answer is not a topic or the call fails.

Every result carries ``confidence`` (0–1) and ``source``: ``keywords``, ``examples``, ``llm``, or
``none`` for a chatbot without topics.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
from cachetools import LRUCache
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from samtale.chatbots.schema import TopicConfig
from samtale.errors import SamtaleError
from samtale.llm.base import ChatMessage, GenerationRequest, LLMProvider

TopicSource = Literal["keywords", "examples", "llm", "none"]
KEYWORD_WEIGHT = 0.6
"""Probability added to each topic whose keyword rule matches (tuned on the dev set)."""
EMBEDDING_K = 5
"""Nearest examples that vote (multilingual embedder)."""
EMBEDDING_TEMPERATURE = 0.05
"""Softness of the vote: an example's weight is exp((similarity - best similarity) / this)."""
EMBEDDING_WEIGHT = 0.5
"""Share of the embedding vote in the blend with the n-gram head."""


class TextEmbedder(Protocol):
    """Anything with a blocking ``embed_sync(texts) -> (n, d)`` of L2-normalised rows."""

    name: str

    def embed_sync(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]: ...


@dataclass(frozen=True, slots=True)
class TopicResult:
    """The topic of one question.

    Attributes:
        topic: the topic's name, or None when the chatbot has no topics.
        confidence: the winner's probability after keywords were added (0–1); 1.0 from an LLM.
        source: ``keywords`` (a keyword rule of the winner matched), ``examples`` (the n-gram
            head alone), ``llm`` or ``none``.
    """

    topic: str | None
    confidence: float
    source: TopicSource


NO_TOPIC = TopicResult(topic=None, confidence=0.0, source="none")


def _training_texts(topics: Sequence[TopicConfig]) -> tuple[list[str], list[str]]:
    """Every example and each half of each description (``English / Danish``), with its topic."""
    texts: list[str] = []
    labels: list[str] = []
    for topic in topics:
        parts = [part.strip() for part in topic.description.split(" / ") if part.strip()]
        for text in [*topic.examples, *parts, topic.name.replace("_", " ")]:
            texts.append(text)
            labels.append(topic.name)
    return texts, labels


class TopicClassifier:
    """The offline topic classifier of one chatbot (see the module docstring).

    Args:
        topics: the chatbot's ``topics`` (at least one; a single topic always wins).
        keyword_weight: probability added per matching keyword rule's topic.
        embedder: the multilingual embedder whose nearest-example vote joins the n-gram head,
            or None (n-grams and keywords only).

    Fitting takes about 2 s for twelve topics of 24 examples (5 s more with the embedder); use
    :func:`get_topic_classifier` for the cached one. :meth:`classify_many` is CPU work: call it off the event loop.
    """

    def __init__(
        self,
        topics: Sequence[TopicConfig],
        *,
        keyword_weight: float = KEYWORD_WEIGHT,
        embedder: TextEmbedder | None = None,
    ) -> None:
        self.names = [topic.name for topic in topics]
        self.keyword_weight = keyword_weight
        self.embedder = embedder
        self._keywords = [[re.compile(pattern, re.IGNORECASE) for pattern in topic.keywords] for topic in topics]
        self._chars: TfidfVectorizer | None = None
        self._words: TfidfVectorizer | None = None
        self._head: LogisticRegression | None = None
        self._order: np.ndarray[Any, np.dtype[np.int64]] | None = None
        texts, labels = _training_texts(topics)
        if len(set(labels)) > 1:
            self._chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)
            self._words = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True)
            features = hstack([self._chars.fit_transform(texts), self._words.fit_transform(texts)]).tocsr()
            self._head = LogisticRegression(C=20.0, max_iter=5000)
            self._head.fit(features, labels)
            classes = [str(label) for label in self._head.classes_]
            self._order = np.asarray([classes.index(name) for name in self.names], dtype=np.int64)
        self._example_vectors: np.ndarray[Any, np.dtype[np.float32]] | None = None
        self._example_labels = np.asarray([self.names.index(label) for label in labels], dtype=np.int64)
        if embedder is not None and len(self.names) > 1:
            self._example_vectors = embedder.embed_sync(texts)

    def embedding_votes(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float64]] | None:
        """The nearest-example vote per topic, shape (len(texts), topics), or None without an embedder."""
        if self.embedder is None or self._example_vectors is None:
            return None
        similarities = self.embedder.embed_sync(texts) @ self._example_vectors.T
        votes = np.zeros((len(texts), len(self.names)), dtype=np.float64)
        count = min(EMBEDDING_K, similarities.shape[1])
        for row, scores in enumerate(similarities):
            nearest = np.argpartition(-scores, count - 1)[:count]
            weights = np.exp((scores[nearest] - scores[nearest].max()) / EMBEDDING_TEMPERATURE)
            np.add.at(votes[row], self._example_labels[nearest], weights)
            votes[row] /= votes[row].sum()
        return votes

    def probabilities(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
        """The n-gram head's probabilities, shape (len(texts), topics), in the order of ``names``."""
        if self._head is None or self._chars is None or self._words is None or self._order is None:
            return np.ones((len(texts), len(self.names)), dtype=np.float64)
        features = hstack([self._chars.transform(texts), self._words.transform(texts)]).tocsr()
        probabilities: np.ndarray[Any, np.dtype[np.float64]] = self._head.predict_proba(features)[:, self._order]
        return probabilities

    def keyword_hits(self, text: str) -> list[int]:
        """Indexes (into ``names``) of the topics with a keyword rule found in ``text``."""
        return [index for index, patterns in enumerate(self._keywords) if any(p.search(text) for p in patterns)]

    def classify_many(self, texts: Sequence[str], *, embed: bool = True) -> list[TopicResult]:
        """The topic of each text, in order (see the module docstring for how it is decided).

        Args:
            embed: use the embedder's vote when there is one; False classifies by n-grams and
                keywords alone (the worker's choice when it has fallen behind).
        """
        if not self.names or not texts:
            return [NO_TOPIC for _ in texts]
        probabilities = self.probabilities(texts)
        votes = self.embedding_votes(texts) if embed else None
        if votes is not None:
            probabilities = EMBEDDING_WEIGHT * votes + (1.0 - EMBEDDING_WEIGHT) * probabilities
        results: list[TopicResult] = []
        for text, row in zip(texts, probabilities, strict=True):
            hits = self.keyword_hits(text)
            combined = row.copy()
            if hits:
                combined[hits] += self.keyword_weight
                combined /= combined.sum()
            best = int(np.argmax(combined))
            results.append(
                TopicResult(
                    topic=self.names[best],
                    confidence=round(float(combined[best]), 4),
                    source="keywords" if best in hits else "examples",
                )
            )
        return results

    def classify(self, text: str) -> TopicResult:
        """The topic of one text (:meth:`classify_many` of one)."""
        return self.classify_many([text])[0]


_CACHE: LRUCache[str, TopicClassifier] = LRUCache(maxsize=64)
_CACHE_LOCK = threading.Lock()


def topics_fingerprint(topics: Sequence[TopicConfig], *, embedder: str | None = None) -> str:
    """A hash of the topics (names, descriptions, examples, keywords) and the embedder's name:
    the classifier cache key."""
    document = json.dumps(
        {"topics": [topic.model_dump() for topic in topics], "embedder": embedder}, sort_keys=True, ensure_ascii=False
    )
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


def get_topic_classifier(topics: Sequence[TopicConfig], *, embedder: TextEmbedder | None = None) -> TopicClassifier:
    """The fitted classifier of ``topics``, fitted once per process (CPU work: call off the loop).

    Raises:
        AnalyticsEmbedderError: the embedder could not be loaded.
    """
    key = topics_fingerprint(topics, embedder=embedder.name if embedder is not None else None)
    with _CACHE_LOCK:
        found = _CACHE.get(key)
    if found is not None:
        return found
    classifier = TopicClassifier(topics, embedder=embedder)
    with _CACHE_LOCK:
        _CACHE[key] = classifier
    return classifier


def topic_schema(names: Sequence[str]) -> dict[str, Any]:
    """An OpenAI ``response_format`` asking for ``{"topic": <one of names>}``."""
    return {
        "type": "json_schema",
        "json_schema": {
            "name": "topic",
            "strict": True,
            "schema": {
                "type": "object",
                "properties": {"topic": {"type": "string", "enum": list(names)}},
                "required": ["topic"],
                "additionalProperties": False,
            },
        },
    }


def parse_topic(answer: str, names: Sequence[str]) -> str | None:
    """The topic an LLM's answer names: exactly a name, or ``{"topic": name}``; else None."""
    text = answer.strip()
    if text in names:
        return text
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError:
            return None
        if isinstance(document, dict) and document.get("topic") in names:
            return str(document["topic"])
    return None


class LLMTopicClassifier:
    """Topic by the chatbot's LLM (structured output), the offline classifier as fallback.

    Args:
        topics: the chatbot's topics.
        provider: the chatbot's LLM provider; ``model`` the model to ask (None: the provider's).
        offline: the offline classifier used when the LLM gives no valid topic.
    """

    def __init__(
        self,
        *,
        topics: Sequence[TopicConfig],
        provider: LLMProvider,
        model: str | None,
        offline: TopicClassifier,
    ) -> None:
        self.names = [topic.name for topic in topics]
        self.provider = provider
        self.model = model
        self.offline = offline
        lines = [f"- {topic.name}: {topic.description}" for topic in topics]
        self._instructions = (
            "Classify the customer's message to a web shop into exactly one topic. "
            'Answer with JSON {"topic": "<name>"} naming one of these topics:\n' + "\n".join(lines)
        )

    async def classify(self, text: str) -> TopicResult:
        """Ask the LLM for the topic of ``text``; on an error or an invalid answer, the offline one.

        The offline fallback is CPU work of about 0.1 ms for one text and runs inline.
        """
        request = GenerationRequest(
            messages=[
                ChatMessage(role="system", content=self._instructions),
                ChatMessage(role="user", content=text),
            ],
            question=text,
            model=self.model,
            temperature=0.0,
            max_tokens=30,
            response_format=topic_schema(self.names),
        )
        try:
            completion = await self.provider.complete(request)
        except SamtaleError:
            return self.offline.classify(text)
        topic = parse_topic(completion.text, self.names)
        if topic is None:
            return self.offline.classify(text)
        return TopicResult(topic=topic, confidence=1.0, source="llm")
