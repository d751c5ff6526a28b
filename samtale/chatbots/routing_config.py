"""Routing configuration of a chatbot (the ``routing:`` block of its YAML), part of the chatbot schema.

Strategies (DESIGN section 8): ``none`` (every message to ``main``), ``keywords`` (regex rules),
``semantic`` (example utterances per route key, embedded locally), ``llm`` (the seeds'
metadata flow: a classification prompt answered with one route key) and ``chain`` (several of
them in order, the slower ones consulted only when the faster are unsure).

Example::

    routing:
      strategy: chain
      chain: [keywords, semantic, llm]
      keywords: [{route_key: order, pattern: "\\border\\s*#?\\d{4,}"}]
      examples: {order: ["where is my order"], shipping: ["how much is shipping"]}
      llm_margin: 0.15           # ask the LLM only when the semantic margin is below this
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from samtale.errors import InputError

StrategyName = Literal["keywords", "semantic", "llm"]

MAIN = "main"
"""The route key of the ``main`` flow: where a message goes when nothing else fits."""


class RoutingConfigError(InputError):
    """A chatbot's routing configuration is refused; the message names the flow at fault."""

    code = "invalid_routing_config"


class KeywordRule(BaseModel):
    """A regular expression that sends a matching message to ``route_key``.

    Rules are tried in order; the first that matches (``re.search``) decides.
    """

    model_config = ConfigDict(extra="forbid")

    route_key: str
    pattern: str
    ignore_case: bool = True


class RoutingConfig(BaseModel):
    """How a chatbot decides which flow handles a message.

    Attributes:
        strategy: ``none``, ``keywords``, ``semantic``, ``llm`` or ``chain``.
        chain: for ``chain``, the strategies in the order they are tried.
        keywords: regex rules, tried in order.
        examples: example utterances per route key (``main`` allowed: off-topic and
            other-business examples), for the semantic strategy.
        semantic_threshold: cosine similarity (0–1) of the nearest example below which a
            message goes to ``main``; None calibrates it on held-out examples when the router
            is built (see :mod:`samtale.routing.semantic`).
        semantic_k: neighbours in the kNN vote.
        semantic_lexical_weight: weight (0–1) of the character n-gram classifier blended with
            the kNN vote; 0 uses embeddings only.
        llm_prompt: a Jinja2 template for the metadata flow when that flow names no template.
        llm_margin: in a chain, the LLM is consulted only when the semantic margin (best minus
            second-best flow score, 0–1) is below this, or the message is below the threshold.
        llm_timeout_s: seconds to wait for a classifier answer before falling back to ``main``.
        history_turns: earlier turns (user and assistant messages) shown to the LLM classifier.
        follow_up_bonus: score (0–1) added to the previous turn's route key when the message
            reads as a follow-up ("and when will it arrive?").
    """

    model_config = ConfigDict(extra="forbid")

    strategy: Literal["none", "keywords", "semantic", "llm", "chain"] = "none"
    chain: list[StrategyName] = Field(default_factory=list)
    keywords: list[KeywordRule] = Field(default_factory=list)
    examples: dict[str, list[str]] = Field(default_factory=dict)
    semantic_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    semantic_k: int = Field(default=5, ge=1, le=50)
    semantic_lexical_weight: float = Field(default=0.5, ge=0.0, le=1.0)
    llm_prompt: str | None = None
    llm_margin: float = Field(default=0.15, ge=0.0, le=1.0)
    llm_timeout_s: float = Field(default=5.0, gt=0.0)
    history_turns: int = Field(default=2, ge=0)
    follow_up_bonus: float = Field(default=0.8, ge=0.0, le=1.0)

    @property
    def strategies(self) -> list[StrategyName]:
        """The strategies this config uses, in order (``none`` uses none)."""
        if self.strategy == "none":
            return []
        if self.strategy == "chain":
            return list(self.chain)
        return [self.strategy]
