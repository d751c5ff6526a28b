"""Retrieval quality on a question set: hit@1, hit@5 and MRR by document id.

A question file is CSV with the columns ``question`` and ``expected_id`` (the document id: a CSV
row's ``--id-column`` value, or a file's source name); other columns are ignored. Chunks of
the same document count once, at the rank of their best chunk.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from samtale.knowledge.errors import KnowledgeInputError
from samtale.knowledge.parsers import read_text_file
from samtale.knowledge.retrieval import Retriever

#: Chunks retrieved per question; MRR counts documents found within them.
EVAL_DEPTH = 10


@dataclass(frozen=True, slots=True)
class EvalQuestion:
    """A question and the id of the document that answers it."""

    question: str
    expected_id: str


@dataclass(slots=True)
class EvalReport:
    """Scores over a question set (fractions 0..1) and the median search time in ms."""

    questions: int
    hit_at_1: float
    hit_at_5: float
    mrr: float
    median_ms: float
    misses: list[EvalQuestion] = field(default_factory=list)

    def as_json(self) -> dict[str, float | int]:
        """The report as ``{"hit@1", "hit@5", "mrr", "questions", "median_ms"}``."""
        return {
            "hit@1": round(self.hit_at_1, 4),
            "hit@5": round(self.hit_at_5, 4),
            "mrr": round(self.mrr, 4),
            "questions": self.questions,
            "median_ms": round(self.median_ms, 3),
        }


def load_questions(path: Path) -> list[EvalQuestion]:
    """Read a ``question,expected_id`` CSV file.

    Raises:
        KnowledgeInputError: the file is unreadable, not UTF-8, lacks a column, or has no rows.
    """
    content = read_text_file(path, source=path.name)
    reader = csv.DictReader(io.StringIO(content, newline=""))
    if not reader.fieldnames or not {"question", "expected_id"} <= set(reader.fieldnames):
        raise KnowledgeInputError(f"{path.name} needs the columns question and expected_id")
    questions = [
        EvalQuestion(question=row["question"].strip(), expected_id=row["expected_id"].strip())
        for row in reader
        if (row.get("question") or "").strip()
    ]
    if not questions:
        raise KnowledgeInputError(f"{path.name} has no questions")
    return questions


async def evaluate(
    *, retriever: Retriever, chatbot_id: str, index_name: str, questions: Sequence[EvalQuestion]
) -> EvalReport:
    """Ask every question of the index and score where its expected document ranks."""
    hits_1 = hits_5 = 0
    reciprocal = 0.0
    times: list[float] = []
    misses: list[EvalQuestion] = []
    for item in questions:
        started = time.perf_counter()
        chunks = await retriever.search(
            chatbot_id=chatbot_id, index_name=index_name, query=item.question, top_k=EVAL_DEPTH
        )
        times.append((time.perf_counter() - started) * 1000.0)
        documents = list(dict.fromkeys(chunk.document_id for chunk in chunks))
        if item.expected_id in documents:
            rank = documents.index(item.expected_id) + 1
            hits_1 += rank == 1
            hits_5 += rank <= 5
            reciprocal += 1.0 / rank
        if item.expected_id not in documents[:5]:
            misses.append(item)
    count = len(questions)
    times.sort()
    return EvalReport(
        questions=count,
        hit_at_1=hits_1 / count if count else 0.0,
        hit_at_5=hits_5 / count if count else 0.0,
        mrr=reciprocal / count if count else 0.0,
        median_ms=times[len(times) // 2] if times else 0.0,
        misses=misses,
    )
