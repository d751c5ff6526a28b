"""A chatbot's first shopper does not wait for its router: the warm-up builds every router ahead."""

from __future__ import annotations

from samtale.chatbots.schema import ChatbotConfig
from samtale.chatbots.service import import_chatbot
from samtale.services import Services
from tests.routing.conftest import bitext_shop_document


async def test_the_warm_up_builds_every_chatbots_router_before_the_first_message(services: Services) -> None:
    semantic = ChatbotConfig.model_validate(bitext_shop_document())
    without = ChatbotConfig.model_validate(
        {**bitext_shop_document(), "id": "no-routing", "routing": {"strategy": "none"}}
    )
    for config in (semantic, without):
        await import_chatbot(db=services.db, config=config, secret_key=services.settings.secret_key)

    ready = await services.build_routers()

    assert list(ready) == ["bitext-shop"]  # a chatbot routing with strategy none needs no router
    assert ready["bitext-shop"].semantic is not None  # its examples are embedded
    chatbot = await services.get_chatbot("bitext-shop")
    assert await services.router_for(chatbot) is ready["bitext-shop"]  # the first message reuses it
    assert await services.router_for(await services.get_chatbot("no-routing")) is None
