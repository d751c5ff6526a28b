"""Semantic routing: example utterances per route key, embedded once, scored against the message.

Scoring (measured on Bitext, CLINC150 out-of-scope and hand-written shop questions; see the
routing report in ``docs`` / the benchmark): a similarity-weighted vote of the ``k`` nearest
examples (cosine on the local embedder), blended with a logistic-regression head on character
3–5-gram TF-IDF features of the same examples (scikit-learn). The n-gram head catches word
stems the English embedding model does not know (Danish "fragt", "retur"). A message whose
nearest example is less similar than the threshold goes to ``main``.

The threshold, when the config gives none, is calibrated on held-out examples: a fifth of the
examples (stratified, fixed seed) is scored against the rest, and the threshold that routes
the most of them right (below it → ``main``) is kept, the middle of the best range on ties.

Fitted models are cached per process by a hash of the embedder name, the examples and the
settings; example embeddings can also be kept on disk (``cache_dir``) so a restart does not
embed thousands of examples again.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from cachetools import LRUCache
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from samtale.knowledge.embedders import Embedder, Vectors
from samtale.routing.types import MAIN, Vector

THRESHOLD_GRID = np.round(np.arange(0.20, 0.81, 0.01), 2)
CALIBRATION_SHARE = 0.2


@dataclass(frozen=True, slots=True)
class SemanticScores:
    """Scores of one message.

    Attributes:
        scores: blended score per route key (they sum to 1).
        nearest_similarity: cosine similarity of the nearest example (-1–1).
        nearest_example: that example's text.
    """

    scores: dict[str, float]
    nearest_similarity: float
    nearest_example: str

    def ranked(self) -> list[tuple[str, float]]:
        """Route keys by score, best first."""
        return sorted(self.scores.items(), key=lambda item: item[1], reverse=True)

    @property
    def margin(self) -> float:
        """Best minus second-best score (1.0 with a single route key)."""
        ranked = self.ranked()
        return ranked[0][1] - (ranked[1][1] if len(ranked) > 1 else 0.0)


class SemanticModel:
    """Example embeddings and the n-gram head of one chatbot, ready to score messages.

    Build with :func:`fit_semantic_model` (or :func:`get_semantic_model` for the cached one).

    Attributes:
        keys: route keys with examples, in a fixed order.
        threshold: cosine similarity below which a message goes to ``main``.
        calibrated: True when the threshold came from held-out examples, not the config.
    """

    def __init__(
        self,
        *,
        texts: list[str],
        labels: list[str],
        vectors: Vectors,
        k: int,
        lexical_weight: float,
        threshold: float | None,
    ) -> None:
        self.keys = sorted(set(labels))
        self.texts = texts
        self.vectors = vectors
        self.label_index = np.asarray([self.keys.index(label) for label in labels], dtype=np.int64)
        self.k = max(1, min(k, len(texts)))
        self.lexical_weight = lexical_weight if len(self.keys) > 1 else 0.0
        self._lexical: LexicalHead | None = None
        if self.lexical_weight > 0:
            self._lexical = LexicalHead(*_fit_lexical(texts, labels), keys=self.keys)
        self.calibrated = threshold is None
        self.threshold = _calibrate(texts, labels, vectors, k=self.k) if threshold is None else threshold

    def score(self, *, message: str, vector: Vector) -> SemanticScores:
        """Score ``message`` (its embedding ``vector``, shape (dimension,)) against every route key."""
        # einsum, not BLAS: a multi-threaded BLAS matvec is 10x slower on a busy 2-core machine.
        similarities = np.einsum("ij,j->i", self.vectors, vector)
        count = min(self.k, len(similarities))
        nearest = np.argpartition(-similarities, count - 1)[:count]
        votes = np.bincount(
            self.label_index[nearest], weights=np.clip(similarities[nearest], 1e-6, None), minlength=len(self.keys)
        )
        blended = votes / votes.sum()
        if self._lexical is not None:
            blended = (1.0 - self.lexical_weight) * blended + self.lexical_weight * self._lexical.probabilities(message)
        best = int(nearest[np.argmax(similarities[nearest])])
        return SemanticScores(
            scores={key: float(blended[i]) for i, key in enumerate(self.keys)},
            nearest_similarity=float(similarities[best]),
            nearest_example=self.texts[best],
        )


class LexicalHead:
    """The fitted character n-gram head, scored without scikit-learn's per-call overhead.

    ``TfidfVectorizer.transform`` + ``LogisticRegression.predict_proba`` on one short message
    cost about 1 ms (input validation, sparse matrix construction); the same arithmetic on the
    few n-grams a message has costs a tenth of that: count the message's known n-grams, weight
    them ``(1 + log tf) * idf`` (``sublinear_tf``), L2-normalise, multiply by the model's
    coefficients of those n-grams only, add the intercept, softmax (multinomial) or sigmoid
    (two classes). The result equals ``predict_proba`` (tested).

    Args:
        vectorizer: the fitted ``TfidfVectorizer`` (``sublinear_tf=True``, ``norm="l2"``).
        head: the fitted ``LogisticRegression``.
        keys: the route keys in the order probabilities are returned.
    """

    def __init__(self, vectorizer: TfidfVectorizer, head: LogisticRegression, *, keys: list[str]) -> None:
        self._analyze = vectorizer.build_analyzer()
        self._vocabulary: dict[str, int] = {str(gram): int(column) for gram, column in vectorizer.vocabulary_.items()}
        self._idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        classes = [str(label) for label in head.classes_]
        self._order = np.asarray([classes.index(key) for key in keys], dtype=np.int64)
        self._binary = len(classes) == 2
        self._coef = np.ascontiguousarray(head.coef_.T, dtype=np.float64)  # (features, 1 or classes)
        self._intercept = np.asarray(head.intercept_, dtype=np.float64)

    def probabilities(self, message: str) -> npt.NDArray[np.float64]:
        """Class probabilities of ``message``, in the order of ``keys`` (they sum to 1)."""
        counts: dict[int, int] = {}
        vocabulary = self._vocabulary
        for gram in self._analyze(message):
            column = vocabulary.get(gram)
            if column is not None:
                counts[column] = counts.get(column, 0) + 1
        logits = self._intercept.copy()
        if counts:
            columns = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            values = (1.0 + np.log(tf)) * self._idf[columns]
            values /= np.sqrt(values @ values)
            logits += values @ self._coef[columns]
        if self._binary:
            positive = 1.0 / (1.0 + np.exp(-logits[0]))
            probabilities = np.asarray([1.0 - positive, positive])
        else:
            exponentials = np.exp(logits - logits.max())
            probabilities = exponentials / exponentials.sum()
        ordered: npt.NDArray[np.float64] = probabilities[self._order]
        return ordered


def _fit_lexical(texts: list[str], labels: list[str]) -> tuple[TfidfVectorizer, LogisticRegression]:
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, lowercase=True)
    features = vectorizer.fit_transform(texts)
    head = LogisticRegression(C=10.0, max_iter=3000)
    head.fit(features, labels)
    return vectorizer, head


def _calibrate(texts: list[str], labels: list[str], vectors: Vectors, *, k: int) -> float:
    """The threshold that routes the most held-out examples right (see the module docstring)."""
    counts = {label: labels.count(label) for label in set(labels)}
    if len(counts) < 2 or min(counts.values()) < 2 or len(texts) < 10:
        return 0.5
    indices = np.arange(len(texts))
    fit_part, held_out = train_test_split(
        indices, test_size=CALIBRATION_SHARE, random_state=0, stratify=np.asarray(labels)
    )
    fitted = SemanticModel(
        texts=[texts[i] for i in fit_part],
        labels=[labels[i] for i in fit_part],
        vectors=vectors[fit_part],
        k=k,
        lexical_weight=0.0,
        threshold=0.0,
    )
    predictions: list[str] = []
    nearest: list[float] = []
    for i in held_out:
        scores = fitted.score(message=texts[i], vector=vectors[i])
        predictions.append(scores.ranked()[0][0])
        nearest.append(scores.nearest_similarity)
    truth = [labels[i] for i in held_out]
    similarity = np.asarray(nearest)
    accuracy = []
    for threshold in THRESHOLD_GRID:
        routed = [p if s >= threshold else MAIN for p, s in zip(predictions, similarity, strict=True)]
        accuracy.append(np.mean([r == t for r, t in zip(routed, truth, strict=True)]))
    grid_accuracy = np.asarray(accuracy)
    best = np.flatnonzero(grid_accuracy >= grid_accuracy.max() - 1e-9)
    return float(THRESHOLD_GRID[best[len(best) // 2]])


def examples_hash(*, embedder_name: str, examples: Mapping[str, list[str]], k: int, lexical_weight: float) -> str:
    """A stable SHA-256 of everything a fitted model depends on (threshold aside)."""
    document = {
        "embedder": embedder_name,
        "examples": {key: list(examples[key]) for key in sorted(examples)},
        "k": k,
        "lexical_weight": lexical_weight,
    }
    return hashlib.sha256(json.dumps(document, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def flatten_examples(examples: Mapping[str, list[str]]) -> tuple[list[str], list[str]]:
    """``(texts, labels)`` of ``examples``; blank and repeated utterances of a key are dropped."""
    texts: list[str] = []
    labels: list[str] = []
    for key in sorted(examples):
        seen: set[str] = set()
        for utterance in examples[key]:
            text = utterance.strip()
            if text and text.lower() not in seen:
                seen.add(text.lower())
                texts.append(text)
                labels.append(key)
    return texts, labels


_models: LRUCache[str, SemanticModel] = LRUCache(maxsize=32)
_models_lock = threading.Lock()


def _embed_examples(embedder: Embedder, texts: list[str], digest: str, cache_dir: Path | None) -> Vectors:
    path = cache_dir / f"routing-{digest[:32]}.npy" if cache_dir is not None else None
    if path is not None and path.exists():
        stored = np.load(path)
        if stored.shape == (len(texts), embedder.dimension):
            return np.ascontiguousarray(stored, dtype=np.float32)
    vectors = embedder.embed_sync(texts)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
    return vectors


def get_semantic_model(
    *,
    embedder: Embedder,
    examples: Mapping[str, list[str]],
    k: int = 5,
    lexical_weight: float = 0.5,
    threshold: float | None = None,
    cache_dir: Path | None = None,
) -> SemanticModel:
    """The fitted model for ``examples``, from the process cache when the same examples were fitted.

    Blocking: embeds every example on a cache miss (about 3 ms per example on 2 cores), so call
    it from a worker thread inside an event loop (:meth:`samtale.routing.router.Router.build` does).

    Args:
        embedder: the local embedder (its ``embed_sync`` is used).
        examples: utterances per route key.
        k: neighbours in the kNN vote.
        lexical_weight: weight of the character n-gram head (0–1).
        threshold: a fixed threshold, or None to calibrate on held-out examples.
        cache_dir: folder for example embeddings (``routing-<hash>.npy``), or None.
    """
    digest = examples_hash(embedder_name=embedder.name, examples=examples, k=k, lexical_weight=lexical_weight)
    cache_key = f"{digest}:{threshold}"
    with _models_lock:
        model = _models.get(cache_key)
        if model is not None:
            return model
        texts, labels = flatten_examples(examples)
        vectors = _embed_examples(embedder, texts, digest, cache_dir)
        model = SemanticModel(
            texts=texts, labels=labels, vectors=vectors, k=k, lexical_weight=lexical_weight, threshold=threshold
        )
        _models[cache_key] = model
        return model
