"""Semantic routing on the local embedder: shoppers' questions in English and Danish, out-of-scope
messages, follow-ups, and the query embedding shared with retrieval."""

from __future__ import annotations

import numpy as np
import pytest

from samtale.knowledge.embedders import LocalEmbedder
from samtale.routing.examples import read_labelled_csv
from samtale.routing.router import Router
from tests.routing.conftest import SHOP_QUESTIONS_DEV


@pytest.mark.parametrize(
    ("message", "route_key"),
    [
        ("where is my order", "order"),
        ("I'd like to cancel what I bought yesterday", "order"),
        ("How much do you charge to send a parcel to Finland?", "shipping"),
        ("Hvor lang tid tager det at få varen leveret?", "shipping"),
        ("Can I send the shoes back if they are too small?", "refund"),
        ("Jeg vil gerne have pengene retur for min jakke", "refund"),
        ("Which payment cards do you take?", "main"),
    ],
)
async def test_shoppers_questions_reach_the_right_flow(shop_router: Router, message: str, route_key: str) -> None:
    decision = await shop_router.decide(message=message)

    assert decision.route_key == route_key, decision.detail
    assert decision.strategy in ("semantic", "keywords")


async def test_the_shipped_chatbot_routes_real_looking_shop_questions(shop_router: Router) -> None:
    """Every other question of the EN/DA dev set (shop FAQ phrasing, not Bitext): at least 90 % right."""
    rows = read_labelled_csv(SHOP_QUESTIONS_DEV)[::2]
    misrouted = []
    for row in rows:
        decision = await shop_router.decide(message=row.utterance)
        if decision.route_key != row.flow:
            misrouted.append((row.utterance, row.flow, decision.route_key))

    assert len(rows) >= 60
    assert 1 - len(misrouted) / len(rows) >= 0.9, misrouted


async def test_an_off_topic_message_goes_to_main_below_the_threshold(shop_router: Router) -> None:
    decision = await shop_router.decide(message="who has the best record in the nfl")

    assert decision.route_key == "main"
    assert decision.detail["below_threshold"] is True
    assert decision.detail["nearest_similarity"] < decision.detail["threshold"]


async def test_the_threshold_is_calibrated_on_held_out_examples(shop_router: Router) -> None:
    assert shop_router.semantic is not None
    assert shop_router.semantic.calibrated
    assert 0.3 <= shop_router.semantic.threshold <= 0.7


async def test_a_follow_up_stays_in_the_previous_flow(shop_router: Router) -> None:
    history = [("user", "where is my order 55120?"), ("assistant", "It was sent on Monday with GLS.")]

    follow_up = await shop_router.decide(message="and when will it arrive?", history=history, last_route_key="order")
    new_topic = await shop_router.decide(message="and how do I return it?", history=history, last_route_key="order")

    assert (follow_up.route_key, follow_up.detail["follow_up"]) == ("order", True)
    assert (new_topic.route_key, new_topic.strategy) == ("refund", "keywords")


async def test_the_query_embedding_is_computed_once_and_returned(shop_router: Router, embedder: LocalEmbedder) -> None:
    computed = await shop_router.decide(message="do you ship to Iceland?")
    assert computed.query_vector is not None
    assert computed.query_vector.shape == (embedder.dimension,)

    given = (await embedder.embed(["do you ship to Iceland?"]))[0]
    reused = await shop_router.decide(message="do you ship to Iceland?", query_vector=given)

    assert reused.query_vector is given
    assert reused.route_key == computed.route_key == "shipping"
    assert np.allclose(computed.query_vector, given, atol=1e-5)


async def test_guess_with_the_query_embedding_agrees_with_the_decision(
    shop_router: Router, embedder: LocalEmbedder
) -> None:
    vector = (await embedder.embed(["can I get a refund on a broken lamp"]))[0]

    guess = shop_router.guess(message="can I get a refund on a broken lamp", query_vector=vector)
    decision = await shop_router.decide(message="can I get a refund on a broken lamp", query_vector=vector)

    assert guess.route_key == decision.route_key == "refund"
    assert guess.event_payload(speculative_hit=True)["speculative_hit"] is True
