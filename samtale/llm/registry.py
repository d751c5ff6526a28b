"""The process's LLM providers, one per chatbot flow and LLM settings, built on first use."""

from __future__ import annotations

import httpx

from samtale.chatbots.schema import ChatbotConfig, FlowConfig
from samtale.llm.base import LLMProvider
from samtale.llm.factory import create_provider
from samtale.settings import Settings


class ProviderRegistry:
    """Builds and keeps the LLM provider of each chatbot flow.

    A provider is keyed by chatbot id, flow type and the flow's merged LLM settings (serialised),
    so it is reused for as long as those settings stay the same and a new one is built after an
    admin write changes them. Old providers are simply dropped: they hold no connection of their
    own (they share ``http_client``).

    Args:
        settings: process settings, for the defaults a flow's LLM block leaves unset (provider,
            model, base URLs, keys, the AI pool timeout); see
            :func:`~samtale.llm.factory.create_provider`.
        http_client: the shared AI connection pool handed to every provider (``pools.ai`` in the
            app); None lets each provider make its own client. The registry never closes it.
    """

    def __init__(self, *, settings: Settings, http_client: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.http_client = http_client
        self._providers: dict[tuple[str, str, str], LLMProvider] = {}

    def provider_for(self, chatbot: ChatbotConfig, flow: FlowConfig) -> LLMProvider:
        """The LLM provider of a chatbot's flow (flow settings over chatbot settings over process
        defaults); a provider is reused while those settings stay the same.

        Raises:
            LLMConfigError: the merged settings cannot be used (a Flowise flow without a
                chatflow id, an ``${ENV}`` key whose variable is unset).
        """
        llm = chatbot.llm.merged(flow.llm)
        key = (chatbot.id, flow.type, llm.model_dump_json())
        provider = self._providers.get(key)
        if provider is None:
            provider = create_provider(llm, settings=self.settings, http_client=self.http_client)
            self._providers[key] = provider
        return provider
