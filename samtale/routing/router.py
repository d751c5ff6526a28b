"""The router: one interface over every strategy of a chatbot (keywords, semantic, llm, chain).

Typical use (the conversation pipeline does this through
:func:`samtale.routing.speculative.route_speculatively`; the query embedding is computed once
and shared with retrieval)::

    router = await Router.build(config=chatbot, embedder=embedder, classifiers={"metadata": c})
    vector = await router.embed_query(message)          # LRU-cached by normalised text
    guess, final = router.settle(message=message, last_route_key=last, query_vector=vector)
    # not final: start retrieval for guess.route_key now; then
    decision = await router.decide(message=message, history=history, last_route_key=last, query_vector=vector)
    # decision.route_key != guess.route_key → cancel the speculative retrieval

Strategies run in the configured order. ``keywords`` decides on the first matching rule.
``semantic`` decides unless it is unsure (nearest example below the threshold, or the margin
between the two best flows below ``llm_margin``) and an ``llm`` step follows. ``llm`` asks the
metadata classifiers; a timeout or an answer outside the route keys goes to ``main``, recorded.
A follow-up ("and when will it arrive?") leans towards the previous turn's route key.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from cachetools import LRUCache

from samtale.chatbots.routing_validation import route_keys, validate_routing
from samtale.chatbots.schema import ChatbotConfig
from samtale.errors import SamtaleError
from samtale.knowledge.embedders import LOCAL_MODEL_NAME, Embedder
from samtale.routing.history import is_follow_up
from samtale.routing.keywords import KeywordMatcher
from samtale.routing.llm import LLMRouter
from samtale.routing.semantic import SemanticModel, get_semantic_model
from samtale.routing.types import MAIN, Classifier, RoutingDecision, RoutingError, Vector

QUERY_CACHE_SIZE = 4096


class Router:
    """Decides which flow of one chatbot handles a message.

    Build with :meth:`build` (validates the config and fits the semantic model off the event
    loop). Construct directly only with an already fitted :class:`SemanticModel`.

    Args:
        config: the chatbot.
        embedder: embeds messages when ``decide`` is given no ``query_vector``.
        semantic: the fitted model of ``routing.examples`` (required for the semantic strategy).
        classifiers: classifier per flow type (``metadata``, ``metadata2``) for the llm strategy.

    Raises:
        RoutingConfigError: the config is refused (see ``validate_routing``).
    """

    def __init__(
        self,
        *,
        config: ChatbotConfig,
        embedder: Embedder | None = None,
        semantic: SemanticModel | None = None,
        classifiers: Mapping[str, Classifier] | None = None,
    ) -> None:
        validate_routing(config)
        self.config = config
        self.routing = config.routing
        self.strategies = self.routing.strategies
        self.route_keys = route_keys(config)
        self.embedder = embedder
        self.semantic = semantic
        self.keywords = KeywordMatcher(self.routing.keywords)
        self.llm = LLMRouter(config=config, classifiers=classifiers or {}) if "llm" in self.strategies else None
        if "semantic" in self.strategies and semantic is None:
            raise RoutingError(f"chatbot '{config.id}' routes semantically but no semantic model was fitted")
        self._query_cache: LRUCache[str, Vector] = LRUCache(maxsize=QUERY_CACHE_SIZE)
        # all-MiniLM-L6-v2 is an uncased model: letter case does not change its embedding.
        self._cache_folds_case = embedder is not None and embedder.name == LOCAL_MODEL_NAME
        semantic_position = self.strategies.index("semantic") if self.semantic is not None else len(self.strategies)
        self._keywords_before_semantic = "keywords" in self.strategies[:semantic_position]

    @classmethod
    async def build(
        cls,
        *,
        config: ChatbotConfig,
        embedder: Embedder,
        classifiers: Mapping[str, Classifier] | None = None,
        cache_dir: Path | None = None,
    ) -> Router:
        """Validate ``config`` and fit its semantic model (cached by a hash of the examples).

        Args:
            config: the chatbot.
            embedder: the local embedder (the same one retrieval uses).
            classifiers: see the class.
            cache_dir: folder for example embeddings; None keeps them in memory only.

        Raises:
            RoutingConfigError: the config is refused.
            EmbeddingError: the examples could not be embedded.
        """
        validate_routing(config)
        semantic = None
        if "semantic" in config.routing.strategies:
            semantic = await asyncio.to_thread(
                get_semantic_model,
                embedder=embedder,
                examples=config.routing.examples,
                k=config.routing.semantic_k,
                lexical_weight=config.routing.semantic_lexical_weight,
                threshold=config.routing.semantic_threshold,
                cache_dir=cache_dir,
            )
        return cls(config=config, embedder=embedder, semantic=semantic, classifiers=classifiers)

    @property
    def needs_embedding(self) -> bool:
        """True when decisions use the message's embedding (the semantic strategy)."""
        return self.semantic is not None

    @property
    def can_embed(self) -> bool:
        """True when :meth:`embed_query` can run (the router has an embedder)."""
        return self.embedder is not None

    async def embed_query(self, message: str) -> Vector:
        """The message's embedding (unit float32 vector, shape (dimension,)), computed in a worker
        thread, or from an LRU of recent queries keyed by the whitespace-normalised text
        (case-folded too for the uncased local model): "hi" or "where is my order" is embedded
        once per process, not once per shopper.

        Raises:
            RoutingError: the router has no embedder, or the embedder failed.
        """
        key = " ".join(message.split())
        if self._cache_folds_case:
            key = key.lower()
        cached = self._query_cache.get(key)
        if cached is not None:
            return cached
        vector = await self._embed(message)
        vector.setflags(write=False)
        self._query_cache[key] = vector
        return vector

    def clear_query_cache(self) -> None:
        """Forget the cached query embeddings (benchmarks measure decisions without the cache)."""
        self._query_cache.clear()

    def settle(
        self, *, message: str, last_route_key: str | None = None, query_vector: Vector | None = None
    ) -> tuple[RoutingDecision, bool]:
        """The fast strategies' decision and whether it is final.

        Final means :meth:`decide` with the same ``query_vector`` would return the same route
        key without waiting for anything: no embedding still to come (``query_vector`` given, or
        a keyword rule fired before the semantic step) and no LLM step to consult. When it is
        not final, the decision is the best guess to speculate on.
        """
        decision = self.guess(message=message, last_route_key=last_route_key, query_vector=query_vector)
        return decision, self._final(decision, have_vector=query_vector is not None)

    def _final(self, decision: RoutingDecision, *, have_vector: bool) -> bool:
        if _rule_matched(decision) and (have_vector or self._keywords_before_semantic):
            return True
        if self.semantic is not None and not have_vector:
            return False
        if self.llm is None:
            return True
        return not (decision.detail.get("unsure") or self.strategies[0] == "llm")

    def guess(
        self,
        *,
        message: str,
        history: Sequence[tuple[str, str]] = (),
        last_route_key: str | None = None,
        query_vector: Vector | None = None,
    ) -> RoutingDecision:
        """The fast strategies' best guess, without the LLM and without embedding (under 1 ms).

        For speculative retrieval. Without ``query_vector`` the semantic step is skipped.
        ``history`` is accepted for symmetry with :meth:`decide` (the LLM alone reads it).
        """
        started = time.perf_counter()
        decision, unsure = self._fast(message=message, last_route_key=last_route_key, vector=query_vector)
        if unsure:
            decision.detail["unsure"] = True
        decision.routing_ms = (time.perf_counter() - started) * 1000
        decision.query_vector = query_vector
        return decision

    async def decide(
        self,
        *,
        message: str,
        history: Sequence[tuple[str, str]] = (),
        last_route_key: str | None = None,
        query_vector: Vector | None = None,
    ) -> RoutingDecision:
        """Decide the flow of ``message``.

        Args:
            message: the shopper's message.
            history: earlier turns as ``(role, content)``, most recent last (this message not
                included).
            last_route_key: the route key that handled the previous turn, or None.
            query_vector: the message's embedding, when the caller already has it; otherwise
                it is computed here (when the semantic strategy needs it) and returned in
                ``decision.query_vector``.

        Returns:
            The decision; ``routing_ms`` covers everything done here (embedding included).

        Raises:
            RoutingError: the message could not be embedded.
        """
        started = time.perf_counter()
        vector = query_vector
        if vector is None and self.semantic is not None:
            vector = await self.embed_query(message)
        decision, unsure = self._fast(message=message, last_route_key=last_route_key, vector=vector)
        if self.llm is not None and not _rule_matched(decision) and (unsure or self.strategies[0] == "llm"):
            decision = await self._ask_llm(message=message, history=history, before=decision)
        decision.routing_ms = (time.perf_counter() - started) * 1000
        decision.query_vector = vector
        return decision

    async def _embed(self, message: str) -> Vector:
        if self.embedder is None:
            raise RoutingError(f"chatbot '{self.config.id}' routes semantically but the router has no embedder")
        try:
            vectors = await self.embedder.embed([message])
        except SamtaleError as exc:
            raise RoutingError(f"the message could not be embedded for routing: {exc.message}") from exc
        vector: Vector = np.ascontiguousarray(vectors[0], dtype=np.float32)
        return vector

    def _decision(self, route_key: str, strategy: str, confidence: float, detail: dict[str, Any]) -> RoutingDecision:
        return RoutingDecision(
            route_key=route_key,
            flow_type=self.config.flow(route_key).type,
            strategy=strategy,
            confidence=float(confidence),
            detail=detail,
        )

    def _fast(self, *, message: str, last_route_key: str | None, vector: Vector | None) -> tuple[RoutingDecision, bool]:
        """Keywords and semantic, in the configured order: ``(decision, unsure)``."""
        follow_up = last_route_key not in (None, MAIN) and last_route_key in self.route_keys and is_follow_up(message)
        candidate: tuple[RoutingDecision, bool] | None = None
        for step in self.strategies:
            if step == "keywords":
                match = self.keywords.match(message)
                if match is not None:
                    detail = {"rule": match.rule_number, "matched": match.matched}
                    return self._decision(match.route_key, "keywords", 1.0, detail), False
            elif step == "semantic" and self.semantic is not None and vector is not None:
                candidate = self._semantic(message, vector, last_route_key if follow_up else None)
                if not candidate[1]:
                    return candidate
            elif step == "llm":
                break
        if candidate is not None:
            return candidate
        if follow_up and last_route_key is not None:
            return self._decision(last_route_key, "history", 0.5, {"follow_up": True}), True
        strategy = self.strategies[0] if self.strategies else "none"
        confidence = 1.0 if strategy == "none" else 0.0
        return self._decision(MAIN, strategy, confidence, {"reason": "no_match"} if self.strategies else {}), True

    def _semantic(self, message: str, vector: Vector, follow_up_key: str | None) -> tuple[RoutingDecision, bool]:
        assert self.semantic is not None
        scores = self.semantic.score(message=message, vector=vector)
        ranked = dict(scores.scores)
        if follow_up_key is not None:
            ranked[follow_up_key] = ranked.get(follow_up_key, 0.0) + self.routing.follow_up_bonus
        order = sorted(ranked.items(), key=lambda item: item[1], reverse=True)
        best_key, best_score = order[0]
        margin = best_score - (order[1][1] if len(order) > 1 else 0.0)
        detail: dict[str, Any] = {
            "scores": {key: round(value, 4) for key, value in ranked.items()},
            "margin": round(margin, 4),
            "nearest_similarity": round(scores.nearest_similarity, 4),
            "nearest_example": scores.nearest_example[:120],
            "threshold": self.semantic.threshold,
        }
        if follow_up_key is not None:
            detail["follow_up"] = True
        below = scores.nearest_similarity < self.semantic.threshold
        if below:
            detail["below_threshold"] = True
            if follow_up_key is not None:
                return self._decision(follow_up_key, "history", min(1.0, ranked[follow_up_key]), detail), True
            return self._decision(MAIN, "semantic", 1.0 - max(scores.nearest_similarity, 0.0), detail), True
        unsure = margin < self.routing.llm_margin
        return self._decision(best_key, "semantic", min(1.0, best_score), detail), unsure

    async def _ask_llm(
        self, *, message: str, history: Sequence[tuple[str, str]], before: RoutingDecision
    ) -> RoutingDecision:
        assert self.llm is not None
        outcome = await self.llm.classify(message=message, history=history)
        detail = dict(outcome.detail)
        if before.strategy != "none" and before.detail.get("reason") != "no_match":
            detail["before_llm"] = {"route_key": before.route_key, "strategy": before.strategy, **before.detail}
        if outcome.route_key is None:
            return self._decision(MAIN, "llm", 0.0, detail)
        detail["classifier"] = outcome.classifier
        return self._decision(outcome.route_key, "llm", 1.0, detail)


def _rule_matched(decision: RoutingDecision) -> bool:
    """True for a keyword rule's decision (not the ``no_match`` fallback of a keywords-first chain)."""
    return decision.strategy == "keywords" and "rule" in decision.detail
