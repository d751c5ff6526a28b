"""Routing inside a turn, through the API: the decided flow in the process-message response, the
``flow`` event, the flow's knowledge in ``sources``, and the retrieval started while routing runs
(speculative hit, or a miss whose work is cancelled). LLM routing talks to the fake OpenAI
server over real loopback HTTP."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from samtale.knowledge.ingest import ingest_paths
from samtale.llm.fake import FakeLLMServer
from samtale.services import Services
from samtale.storage.models import ConversationProcessingMetrics
from tests.conversation.helpers import add_chatbot, answer_text, parse_sse, read_sse

KNOWLEDGE = {
    "faq": "# Gift cards\n\nWe sell gift cards from 100 to 2,000 kroner. They are valid for three years.\n",
    "shipping": "# Delivery\n\nWe deliver to Norway and Sweden with PostNord in 3 to 5 working days for 89 kroner.\n",
    "returns": "# Returns\n\nYou can return an item within 30 days. Refunds reach your card within 5 days.\n",
}

ROUTING_EXAMPLES = {
    "shipping": [
        "how much is shipping",
        "what are the delivery costs",
        "do you deliver to Sweden",
        "which countries do you ship to",
        "how long does delivery take",
        "hvad koster forsendelse",
        "leverer I til Norge",
        "hvor lang er leveringstiden",
    ],
    "refund": [
        "how do I return something",
        "can I get a refund",
        "I want my money back",
        "my product is defective, what can I do",
        "hvordan returnerer jeg",
        "jeg vil have mine penge tilbage",
        "kan jeg bytte til en anden størrelse",
        "hvem betaler for returforsendelsen",
    ],
    "main": [
        "do you sell gift cards",
        "which payment methods can I use",
        "I forgot my password",
        "how can I contact customer service",
        "sælger I gavekort",
        "hvordan kan jeg betale",
        "hvordan opretter jeg en konto",
        "hvornår har I åbent",
    ],
}

CLASSIFIER_PROMPT = (
    "Route the message to one of {{ route_keys | join(', ') }}.\n"
    "{% for flow in flows %}{{ flow.route_key }}: {{ flow.description }}\n{% endfor %}"
    "Message: {{ message }}"
)


def shop_document(*, strategy: str, chain: list[str] | None = None, llm: dict[str, Any] | None = None, **routing: Any):
    """A three-flow shop (main, shipping, refund), each flow with its own knowledge index."""
    document: dict[str, Any] = {
        "id": "routeshop",
        "name": "Route Shop",
        "language": "en",
        "flows": [
            {"type": "main", "knowledge_index": "faq", "description": "Everything else."},
            {"type": "flow2", "route_key": "shipping", "knowledge_index": "shipping", "description": "Delivery."},
            {"type": "flow4", "route_key": "refund", "knowledge_index": "returns", "description": "Returns."},
        ],
        "routing": {
            "strategy": strategy,
            "chain": chain or [],
            "keywords": [{"route_key": "refund", "pattern": "\\b(refund\\w*|return(s|ed|ing)?)\\b"}],
            "examples": ROUTING_EXAMPLES,
            **routing,
        },
    }
    if llm is not None:
        document["llm"] = llm
        document["flows"].append({"type": "metadata", "prompt": "route"})
        document["prompts"] = {"route": CLASSIFIER_PROMPT}
    return document


@pytest.fixture
async def knowledge(services: Services, tmp_path: Path) -> None:
    """The shop's three knowledge indexes (one small Markdown page each)."""
    for index_name, text in KNOWLEDGE.items():
        page = tmp_path / f"{index_name}.md"
        await asyncio.to_thread(page.write_text, text, encoding="utf-8")
        await ingest_paths(
            db=services.db, embedder=services.embedder, chatbot_id="routeshop", index_name=index_name, paths=[page]
        )


