"""The order flow's fixed replies pass through the chatbot's substitutions like an LLM's answer."""

from __future__ import annotations

import httpx

from samtale.services import Services
from tests.conversation.helpers import add_chatbot, answer_text
from tests.orders.test_order_turns import control, say, shop_document, shop_url

__all__ = ["control", "shop_url"]  # the fixtures this module uses


async def test_a_fixed_order_question_is_substituted(
    client: httpx.AsyncClient, services: Services, shop_url: str
) -> None:
    document = shop_document(shop_url)
    document["substitutions"] = {"order confirmation email": "receipt", "order number": "order no."}
    await add_chatbot(services, **document)
    events, _ = await say(client, "Where is my order?")
    assert answer_text(events) == "I can look up your order. What is your order no.? You can find it in your receipt."
    assert events[-1]["event"] == "end"
