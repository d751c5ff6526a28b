"""The process's routers, one per chatbot and routing configuration, built on first use or ahead."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import httpx

from samtale.chatbots.schema import ChatbotConfig
from samtale.chatbots.service import list_chatbots
from samtale.knowledge.embedders import Embedder
from samtale.routing.llm import build_classifiers
from samtale.routing.router import Router
from samtale.settings import Settings
from samtale.storage.db import Database

logger = logging.getLogger(__name__)


class RouterRegistry:
    """Builds and keeps each chatbot's :class:`~samtale.routing.router.Router`.

    A router is rebuilt only when the parts of the chatbot config it depends on change (routing,
    flows, prompts, LLM settings); building one embeds the chatbot's examples, which takes
    seconds, so concurrent first messages wait on one lock rather than build it twice.

    Args:
        embedder: the process's embedder, for the semantic strategy's examples and messages.
        settings: process settings: the LLM defaults of the classifier flows and ``data_dir``
            (the embedded examples are cached under ``<data_dir>/routing``).
        http_client: the shared AI connection pool for the LLM classifiers (``pools.ai``); None
            lets each classifier's provider make its own client. Never closed here.
    """

    def __init__(self, *, embedder: Embedder, settings: Settings, http_client: httpx.AsyncClient | None = None) -> None:
        self.embedder = embedder
        self.settings = settings
        self.http_client = http_client
        self._routers: dict[str, tuple[ChatbotConfig, Router]] = {}
        self._lock = asyncio.Lock()

    async def router_for(self, chatbot: ChatbotConfig) -> Router | None:
        """The chatbot's router, built once per routing configuration (None for strategy ``none``:
        every message goes to ``main``). The turn pipeline routes with it (speculatively).

        The config cache hands out the same object until it expires or an admin write replaces
        it, so the identity check answers nearly every turn; only a new object is compared
        field by field (never serialised: a routing block may hold thousands of examples).

        Raises:
            RoutingConfigError: the chatbot's routing config is refused.
            LLMConfigError: a classifier flow's LLM settings cannot be used.
            EmbeddingError: the examples could not be embedded.
        """
        if chatbot.routing.strategy == "none":
            return None
        cached = self._routers.get(chatbot.id)
        if cached is not None and (cached[0] is chatbot or same_routing(cached[0], chatbot)):
            self._routers[chatbot.id] = (chatbot, cached[1])
            return cached[1]
        async with self._lock:
            cached = self._routers.get(chatbot.id)
            if cached is not None and same_routing(cached[0], chatbot):
                return cached[1]
            router = await Router.build(
                config=chatbot,
                embedder=self.embedder,
                classifiers=build_classifiers(chatbot, settings=self.settings, http_client=self.http_client),
                cache_dir=self.settings.data_dir / "routing",
            )
            self._routers[chatbot.id] = (chatbot, router)
            return router

    async def build_all(
        self, *, db: Database, load_chatbot: Callable[[str], Awaitable[ChatbotConfig]]
    ) -> dict[str, Router]:
        """Build every stored chatbot's router ahead (its examples embedded), so a chatbot's first
        shopper does not wait seconds for it. A chatbot whose router fails here is logged and
        builds it at its first message; nothing is raised.

        Args:
            db: the database listing the chatbots.
            load_chatbot: loads one chatbot's config by id (the app's cached loader).

        Returns:
            The ready routers by chatbot id (a chatbot with strategy ``none`` needs none).
        """
        try:
            chatbot_ids = [row[0] for row in await list_chatbots(db=db)]
        except Exception:
            logger.exception("could not list the chatbots to build their routers ahead")
            return {}
        ready: dict[str, Router] = {}
        for chatbot_id in chatbot_ids:
            try:
                router = await self.router_for(await load_chatbot(chatbot_id))
                if router is not None:
                    ready[chatbot_id] = router
            except Exception:
                logger.exception("the router of chatbot %s could not be built ahead", chatbot_id)
        return ready


def same_routing(old: ChatbotConfig, new: ChatbotConfig) -> bool:
    """True when a router built for ``old`` is right for ``new`` (routing, flows, prompts, LLM)."""
    return old.routing == new.routing and old.flows == new.flows and old.prompts == new.prompts and old.llm == new.llm
