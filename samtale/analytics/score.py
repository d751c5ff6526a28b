"""Score of a turn (the seeds' *score*): how well the shopper's question was answered, 1–5.

Rubric (the same words are given to an LLM judge):

* **5**: fully answered: grounded in a knowledge source that matched well (best retrieval score
  ≥ ``STRONG_SCORE``), or the shopper's verified order was looked up and shown; or the shopper
  gave a thumbs-up.
* **4**: answered, grounded in a source that matched moderately (≥ ``WEAK_SCORE``), or small
  talk (topic ``other``) answered without needing a source.
* **3**: an answer with weak or no grounding on a question that needed one, or an order-flow
  turn that asked for the order number or a second factor rather than showing an order.
* **2**: not answered: the answer says it found nothing / does not know ("I could not find",
  "kunne ikke finde" …), or the shopper had to repeat the question or asked for a person in the
  next turn (each of these takes one point off, never below 1).
* **1**: failed: the turn ended in an error or fell back to the error message, or the shopper
  gave a thumbs-down.

Offline (:func:`heuristic_score`) the score comes from the signals the engine has
(:class:`TurnSignals`); ``score_source`` is ``heuristic``. With an LLM configured,
:func:`llm_score` asks the model with the rubric for ``{"score": 1-5}`` (source ``llm``) and falls
back to the heuristic. Later feedback on the message overrides both (source ``feedback``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from samtale.errors import SamtaleError
from samtale.llm.base import ChatMessage, GenerationRequest, LLMProvider

ScoreSource = Literal["heuristic", "llm", "feedback"]
STRONG_SCORE = 0.55
"""Best retrieval score (fused, 0–1) from which a grounded answer counts as fully answered."""
WEAK_SCORE = 0.30
"""Best retrieval score below which a question counts as a knowledge gap."""

NOT_ANSWERED = re.compile(
    r"\b(could not find|couldn'?t find|can'?t find|i don'?t know|i do not know|not sure|no information|"
    r"kunne (desværre )?ikke finde|kan ikke finde|ved det ikke|ved ikke|ingen oplysninger|er ikke sikker)\b",
    re.IGNORECASE,
)
"""An answer saying it has nothing (the offline answerer's "nothing" phrase in both languages, and
the usual wordings of a model)."""

ASKS_FOR_PERSON = re.compile(
    r"\b(human|real person|someone real|an agent|customer service|speak to|talk to|"
    r"menneske|rigtig person|medarbejder|kundeservice|tale med)\b",
    re.IGNORECASE,
)
"""A next message asking for a person rather than the chatbot."""


@dataclass(frozen=True, slots=True)
class TurnSignals:
    """What the engine knows about one turn, for the heuristic score.

    Attributes:
        status: the turn's status (``ok``, ``error`` …); ``error_category`` set on a failure.
        answer: the assistant's answer text.
        best_score: the best retrieval score of the sources used (0–1), None with no retrieval.
        sources: how many knowledge chunks grounded the answer.
        order_shown: the turn showed a verified order (an ``order`` event).
        order_flow: the turn ran in the order flow (``apiflow``).
        topic: the turn's topic, if known (``other`` needs no source).
        repeated: the shopper's next message repeated this question.
        asked_for_person: the shopper's next message asked for a person.
        feedback: the shopper's rating of the answer, ``up`` or ``down``, if any.
    """

    status: str
    answer: str
    best_score: float | None = None
    sources: int = 0
    order_shown: bool = False
    order_flow: bool = False
    topic: str | None = None
    error_category: str | None = None
    repeated: bool = False
    asked_for_person: bool = False
    feedback: str | None = None


WORD = re.compile(r"\w+")
REPEAT_SIMILARITY = 0.6
"""Word-set Jaccard similarity from which a next question counts as the same question again."""


def is_repeat(question: str, earlier: str) -> bool:
    """True when ``question`` asks ``earlier`` again: their lower-cased word sets overlap by
    :data:`REPEAT_SIMILARITY` or more (Jaccard), and the question has at least three words."""
    words = set(WORD.findall(question.lower()))
    before = set(WORD.findall(earlier.lower()))
    if len(words) < 3 or not before:
        return False
    return len(words & before) / len(words | before) >= REPEAT_SIMILARITY


def answered_nothing(answer: str) -> bool:
    """True when the answer says it found nothing or does not know (:data:`NOT_ANSWERED`)."""
    return NOT_ANSWERED.search(answer) is not None


def heuristic_score(signals: TurnSignals) -> tuple[int, ScoreSource]:
    """The rubric's score of a turn from its signals, and its source (``heuristic`` | ``feedback``)."""
    if signals.feedback == "down":
        return 1, "feedback"
    if signals.feedback == "up":
        return 5, "feedback"
    if signals.status != "ok" or signals.error_category is not None:
        return 1, "heuristic"
    if answered_nothing(signals.answer):
        score = 2
    elif signals.order_shown:
        score = 5
    elif signals.order_flow:
        score = 3
    elif signals.sources and signals.best_score is not None and signals.best_score >= STRONG_SCORE:
        score = 5
    elif signals.sources and signals.best_score is not None and signals.best_score >= WEAK_SCORE:
        score = 4
    elif signals.topic == "other":
        score = 4
    else:
        score = 3
    if signals.repeated:
        score -= 1
    if signals.asked_for_person:
        score -= 1
    return max(1, score), "heuristic"


RUBRIC = (
    "Score how well the assistant of a web shop answered the customer, from 1 to 5: "
    "5 = fully answered from the shop's information or order; 4 = answered, with moderate support; "
    "3 = an answer without the information the question needed, or asking for details; "
    "2 = not answered (says it does not know or found nothing); 1 = failed or wrong. "
    'Answer with JSON {"score": <1-5>}.'
)

SCORE_SCHEMA: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {
        "name": "score",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"score": {"type": "integer", "enum": [1, 2, 3, 4, 5]}},
            "required": ["score"],
            "additionalProperties": False,
        },
    },
}


def parse_score(answer: str) -> int | None:
    """The 1–5 score an LLM's answer gives: a bare digit or ``{"score": n}``; else None."""
    text = answer.strip()
    if text in {"1", "2", "3", "4", "5"}:
        return int(text)
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError:
            return None
        value = document.get("score") if isinstance(document, dict) else None
        if isinstance(value, int) and 1 <= value <= 5:
            return value
    return None


async def llm_score(
    *, provider: LLMProvider, model: str | None, question: str, signals: TurnSignals
) -> tuple[int, ScoreSource]:
    """The LLM judge's score of the turn with :data:`RUBRIC`; the heuristic one on an error or an
    answer that is not a score. Feedback and failed turns are scored by the heuristic alone."""
    if signals.feedback is not None or signals.status != "ok":
        return heuristic_score(signals)
    request = GenerationRequest(
        messages=[
            ChatMessage(role="system", content=RUBRIC),
            ChatMessage(role="user", content=f"Customer: {question}\n\nAssistant: {signals.answer}"),
        ],
        question=question,
        model=model,
        temperature=0.0,
        max_tokens=20,
        response_format=SCORE_SCHEMA,
    )
    try:
        completion = await provider.complete(request)
    except SamtaleError:
        return heuristic_score(signals)
    score = parse_score(completion.text)
    if score is None:
        return heuristic_score(signals)
    return score, "llm"
