"""Parallel routing: the likely flow's work starts while the router decides, a wrong guess is
cancelled, the query is embedded once; and the fast parts of a decision (the n-gram head
without scikit-learn overhead, the query embedding cache)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import httpx
import numpy as np
import pytest

from samtale.knowledge.embedders import LocalEmbedder, Vectors
from samtale.llm.fake import FakeLLMServer
from samtale.routing.router import Router
from samtale.routing.semantic import LexicalHead, _fit_lexical, flatten_examples
from samtale.routing.speculative import QueryVector, route_speculatively
from samtale.routing.types import Vector
from tests.routing.conftest import bitext_shop_with_train_subset
from tests.routing.test_llm import classifier, llm_config


class WorkLog:
    """Starts one real task per flow whose work is asked for, and remembers what happened to it."""

    def __init__(self, *, seconds: float = 0.05) -> None:
        self.seconds = seconds
        self.started: list[str] = []
        self.tasks: dict[str, asyncio.Task[tuple[str, Vector | None]]] = {}

    def start(self, route_key: str, query_vector: QueryVector) -> asyncio.Task[tuple[str, Vector | None]]:
        async def work() -> tuple[str, Vector | None]:
            vector = await query_vector()
            await asyncio.sleep(self.seconds)
            return route_key, vector

        self.started.append(route_key)
        task = asyncio.create_task(work())
        self.tasks[route_key] = task
        return task


class CountingEmbedder:
    """The local embedder, counting the texts it was asked to embed."""

    def __init__(self, embedder: LocalEmbedder) -> None:
        self.inner = embedder
        self.name = embedder.name
        self.dimension = embedder.dimension
        self.texts: list[str] = []

    async def embed(self, texts: Sequence[str]) -> Vectors:
        self.texts.extend(texts)
        return await self.inner.embed(texts)

    def embed_sync(self, texts: Sequence[str]) -> Vectors:
        self.texts.extend(texts)
        return self.inner.embed_sync(texts)


def counting_router(shop_router: Router, embedder: CountingEmbedder) -> Router:
    return Router(config=shop_router.config, embedder=embedder, semantic=shop_router.semantic)


async def test_a_keyword_decision_is_final_at_once_and_starts_nothing(shop_router: Router) -> None:
    log = WorkLog()

    routed = await route_speculatively(router=shop_router, message="where is order #10482?", start_work=log.start)

    assert (routed.decision.route_key, routed.decision.strategy) == ("order", "keywords")
    assert routed.speculative_hit is None and routed.work is None and log.started == []


async def test_a_wrong_guess_is_cancelled_and_the_decided_flow_starts_with_the_same_embedding(
    shop_router: Router, embedder: LocalEmbedder
) -> None:
    counting = CountingEmbedder(embedder)
    router = counting_router(shop_router, counting)
    log = WorkLog()

    routed = await route_speculatively(
        router=router, message="How much do you charge to send a parcel to Finland?", start_work=log.start
    )

    assert (routed.decision.route_key, routed.decision.strategy) == ("shipping", "semantic")
    assert routed.speculative_hit is False and routed.guess_route_key == "main"
    assert log.started == ["main", "shipping"]
    await asyncio.sleep(0)
    assert log.tasks["main"].cancelled()
    assert routed.work is log.tasks["shipping"]
    key, vector = await routed.work
    assert key == "shipping" and vector is routed.decision.query_vector
    assert counting.texts == ["How much do you charge to send a parcel to Finland?"]
    assert routed.decision.routing_ms > 0


async def test_a_right_guess_keeps_its_work(shop_router: Router) -> None:
    log = WorkLog()

    routed = await route_speculatively(
        router=shop_router, message="Which payment cards do you take?", start_work=log.start
    )

    assert (routed.decision.route_key, routed.speculative_hit) == ("main", True)
    assert log.started == ["main"] and routed.work is log.tasks["main"]


async def test_the_llm_overrules_the_semantic_guess_while_its_work_runs(shop_router: Router) -> None:
    async with httpx.AsyncClient(timeout=10) as client, FakeLLMServer(replies=["refund"], ttft_ms=100) as server:
        config = llm_config(strategy="chain", chain=["keywords", "semantic", "llm"], llm_margin=1.0)
        router = Router(
            config=config,
            embedder=shop_router.embedder,
            semantic=shop_router.semantic,
            classifiers={"metadata": classifier(server, client)},
        )
        log = WorkLog(seconds=0.0)

        routed = await route_speculatively(
            router=router, message="How much is delivery to Norway?", start_work=log.start
        )

    assert (routed.decision.route_key, routed.decision.strategy, routed.speculative_hit) == ("refund", "llm", False)
    # main (before the embedding), shipping (the semantic guess, run while the LLM answered), refund.
    assert log.started == ["main", "shipping", "refund"]
    assert not log.tasks["shipping"].cancelled() and log.tasks["shipping"].result()[0] == "shipping"
    assert routed.decision.routing_ms >= 100


async def test_a_chain_of_keywords_then_llm_asks_the_llm_when_no_rule_matches() -> None:
    async with httpx.AsyncClient(timeout=10) as client, FakeLLMServer(replies=["shipping"]) as server:
        router = Router(
            config=llm_config(strategy="chain", chain=["keywords", "llm"]),
            classifiers={"metadata": classifier(server, client)},
        )

        decision = await router.decide(message="do you deliver to Greenland?")
        rule = await router.decide(message="where is order #10482?")

    assert (decision.route_key, decision.strategy) == ("shipping", "llm")
    assert (rule.route_key, rule.strategy) == ("order", "keywords")
    assert len(server.chat_requests) == 1


async def test_a_repeated_question_is_embedded_once(shop_router: Router, embedder: LocalEmbedder) -> None:
    counting = CountingEmbedder(embedder)
    router = counting_router(shop_router, counting)

    first = await router.decide(message="Do you ship to Iceland?")
    again = await router.decide(message="  do you SHIP to iceland? ")

    assert counting.texts == ["Do you ship to Iceland?"]
    assert again.query_vector is first.query_vector
    router.clear_query_cache()
    await router.decide(message="Do you ship to Iceland?")
    assert len(counting.texts) == 2


@pytest.mark.parametrize("two_flows", [False, True])
def test_the_fast_ngram_head_equals_scikit_learns_predict_proba(two_flows: bool) -> None:
    texts, labels = flatten_examples(bitext_shop_with_train_subset().routing.examples)
    if two_flows:
        labels = ["order" if label == "order" else "other" for label in labels]
    vectorizer, head = _fit_lexical(texts, labels)
    keys = sorted(set(labels))
    fast = LexicalHead(vectorizer, head, keys=keys)

    for message in ("where is my order 123", "hvad koster fragt til Norge?", "zzz qqq", "", "Pengene RETUR!"):
        expected = head.predict_proba(vectorizer.transform([message]))[0]
        assert np.allclose(fast.probabilities(message), expected, atol=1e-9), message
