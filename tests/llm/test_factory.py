"""A chatbot's merged llm settings choose its provider; keys come from ${ENV} references."""

from __future__ import annotations

import httpx
import pytest

from samtale.chatbots.schema import LLMSettings
from samtale.llm.base import TextDelta
from samtale.llm.factory import LLMConfigError, create_provider
from samtale.llm.fake import FakeLLMServer
from samtale.settings import Settings

from .conftest import shop_request


def test_with_no_model_configured_the_offline_answerer_is_used(settings: Settings) -> None:
    provider = create_provider(LLMSettings(), settings=settings)
    assert provider.name == "offline"


async def test_an_openai_flow_uses_its_base_url_model_and_the_key_named_by_its_env_reference(
    settings: Settings,
) -> None:
    async with FakeLLMServer(replies=["Hej"]) as server, httpx.AsyncClient() as client:
        chatbot = LLMSettings(provider="openai", model="chatbot-model", api_key="${SHOP_LLM_KEY}")
        flow = LLMSettings(base_url=server.base_url, model="flow-model", temperature=0.5)
        provider = create_provider(
            chatbot.merged(flow),
            settings=settings,
            http_client=client,
            environ={"SHOP_LLM_KEY": "sk-from-env"},
        )
        items = [item async for item in provider.stream(shop_request("Hej"))]
    assert provider.name == "openai"
    assert "".join(i.text for i in items if isinstance(i, TextDelta)) == "Hej"
    sent = server.chat_requests[0]
    assert sent.headers["authorization"] == "Bearer sk-from-env"
    assert sent.json["model"] == "flow-model" and sent.json["temperature"] == 0.5


def test_a_flowise_flow_needs_a_chatflow_id_and_an_unset_key_is_named(settings: Settings) -> None:
    with pytest.raises(LLMConfigError, match="chatflow_id"):
        create_provider(LLMSettings(provider="flowise"), settings=settings)
    with pytest.raises(LLMConfigError, match="MISSING_KEY"):
        create_provider(LLMSettings(provider="openai", api_key="${MISSING_KEY}"), settings=settings, environ={})
    flowise = create_provider(LLMSettings(provider="flowise", chatflow_id="cf-9"), settings=settings)
    assert flowise.name == "flowise"
