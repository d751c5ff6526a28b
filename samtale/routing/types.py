"""Value types, protocols and errors of flow routing.

Exception tree::

    InputError
    └── RoutingConfigError      a chatbot's routing config is refused (names the flow; defined in
                                samtale.chatbots.routing_config, re-exported here)
    ServiceError
    └── RoutingError            routing could not run (the embedder failed)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from samtale.chatbots.routing_config import MAIN, RoutingConfigError
from samtale.errors import ErrorCategory, ServiceError

__all__ = ["MAIN", "Classifier", "RoutingConfigError", "RoutingDecision", "RoutingError", "Vector"]

Vector = npt.NDArray[np.float32]


class RoutingError(ServiceError):
    """Routing could not run (for example the embedder failed)."""

    code = "routing_error"
    category = ErrorCategory.VECTOR_STORE


class Classifier(Protocol):
    """An LLM that answers a classification prompt with one route key.

    ``classify`` returns the model's raw answer text; the router parses it strictly (it must be
    exactly one of ``route_keys``, or ``{"route_key": "<key>"}``). It may raise any
    :class:`~samtale.errors.SamtaleError`; the router then falls back to ``main``.
    """

    async def classify(self, *, prompt: str, route_keys: list[str]) -> str:
        """Send ``prompt`` and return the answer text."""
        ...


@dataclass(slots=True)
class RoutingDecision:
    """Which flow handles a message, and how that was decided.

    Attributes:
        route_key: the chosen route key (``main`` when nothing else fits).
        flow_type: the chosen flow's type (``main``, ``flow2``…, ``apiflow``).
        strategy: what decided: ``keywords``, ``semantic``, ``llm``, ``history`` (a follow-up
            kept in the previous flow) or ``none``; a fallback keeps the strategy that failed
            and sets ``detail["fallback"]``.
        confidence: 0–1; 1.0 for a keyword match or a valid LLM answer, the blended semantic
            score otherwise, 0.0 for a fallback.
        routing_ms: wall time of the decision in milliseconds, including the query embedding
            when the router had to compute it.
        detail: facts for the metrics row and debugging (scores, margin, matched rule,
            ``fallback`` reason, the LLM's invalid answer truncated to 200 characters).
        query_vector: the message's embedding (L2-normalised float32, shape (dimension,)) when
            one was given or computed, so retrieval need not embed the message again.
    """

    route_key: str
    flow_type: str
    strategy: str
    confidence: float
    routing_ms: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)
    query_vector: Vector | None = None

    @property
    def fallback(self) -> bool:
        """True when a strategy failed and the message went to ``main`` for that reason."""
        return "fallback" in self.detail

    def event_payload(self, *, speculative_hit: bool | None = None) -> dict[str, Any]:
        """The ``flow`` SSE event body: flow_type, route_key, strategy, confidence, routing_ms."""
        payload: dict[str, Any] = {
            "flow_type": self.flow_type,
            "route_key": self.route_key,
            "strategy": self.strategy,
            "confidence": round(self.confidence, 4),
            "routing_ms": round(self.routing_ms, 2),
        }
        if speculative_hit is not None:
            payload["speculative_hit"] = speculative_hit
        return payload
