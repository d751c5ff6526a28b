"""LLM routing (the metadata flow) over a real OpenAI-compatible server on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from samtale.chatbots.schema import ChatbotConfig
from samtale.llm.fake import FakeLLMServer
from samtale.llm.openai_provider import OpenAIProvider
from samtale.routing.llm import ProviderClassifier
from samtale.routing.router import Router
from samtale.routing.semantic import SemanticModel
from tests.routing.conftest import bitext_shop_document

METADATA_PROMPT = (
    "Classify the shopper's message into one of: {{ route_keys | join(', ') }}.\n"
    "{% for flow in flows %}{{ flow.route_key }}: {{ flow.description }}\n{% endfor %}"
    "{% for turn in history %}{{ turn.role }}: {{ turn.content }}\n{% endfor %}"
    "Message: {{ message }}\nAnswer with the route key only."
)


def llm_config(*, strategy: str = "llm", chain: list[str] | None = None, **routing: Any) -> ChatbotConfig:
    document = bitext_shop_document()
    document["flows"].append({"type": "metadata"})
    document["flows"].append({"type": "metadata2", "prompt": "second_opinion"})
    document["prompts"] = {"metadata": METADATA_PROMPT, "second_opinion": "Route key for: {{ message }}"}
    document["routing"].update(strategy=strategy, chain=chain or [], **routing)
    return ChatbotConfig.model_validate(document)


def classifier(server: FakeLLMServer, client: httpx.AsyncClient) -> ProviderClassifier:
    provider = OpenAIProvider(base_url=server.base_url, api_key="test", model="fake-model", http_client=client)
    return ProviderClassifier(provider=provider)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as http:
        yield http


async def test_the_metadata_flow_answers_with_a_route_key(client: httpx.AsyncClient) -> None:
    async with FakeLLMServer(replies=['{"route_key": "shipping"}']) as server:
        router = Router(config=llm_config(), classifiers={"metadata": classifier(server, client)})
        history = [("user", "hi"), ("assistant", "Hello! How can I help?")]

        decision = await router.decide(message="do you deliver to Greenland?", history=history)

        assert (decision.route_key, decision.flow_type, decision.strategy) == ("shipping", "flow2", "llm")
        assert decision.confidence == 1.0
        request = server.chat_requests[0].json
        prompt = request["messages"][0]["content"]
        assert "Message: do you deliver to Greenland?" in prompt
        assert "assistant: Hello! How can I help?" in prompt
        assert "refund: Returns, refunds" in prompt
        schema = request["response_format"]["json_schema"]["schema"]
        assert schema["properties"]["route_key"]["enum"] == ["main", "order", "shipping", "refund"]


async def test_an_answer_outside_the_route_keys_goes_to_main_and_is_recorded(client: httpx.AsyncClient) -> None:
    config = llm_config()
    config.flows = [flow for flow in config.flows if flow.type != "metadata2"]
    async with FakeLLMServer(replies=["I think this is about shipping."]) as server:
        router = Router(config=config, classifiers={"metadata": classifier(server, client)})

        decision = await router.decide(message="do you deliver to Greenland?")

    assert (decision.route_key, decision.strategy, decision.confidence) == ("main", "llm", 0.0)
    assert decision.fallback
    assert decision.detail["llm"][0] == {
        "classifier": "metadata",
        "fallback": "invalid_answer",
        "answer": "I think this is about shipping.",
    }


async def test_a_classifier_that_times_out_leads_to_main(client: httpx.AsyncClient) -> None:
    config = llm_config(llm_timeout_s=0.3)
    config.flows = [flow for flow in config.flows if flow.type != "metadata2"]
    async with FakeLLMServer(replies=["order"], fail_first=1, fault="hang") as server:
        router = Router(config=config, classifiers={"metadata": classifier(server, client)})

        decision = await router.decide(message="where is my order?")

    assert decision.route_key == "main"
    assert decision.detail["fallback"] == "timeout"
    assert decision.routing_ms < 3000


async def test_metadata2_is_asked_when_the_first_classifier_is_unsure(client: httpx.AsyncClient) -> None:
    async with (
        FakeLLMServer(replies=["unsure"]) as first,
        FakeLLMServer(replies=["refund"]) as second,
    ):
        classifiers = {"metadata": classifier(first, client), "metadata2": classifier(second, client)}
        router = Router(config=llm_config(), classifiers=classifiers)

        decision = await router.decide(message="my lamp arrived broken")

        assert (decision.route_key, decision.detail["classifier"]) == ("refund", "metadata2")
        assert decision.detail["llm"][0]["fallback"] == "invalid_answer"
        assert second.chat_requests[0].json["messages"][0]["content"] == "Route key for: my lamp arrived broken"


async def test_a_chain_asks_the_llm_only_when_the_semantic_margin_is_small(
    client: httpx.AsyncClient, shop_router: Router
) -> None:
    semantic = shop_router.semantic
    assert isinstance(semantic, SemanticModel)
    async with FakeLLMServer(replies=["order"]) as server:
        classifiers = {"metadata": classifier(server, client)}
        confident = Router(
            config=llm_config(strategy="chain", chain=["keywords", "semantic", "llm"], llm_margin=0.0),
            semantic=semantic,
            embedder=shop_router.embedder,
            classifiers=classifiers,
        )
        always_unsure = Router(
            config=llm_config(strategy="chain", chain=["keywords", "semantic", "llm"], llm_margin=1.0),
            semantic=semantic,
            embedder=shop_router.embedder,
            classifiers=classifiers,
        )

        keyword = await always_unsure.decide(message="where is order 10482?")
        semantic_only = await confident.decide(message="how much is delivery to Norway?")
        assert len(server.chat_requests) == 0
        asked = await always_unsure.decide(message="how much is delivery to Norway?")

        assert (keyword.route_key, keyword.strategy) == ("order", "keywords")
        assert (semantic_only.route_key, semantic_only.strategy) == ("shipping", "semantic")
        assert (asked.route_key, asked.strategy) == ("order", "llm")
        assert asked.detail["before_llm"]["route_key"] == "shipping"
        assert len(server.chat_requests) == 1