async def turn(client: httpx.AsyncClient, text: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Send ``text``; the process-message body and the streamed events."""
    response = await client.post(
        "/api/process-message", json={"user_id": "shopper-3", "chatbot_id": "routeshop", "message_text": text}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return body, await read_sse(client, body["sse_url"])


def event(events: list[dict[str, Any]], name: str) -> dict[str, Any]:
    data: dict[str, Any] = next(item["data"] for item in events if item["event"] == name)
    return data


def source_indexes(events: list[dict[str, Any]]) -> set[str]:
    return {source["index"] for source in event(events, "sources")["sources"]}


async def metrics_row(services: Services, streaming_session_id: str) -> ConversationProcessingMetrics:
    await services.conversation.drain()
    async with services.db.session() as session:
        row = await session.scalar(
            select(ConversationProcessingMetrics).where(
                ConversationProcessingMetrics.streaming_session_id == streaming_session_id
            )
        )
    assert row is not None
    return row


def route_or_answer(route_key: str) -> Any:
    """A fake-LLM script: the classifier (asked with a JSON schema) gets ``route_key``, the answer a sentence."""

    def reply(body: dict[str, Any]) -> str:
        if "response_format" in body:
            return json.dumps({"route_key": route_key})
        return "Here is what I found for you."

    return reply


async def test_a_keyword_rule_decides_at_once_and_the_response_names_the_flow(
    client: httpx.AsyncClient, services: Services, knowledge: None
) -> None:
    await add_chatbot(services, **shop_document(strategy="chain", chain=["keywords", "semantic"]))

    body, events = await turn(client, "Can I return the shoes I bought last week?")

    flow = event(events, "flow")
    assert [item["event"] for item in events[:2]] == ["start", "flow"]
    assert body["flow_type"] == flow["flow_type"] == "flow4"
    assert (flow["route_key"], flow["strategy"], flow["speculative_hit"]) == ("refund", "keywords", None)
    assert source_indexes(events) == {"returns"}
    row = await metrics_row(services, body["streaming_session_id"])
    assert (row.route_key, row.routing_strategy, row.speculative_hit) == ("refund", "keywords", None)


async def test_semantic_routing_keeps_the_guessed_retrieval_when_the_guess_was_right(
    client: httpx.AsyncClient, services: Services, knowledge: None
) -> None:
    await add_chatbot(services, **shop_document(strategy="chain", chain=["keywords", "semantic"]))

    body, events = await turn(client, "Do you sell gift cards?")

    flow = event(events, "flow")
    assert body["flow_type"] == flow["flow_type"] == "main"
    assert (flow["strategy"], flow["speculative_hit"]) == ("semantic", True)
    assert flow["routing_ms"] > 0
    assert source_indexes(events) == {"faq"}
    assert "gift card" in answer_text(events).lower()
    row = await metrics_row(services, body["streaming_session_id"])
    assert row.speculative_hit is True and row.routing_ms == pytest.approx(flow["routing_ms"], abs=0.01)


async def test_semantic_routing_cancels_a_wrong_guess_and_uses_the_decided_flows_sources(
    client: httpx.AsyncClient, services: Services, knowledge: None
) -> None:
    await add_chatbot(services, **shop_document(strategy="semantic"))

    body, events = await turn(client, "How much does delivery to Norway cost?")

    flow = event(events, "flow")
    assert body["flow_type"] == flow["flow_type"] == "flow2"
    assert (flow["route_key"], flow["strategy"], flow["speculative_hit"]) == ("shipping", "semantic", False)
    assert source_indexes(events) == {"shipping"}
    row = await metrics_row(services, body["streaming_session_id"])
    assert (row.route_key, row.flow_type, row.speculative_hit) == ("shipping", "flow2", False)


async def test_an_llm_that_agrees_with_the_semantic_guess_is_a_speculative_hit(
    client: httpx.AsyncClient, services: Services, knowledge: None
) -> None:
    async with FakeLLMServer(replies=route_or_answer("shipping"), ttft_ms=150) as llm:
        document = shop_document(
            strategy="chain",
            chain=["keywords", "semantic", "llm"],
            llm_margin=1.0,  # always unsure: the LLM has the last word
            llm={"provider": "openai", "model": "fake-model", "base_url": llm.base_url},
        )
        await add_chatbot(services, **document)

        body, events = await turn(client, "How much does delivery to Norway cost?")

        flow = event(events, "flow")
        assert body["flow_type"] == flow["flow_type"] == "flow2"
        assert (flow["strategy"], flow["speculative_hit"]) == ("llm", True)
        assert flow["routing_ms"] >= 150  # the classifier's answer took 150 ms; retrieval ran meanwhile
        assert source_indexes(events) == {"shipping"}
        assert answer_text(events) == "Here is what I found for you."
        classifier_prompt = llm.chat_requests[0].json["messages"][0]["content"]
        assert "Message: How much does delivery to Norway cost?" in classifier_prompt


async def test_an_llm_that_overrules_the_guess_cancels_its_retrieval_and_the_decided_flow_answers(
    client: httpx.AsyncClient, services: Services, knowledge: None
) -> None:
    async with FakeLLMServer(replies=route_or_answer("refund"), ttft_ms=100) as llm:
        document = shop_document(
            strategy="chain",
            chain=["keywords", "semantic", "llm"],
            llm_margin=1.0,
            llm={"provider": "openai", "model": "fake-model", "base_url": llm.base_url},
        )
        await add_chatbot(services, **document)

        body, events = await turn(client, "How much does delivery to Norway cost?")

        flow = event(events, "flow")
        assert body["flow_type"] == flow["flow_type"] == "flow4"
        assert (flow["route_key"], flow["strategy"], flow["speculative_hit"]) == ("refund", "llm", False)
        assert source_indexes(events) == {"returns"}
    row = await metrics_row(services, body["streaming_session_id"])
    assert (row.route_key, row.routing_strategy, row.speculative_hit) == ("refund", "llm", False)


async def test_an_llm_classifier_that_times_out_sends_the_turn_to_main_and_it_still_answers(
    client: httpx.AsyncClient, services: Services, knowledge: None
) -> None:
    async with FakeLLMServer(replies=route_or_answer("shipping"), fail_first=1, fault="hang") as llm:
        document = shop_document(
            strategy="llm",
            llm_timeout_s=0.3,
            llm={"provider": "openai", "model": "fake-model", "base_url": llm.base_url},
        )
        await add_chatbot(services, **document)

        body, events = await turn(client, "How much does delivery to Norway cost?")

        flow = event(events, "flow")
        assert body["flow_type"] == flow["flow_type"] == "main"
        assert (flow["strategy"], flow["fallback"], flow["speculative_hit"]) == ("llm", "timeout", True)
        assert source_indexes(events) <= {"faq"}
        assert answer_text(events) == "Here is what I found for you."
        assert events[-1]["event"] == "end"
    row = await metrics_row(services, body["streaming_session_id"])
    assert (row.route_key, row.routing_strategy, row.status) == ("main", "llm", "ok")


async def test_the_direct_stream_mode_routes_before_streaming(
    client: httpx.AsyncClient, services: Services, knowledge: None
) -> None:
    await add_chatbot(services, **shop_document(strategy="semantic"))

    response = await client.post(
        "/api/process-message",
        json={"user_id": "shopper-3", "chatbot_id": "routeshop", "message_text": "Do you deliver to Sweden?"},
        headers={"Accept": "text/event-stream"},
    )

    events = parse_sse(response.text)
    assert [item["event"] for item in events[:3]] == ["start", "flow", "sources"]
    assert event(events, "flow")["route_key"] == "shipping"
    assert source_indexes(events) == {"shipping"}
    assert events[-1]["event"] == "end"
