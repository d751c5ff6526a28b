"""Routing evaluation: route labelled utterances and compare with the expected flow.

Figures: accuracy, precision and recall per route key, the confusion matrix (expected →
decided) and the latency of one decision (p50, p95 in ms, query embedding included, one
message at a time as in a conversation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from samtale.routing.examples import LabelledUtterance
from samtale.routing.router import Router


@dataclass(frozen=True, slots=True)
class FlowFigures:
    """Precision, recall and support (expected count) of one route key."""

    precision: float
    recall: float
    support: int


@dataclass(frozen=True, slots=True)
class EvaluationReport:
    """The result of :func:`evaluate_router`.

    Attributes:
        total: utterances routed.
        accuracy: share routed to the expected route key (0–1).
        per_flow: figures per route key (every expected or decided key).
        confusion: ``confusion[expected][decided]`` counts.
        latency_p50_ms, latency_p95_ms: per-decision latency percentiles in milliseconds.
        strategies: how many decisions each strategy made.
        errors: up to 20 misrouted ``(utterance, expected, decided)`` for reading.
    """

    total: int
    accuracy: float
    per_flow: dict[str, FlowFigures]
    confusion: dict[str, dict[str, int]]
    latency_p50_ms: float
    latency_p95_ms: float
    strategies: dict[str, int]
    errors: list[tuple[str, str, str]]

    def as_json(self) -> dict[str, Any]:
        """The report as a JSON object (``accuracy``, ``per_flow``, ``latency_ms: {p50, p95}`` …)."""
        return {
            "total": self.total,
            "accuracy": round(self.accuracy, 4),
            "per_flow": {
                key: {"precision": round(f.precision, 4), "recall": round(f.recall, 4), "support": f.support}
                for key, f in self.per_flow.items()
            },
            "confusion": self.confusion,
            "latency_ms": {"p50": round(self.latency_p50_ms, 2), "p95": round(self.latency_p95_ms, 2)},
            "strategies": self.strategies,
            "errors": [{"utterance": u, "expected": e, "decided": d} for u, e, d in self.errors],
        }


async def evaluate_router(*, router: Router, rows: list[LabelledUtterance]) -> EvaluationReport:
    """Route every row one at a time (no history) and compute the figures.

    Raises:
        RoutingError: a message could not be embedded.
    """
    decided: list[str] = []
    latencies: list[float] = []
    strategies: dict[str, int] = {}
    for row in rows:
        decision = await router.decide(message=row.utterance)
        decided.append(decision.route_key)
        latencies.append(decision.routing_ms)
        strategies[decision.strategy] = strategies.get(decision.strategy, 0) + 1
    keys = list(dict.fromkeys([*router.route_keys, *(row.flow for row in rows), *decided]))
    confusion = {expected: {key: 0 for key in keys} for expected in keys}
    for row, key in zip(rows, decided, strict=True):
        confusion[row.flow][key] += 1
    per_flow: dict[str, FlowFigures] = {}
    for key in keys:
        true_positive = confusion[key][key]
        predicted = sum(confusion[expected][key] for expected in keys)
        support = sum(confusion[key].values())
        if predicted == 0 and support == 0:
            continue
        per_flow[key] = FlowFigures(
            precision=true_positive / predicted if predicted else 0.0,
            recall=true_positive / support if support else 0.0,
            support=support,
        )
    correct = sum(1 for row, key in zip(rows, decided, strict=True) if row.flow == key)
    errors = [(row.utterance, row.flow, key) for row, key in zip(rows, decided, strict=True) if row.flow != key]
    timings = np.asarray(latencies or [0.0])
    return EvaluationReport(
        total=len(rows),
        accuracy=correct / len(rows) if rows else 0.0,
        per_flow=per_flow,
        confusion=confusion,
        latency_p50_ms=float(np.percentile(timings, 50)),
        latency_p95_ms=float(np.percentile(timings, 95)),
        strategies=strategies,
        errors=errors[:20],
    )
