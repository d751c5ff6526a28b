"""Retrieval quality on a question set: hit@1, hit@5 and MRR by document id, overall and per group.

A question file is CSV with the columns ``question`` and ``expected_id`` (the document id: a CSV
row's ``--id-column`` value, or a file's source name). Optional columns:

* ``kind``: a label (``title``, ``description``…); the report breaks the scores down by it;
* ``split``: e.g. ``tune`` / ``held``: the half weights were tuned on and the held-out half,
  reported separately so overfitting shows;
* ``filters``: a JSON object in the filter syntax of :mod:`samtale.knowledge.filters`
  (``{"price": {"lte": 30}}``): the metadata filter the product flow derives from the question
  ("under $30"), applied to the search.

Other columns are ignored. Chunks of the same document count once, at the rank of their best chunk.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from samtale.knowledge.errors import KnowledgeInputError
from samtale.knowledge.filters import Filters
from samtale.knowledge.parsers import read_text_file
from samtale.knowledge.retrieval import Retriever

#: Chunks retrieved per question; MRR counts documents found within them.
EVAL_DEPTH = 10

#: Where a question's metadata filters come from: the file's ``filters`` column, the product
#: flow's question-to-filter rules (:mod:`samtale.knowledge.question_filters`), or nowhere.
FilterSource = Literal["column", "rules", "off"]


@dataclass(frozen=True, slots=True)
class EvalQuestion:
    """A question, the id of the document that answers it, and its optional label, split and filters."""

    question: str
    expected_id: str
    kind: str = ""
    split: str = ""
    filters: Filters | None = None


@dataclass(slots=True)
class Scores:
    """hit@1, hit@5 and MRR (fractions 0..1) over ``questions`` questions."""

    questions: int
    hit_at_1: float
    hit_at_5: float
    mrr: float

    def as_json(self) -> dict[str, float | int]:
        """``{"hit@1", "hit@5", "mrr", "questions"}``, rounded to 4 decimals."""
        return {
            "hit@1": round(self.hit_at_1, 4),
            "hit@5": round(self.hit_at_5, 4),
            "mrr": round(self.mrr, 4),
            "questions": self.questions,
        }


@dataclass(slots=True)
class EvalReport:
    """Scores over a question set, per ``kind`` and per ``split``, and the median search time in ms."""

    questions: int
    hit_at_1: float
    hit_at_5: float
    mrr: float
    median_ms: float
    misses: list[EvalQuestion] = field(default_factory=list)
    by_kind: dict[str, Scores] = field(default_factory=dict)
    by_split: dict[str, Scores] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """``{"hit@1", "hit@5", "mrr", "questions", "median_ms", "by_kind", "by_split"}``."""
        return {
            "hit@1": round(self.hit_at_1, 4),
            "hit@5": round(self.hit_at_5, 4),
            "mrr": round(self.mrr, 4),
            "questions": self.questions,
            "median_ms": round(self.median_ms, 3),
            "by_kind": {name: scores.as_json() for name, scores in self.by_kind.items()},
            "by_split": {name: scores.as_json() for name, scores in self.by_split.items()},
        }


def _filters(raw: str, *, line: int, source: str) -> Filters | None:
    if not raw.strip():
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise KnowledgeInputError(f"{source} line {line}: filters is not JSON ({exc.msg})") from exc
    if not isinstance(value, dict):
        raise KnowledgeInputError(f"{source} line {line}: filters must be a JSON object")
    return value


def load_questions(path: Path) -> list[EvalQuestion]:
    """Read a ``question,expected_id[,kind,split,filters]`` CSV file.

    Raises:
        KnowledgeInputError: the file is unreadable, not UTF-8, lacks a column, has a malformed
            ``filters`` value, or has no rows.
    """
    content = read_text_file(path, source=path.name)
    reader = csv.DictReader(io.StringIO(content, newline=""))
    if not reader.fieldnames or not {"question", "expected_id"} <= set(reader.fieldnames):
        raise KnowledgeInputError(f"{path.name} needs the columns question and expected_id")
    questions = [
        EvalQuestion(
            question=row["question"].strip(),
            expected_id=row["expected_id"].strip(),
            kind=(row.get("kind") or "").strip(),
            split=(row.get("split") or "").strip(),
            filters=_filters(row.get("filters") or "", line=reader.line_num, source=path.name),
        )
        for row in reader
        if (row.get("question") or "").strip()
    ]
    if not questions:
        raise KnowledgeInputError(f"{path.name} has no questions")
    return questions


def _scores(ranks: Sequence[int | None]) -> Scores:
    count = len(ranks)
    if not count:
        return Scores(questions=0, hit_at_1=0.0, hit_at_5=0.0, mrr=0.0)
    return Scores(
        questions=count,
        hit_at_1=sum(1 for rank in ranks if rank == 1) / count,
        hit_at_5=sum(1 for rank in ranks if rank is not None and rank <= 5) / count,
        mrr=sum(1.0 / rank for rank in ranks if rank is not None) / count,
    )


def _grouped(
    questions: Sequence[EvalQuestion], ranks: Sequence[int | None], key: Callable[[EvalQuestion], str]
) -> dict[str, Scores]:
    groups: dict[str, list[int | None]] = {}
    for item, rank in zip(questions, ranks, strict=True):
        if label := key(item):
            groups.setdefault(label, []).append(rank)
    return {label: _scores(found) for label, found in sorted(groups.items())}


async def evaluate(
    *,
    retriever: Retriever,
    chatbot_id: str,
    index_name: str,
    questions: Sequence[EvalQuestion],
    filter_source: FilterSource = "column",
) -> EvalReport:
    """Ask every question of the index and score where its expected document ranks.

    Args:
        retriever: the retriever (its fusion weights are the ones scored).
        chatbot_id: the chatbot owning the index.
        index_name: the index.
        questions: the questions.
        filter_source: ``column`` applies each question's ``filters``; ``rules`` ignores them and
            lets the product flow's rules read the filters from the question ("under $30"), as
            a live turn does; ``off`` searches without filters.

    Raises:
        EmbedderMismatchError: the index was built by another embedder.
        FilterError: a question's filters are malformed.
    """
    ranks: list[int | None] = []
    times: list[float] = []
    misses: list[EvalQuestion] = []
    for item in questions:
        started = time.perf_counter()
        if filter_source == "rules":
            retrieval = await retriever.retrieve(
                chatbot_id=chatbot_id, index_name=index_name, query=item.question, top_k=EVAL_DEPTH
            )
            chunks = retrieval.chunks
        else:
            chunks = await retriever.search(
                chatbot_id=chatbot_id,
                index_name=index_name,
                query=item.question,
                top_k=EVAL_DEPTH,
                filters=item.filters if filter_source == "column" else None,
            )
        times.append((time.perf_counter() - started) * 1000.0)
        documents = list(dict.fromkeys(chunk.document_id for chunk in chunks))
        rank = documents.index(item.expected_id) + 1 if item.expected_id in documents else None
        ranks.append(rank)
        if rank is None or rank > 5:
            misses.append(item)
    overall = _scores(ranks)
    times.sort()
    return EvalReport(
        questions=overall.questions,
        hit_at_1=overall.hit_at_1,
        hit_at_5=overall.hit_at_5,
        mrr=overall.mrr,
        median_ms=times[len(times) // 2] if times else 0.0,
        misses=misses,
        by_kind=_grouped(questions, ranks, lambda item: item.kind),
        by_split=_grouped(questions, ranks, lambda item: item.split),
    )
