"""Routing configuration of a chatbot (the ``routing:`` block of its YAML).

Strategies (DESIGN section 8): ``none`` (every message to ``main``), ``keywords`` (regex rules),
``semantic`` (example utterances per route key, embedded locally), ``llm`` (the seeds'
metadata flow: a classification prompt answered with one route key) and ``chain`` (several of
them in order, the slower ones consulted only when the faster are unsure).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

StrategyName = Literal["keywords", "semantic", "llm"]


class KeywordRule(BaseModel):
    """A regular expression that sends a matching message to ``route_key``."""

    model_config = ConfigDict(extra="forbid")

    route_key: str
    pattern: str
    ignore_case: bool = True


class RoutingConfig(BaseModel):
    """How a chatbot decides which flow handles a message."""

    model_config = ConfigDict(extra="forbid")

    strategy: Literal["none", "keywords", "semantic", "llm", "chain"] = "none"
    chain: list[StrategyName] = Field(default_factory=list)
    keywords: list[KeywordRule] = Field(default_factory=list)
    examples: dict[str, list[str]] = Field(default_factory=dict)
    semantic_threshold: float | None = None
    llm_prompt: str | None = None
    history_turns: int = 2
