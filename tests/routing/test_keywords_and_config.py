"""Keyword routing, follow-ups without embeddings, and the refusal of broken routing configs."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from samtale.chatbots.schema import ChatbotConfig
from samtale.routing.router import Router
from samtale.routing.types import RoutingConfigError
from samtale.routing.validation import validate_routing
from tests.routing.conftest import bitext_shop_document


def keyword_router() -> Router:
    document = bitext_shop_document()
    document["routing"]["strategy"] = "keywords"
    return Router(config=ChatbotConfig.model_validate(document))


async def test_an_order_number_sends_the_message_to_the_order_flow() -> None:
    decision = await keyword_router().decide(message="Hi, where is order #10482? It is a week late")

    assert decision.route_key == "order"
    assert decision.flow_type == "apiflow"
    assert decision.strategy == "keywords"
    assert decision.confidence == 1.0
    assert decision.detail["matched"].endswith("order #10482")


async def test_a_refund_for_an_order_number_goes_to_refund_not_order() -> None:
    router = keyword_router()

    english = await router.decide(message="I want my money back for order 10482")
    danish = await router.decide(message="Hvad er jeres returret på ordre 10482?")

    assert (english.route_key, danish.route_key) == ("refund", "refund")


async def test_without_a_matching_rule_the_message_goes_to_main() -> None:
    decision = await keyword_router().decide(message="Do you have this ring in gold?")

    assert decision.route_key == "main"
    assert decision.confidence == 0.0
    assert decision.detail == {"reason": "no_match"}


async def test_a_follow_up_after_an_order_question_stays_in_the_order_flow() -> None:
    router = keyword_router()
    history = [("user", "Where is order 10482?"), ("assistant", "It left our warehouse on Monday.")]

    follow_up = await router.decide(message="and when will it arrive?", history=history, last_route_key="order")
    fresh = await router.decide(message="and when will it arrive?", history=[], last_route_key=None)

    assert (follow_up.route_key, follow_up.strategy) == ("order", "history")
    assert fresh.route_key == "main"


def test_guess_is_the_keyword_answer_without_waiting() -> None:
    guess = keyword_router().guess(message="track my order please")

    assert guess.route_key == "order"
    assert guess.routing_ms < 50


def document_with(**changes: Any) -> dict[str, Any]:
    document = bitext_shop_document()
    for key, value in changes.items():
        document[key] = value
    return document


def test_a_route_key_used_by_two_flows_is_refused_naming_both_flows() -> None:
    flows = [{"type": "main"}, {"type": "flow2", "route_key": "order"}, {"type": "apiflow", "route_key": "order"}]

    with pytest.raises(ValidationError, match="route key 'order' is used by flows 'flow2' and 'apiflow'"):
        ChatbotConfig.model_validate(document_with(flows=flows, routing={"strategy": "keywords"}))


def test_a_metadata_flow_without_a_template_is_refused_naming_the_flow() -> None:
    document = bitext_shop_document()
    document["flows"].append({"type": "metadata"})
    document["routing"]["strategy"] = "llm"

    with pytest.raises(RoutingConfigError, match="flow 'metadata' has no prompt template"):
        validate_routing(ChatbotConfig.model_validate(document))


def test_a_semantic_router_without_examples_for_a_flow_is_refused_naming_the_flow() -> None:
    document = bitext_shop_document()
    del document["routing"]["examples"]["refund"]

    with pytest.raises(RoutingConfigError, match=r"flow 'flow4' \(route key 'refund'\) has no routing examples"):
        Router(config=ChatbotConfig.model_validate(document))


def test_keyword_rules_for_unknown_flows_or_broken_patterns_are_refused() -> None:
    unknown = bitext_shop_document()
    unknown["routing"]["keywords"] = [{"route_key": "product", "pattern": "wine"}]
    broken = bitext_shop_document()
    broken["routing"]["keywords"] = [{"route_key": "order", "pattern": "order (#"}]

    with pytest.raises(RoutingConfigError, match="route key 'product', which no flow has"):
        validate_routing(ChatbotConfig.model_validate(unknown))
    with pytest.raises(RoutingConfigError, match="keyword rule 1 of flow 'apiflow'"):
        validate_routing(ChatbotConfig.model_validate(broken))


def test_the_llm_strategy_without_a_metadata_flow_is_refused() -> None:
    document = bitext_shop_document()
    document["routing"]["strategy"] = "llm"

    with pytest.raises(RoutingConfigError, match="needs a flow of type 'metadata'"):
        validate_routing(ChatbotConfig.model_validate(document))
