"""Topic evaluation: classify labelled questions and compare with the expected topic.

Figures: ``n``, ``accuracy``, ``by_language`` (accuracy per ``language`` column value), the
confusion matrix (``confusion[expected][decided]``), how many results each source decided, and up
to 30 misclassified questions for reading.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from samtale.analytics.topics import TopicClassifier
from samtale.errors import InputError


class TopicDataError(InputError):
    """The labelled CSV cannot be read or names a topic the chatbot does not have."""

    code = "topic_data_invalid"


@dataclass(frozen=True, slots=True)
class LabelledQuestion:
    """One row of an evaluation CSV: the question, its expected topic and its language (or None)."""

    utterance: str
    topic: str
    language: str | None


def read_topic_csv(path: Path) -> list[LabelledQuestion]:
    """Read a CSV with the columns ``utterance,topic`` and optionally ``language``.

    Raises:
        TopicDataError: the file is missing, has no such columns or no rows.
    """
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            columns = set(reader.fieldnames or [])
            if not {"utterance", "topic"} <= columns:
                raise TopicDataError(f"{path}: the CSV needs the columns utterance,topic (optional language)")
            rows = [
                LabelledQuestion(
                    utterance=row["utterance"].strip(),
                    topic=row["topic"].strip(),
                    language=(row.get("language") or "").strip() or None,
                )
                for row in reader
                if (row.get("utterance") or "").strip()
            ]
    except OSError as exc:
        raise TopicDataError(f"{path}: {exc.strerror or exc}") from exc
    if not rows:
        raise TopicDataError(f"{path}: no questions")
    return rows


@dataclass(frozen=True, slots=True)
class TopicEvaluation:
    """The result of :func:`evaluate_topics` (see the module docstring)."""

    n: int
    accuracy: float
    by_language: dict[str, float]
    confusion: dict[str, dict[str, int]]
    sources: dict[str, int]
    errors: list[dict[str, str]]

    def as_json(self) -> dict[str, Any]:
        """``{n, accuracy, by_language, confusion, sources, errors}`` with figures rounded to 4 places."""
        return {
            "n": self.n,
            "accuracy": round(self.accuracy, 4),
            "by_language": {language: round(value, 4) for language, value in self.by_language.items()},
            "confusion": self.confusion,
            "sources": self.sources,
            "errors": self.errors,
        }


def evaluate_topics(*, classifier: TopicClassifier, rows: list[LabelledQuestion]) -> TopicEvaluation:
    """Classify every row (in one batch; CPU work, call off the event loop) and compute the figures.

    Raises:
        TopicDataError: a row's topic is not one of the classifier's topics.
    """
    unknown = sorted({row.topic for row in rows} - set(classifier.names))
    if unknown:
        raise TopicDataError(f"the data names topics the chatbot does not have: {', '.join(unknown)}")
    results = classifier.classify_many([row.utterance for row in rows])
    confusion = {name: {other: 0 for other in classifier.names} for name in classifier.names}
    sources: dict[str, int] = {}
    per_language: dict[str, list[int]] = {}
    errors: list[dict[str, str]] = []
    correct = 0
    for row, result in zip(rows, results, strict=True):
        decided = result.topic or ""
        confusion[row.topic][decided] = confusion[row.topic].get(decided, 0) + 1
        sources[result.source] = sources.get(result.source, 0) + 1
        hit = int(decided == row.topic)
        correct += hit
        if row.language is not None:
            per_language.setdefault(row.language, []).append(hit)
        if not hit and len(errors) < 30:
            errors.append({"utterance": row.utterance, "expected": row.topic, "decided": decided})
    return TopicEvaluation(
        n=len(rows),
        accuracy=correct / len(rows) if rows else 0.0,
        by_language={language: sum(hits) / len(hits) for language, hits in sorted(per_language.items())},
        confusion=confusion,
        sources=sources,
        errors=errors,
    )
