"""The process's long-lived parts, built once by the app's lifespan (or by the CLI).

:class:`Services` owns the database, the stream hub, the turn recorder, the outbound HTTP pools,
the embedder, the retriever and the conversation service, and closes them in reverse order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select

from samtale.chatbots.schema import ChatbotConfig, FlowConfig
from samtale.chatbots.service import get_chatbot, integration_secrets, list_chatbots
from samtale.conversation.recorder import TurnRecord, TurnRecorder
from samtale.conversation.service import ConversationService
from samtale.http.pools import HttpPools, PoolsConfig
from samtale.knowledge.embedders import Embedder, OpenAIEmbedder, build_local_embedder
from samtale.knowledge.jobs import KnowledgeJobs
from samtale.knowledge.retrieval import Retriever, fusion_weights
from samtale.knowledge.stores.config import StoreRegistry
from samtale.llm.base import LLMProvider
from samtale.llm.factory import create_provider
from samtale.observability.errors import log_error
from samtale.observability.maintenance import MaintenanceScheduler, create_scheduler
from samtale.observability.metrics import observe_turn, register_stats_sources
from samtale.observability.system import register_active_streams
from samtale.orders.simulators import create_shopify_simulator
from samtale.orders.trackers.base import Tracker
from samtale.orders.trackers.factory import create_tracker
from samtale.routing.llm import build_classifiers
from samtale.routing.router import Router
from samtale.settings import Settings
from samtale.storage.cache import CacheRegistry
from samtale.storage.db import Database, create_database
from samtale.storage.models import Integration
from samtale.streaming.hub import StreamHub
from samtale.streaming.redis_hub import RedisStreamHub

logger = logging.getLogger(__name__)
DEMO_SHOPIFY_TOKEN = "shpat_demo_simulator"


def build_embedder(settings: Settings, *, pools: HttpPools | None = None) -> Embedder:
    """The configured embedder: the local all-MiniLM-L6-v2 by default, or an OpenAI-compatible one."""
    if settings.embedding_provider == "openai":
        if not settings.embedding_base_url or not settings.embedding_dimension:
            raise ValueError(
                "SAMTALE_EMBEDDING_BASE_URL and SAMTALE_EMBEDDING_DIMENSION are required when "
                "SAMTALE_EMBEDDING_PROVIDER=openai"
            )
        return OpenAIEmbedder(
            base_url=settings.embedding_base_url,
            model=settings.embedding_model,
            dimension=settings.embedding_dimension,
            api_key=settings.embedding_api_key,
            client=pools.ai if pools else None,
        )
    return build_local_embedder(
        runtime=settings.embedding_runtime,
        data_dir=settings.data_dir,
        models_dir=settings.models_dir,
        batch_size=settings.embedding_batch_size,
        max_seq_length=settings.embedding_max_seq_length,
        threads=settings.embedding_threads or None,
        query_batch_max=settings.embedding_query_batch_max,
        bulk_threads=settings.embedding_bulk_threads or None,
    )


@dataclass
class Services:
    """Everything a request handler needs, built by :meth:`create` and closed by :meth:`aclose`."""

    settings: Settings
    db: Database
    hub: StreamHub
    recorder: TurnRecorder
    pools: HttpPools
    embedder: Embedder
    retriever: Retriever
    caches: CacheRegistry
    conversation: ConversationService = field(init=False)
    knowledge_jobs: KnowledgeJobs = field(init=False)
    scheduler: MaintenanceScheduler | None = None
    started_monotonic: float = field(default_factory=time.monotonic)
    demo_simulator_app: Any = None
    _providers: dict[tuple[str, str, str], LLMProvider] = field(default_factory=dict)
    _trackers: dict[tuple[str, str], Tracker] = field(default_factory=dict)
    _routers: dict[str, tuple[ChatbotConfig, Router]] = field(default_factory=dict)
    _router_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _simulator_clients: list[httpx.AsyncClient] = field(default_factory=list)
    _background: list[asyncio.Task[Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.recorder.on_written = self._after_turns
        self.conversation = ConversationService(
            db=self.db,
            hub=self.hub,
            recorder=self.recorder,
            load_chatbot=self.get_chatbot,
            provider_factory=self.provider_for,
            tracker_factory=self.tracker_for,
            router=self.router_for,
            retriever=self.retriever,
            max_message_chars=self.settings.max_message_chars,
            llm_retries=self.settings.llm_retries,
        )
        self.knowledge_jobs = KnowledgeJobs(
            db=self.db,
            embedder=self.embedder,
            work_dir=self.settings.data_dir / "knowledge-uploads",
            max_file_bytes=self.settings.knowledge_max_file_bytes,
            on_change=lambda chatbot_id, index_name: self.retriever.snapshots.invalidate(
                chatbot_id=chatbot_id, index_name=index_name
            ),
        )

    @classmethod
    def create(cls, settings: Settings, *, db: Database | None = None) -> Services:
        """Build the services for ``settings`` (no I/O yet; call :meth:`start` inside the event loop)."""
        database = db or create_database(settings.database_url)
        pools = HttpPools(config=PoolsConfig.from_settings(settings))
        embedder = build_embedder(settings, pools=pools)
        caches = CacheRegistry(
            redis_url=settings.redis_url,
            config_ttl_s=settings.cache_config_ttl_s,
            prompt_ttl_s=settings.cache_prompt_ttl_s,
            value_types={"config": ChatbotConfig},
        )
        return cls(
            settings=settings,
            db=database,
            hub=(
                RedisStreamHub(url=settings.redis_url, retention_s=settings.stream_retention_s)
                if settings.redis_url
                else StreamHub(retention_s=settings.stream_retention_s)
            ),
            recorder=TurnRecorder(db=database),
            pools=pools,
            embedder=embedder,
            retriever=Retriever(
                db=database,
                embedder=embedder,
                stores=StoreRegistry(db=database, secret_key=settings.secret_key),
                index_weights={
                    name: fusion_weights(values) for name, values in settings.knowledge_index_weights.items()
                },
            ),
            caches=caches,
        )

    async def start(self, *, warm_up: bool = True, scheduler: bool = True) -> None:
        """Start the writer, the caches, the maintenance jobs; load the embedding model and build the
        chatbots' routers in the background (``warm_up``)."""
        await self.caches.start()
        await self.hub.start()
        if await self._demo_simulator_configured():
            self.demo_simulator_app = create_shopify_simulator(access_token=DEMO_SHOPIFY_TOKEN)
        register_stats_sources(pools=self.pools, caches=self.caches)
        register_active_streams(lambda: self.hub.active_count)
        self.recorder.start()
        if scheduler and self.settings.maintenance_enabled:
            self.scheduler = create_scheduler(
                db=self.db,
                caches=self.caches,
                redis_url=self.settings.redis_url,
                retention_days=self.settings.metrics_retention_days,
                stream_retention_s=self.settings.stream_db_retention_s,
                timezone=self.settings.maintenance_timezone,
                hold_s=self.settings.maintenance_lock_hold_s,
                crons={
                    "cache_cleanup": self.settings.maintenance_cache_cleanup_cron,
                    "metrics_retention": self.settings.maintenance_metrics_retention_cron,
                    "stream_cleanup": self.settings.maintenance_stream_cleanup_cron,
                },
            )
            self.scheduler.start()
        self._background.append(asyncio.create_task(self._expire_streams(), name="samtale-stream-expiry"))
        if warm_up:
            self._background.append(asyncio.create_task(self._warm_up(), name="samtale-warm-up"))

    async def _warm_up(self) -> None:
        try:
            await self.embedder.embed(["warm up"])
        except Exception:
            logger.exception("the embedding model could not be loaded; retrieval will fail until it can")
        await self.build_routers()

    async def build_routers(self) -> dict[str, Router]:
        """Build every chatbot's router ahead (its examples embedded), as the warm-up does in the
        background, so a chatbot's first shopper does not wait seconds for it. A chatbot whose
        router fails here is logged and builds it at its first message.

        Returns:
            The ready routers by chatbot id (a chatbot with strategy ``none`` needs none).
        """
        try:
            chatbot_ids = [row[0] for row in await list_chatbots(db=self.db)]
        except Exception:
            logger.exception("could not list the chatbots to build their routers ahead")
            return {}
        ready: dict[str, Router] = {}
        for chatbot_id in chatbot_ids:
            try:
                router = await self.router_for(await self.get_chatbot(chatbot_id))
                if router is not None:
                    ready[chatbot_id] = router
            except Exception:
                logger.exception("the router of chatbot %s could not be built ahead", chatbot_id)
        return ready

    async def _expire_streams(self) -> None:
        while True:
            await asyncio.sleep(min(60.0, self.settings.stream_retention_s))
            self.hub.expire()

    async def get_chatbot(self, chatbot_id: str) -> ChatbotConfig:
        """A chatbot's config from the ``config`` cache (TTL ``cache_config_ttl_s``, seed 000: 5 min).

        Raises:
            ChatbotNotFoundError: when no chatbot has that id.
        """
        return await get_chatbot(db=self.db, chatbot_id=chatbot_id, cache=self.caches.config)

    async def invalidate_chatbot(self, chatbot_id: str) -> None:
        """Forget a chatbot's cached config in every worker (after an admin write)."""
        await self.caches.config.delete(chatbot_id)

    def provider_for(self, chatbot: ChatbotConfig, flow: FlowConfig) -> LLMProvider:
        """The LLM provider of a chatbot's flow (flow settings over chatbot settings over process
        defaults); a provider is reused while those settings stay the same."""
        llm = chatbot.llm.merged(flow.llm)
        key = (chatbot.id, flow.type, llm.model_dump_json())
        provider = self._providers.get(key)
        if provider is None:
            provider = create_provider(llm, settings=self.settings, http_client=self.pools.ai)
            self._providers[key] = provider
        return provider

    async def router_for(self, chatbot: ChatbotConfig) -> Router | None:
        """The chatbot's router, built once per routing configuration (None for strategy ``none``:
        every message goes to ``main``). The turn pipeline routes with it (speculatively).

        The config cache hands out the same object until it expires or an admin write replaces
        it, so the identity check answers nearly every turn; only a new object is compared
        field by field (never serialised: a routing block may hold thousands of examples).
        """
        if chatbot.routing.strategy == "none":
            return None
        cached = self._routers.get(chatbot.id)
        if cached is not None and (cached[0] is chatbot or _same_routing(cached[0], chatbot)):
            self._routers[chatbot.id] = (chatbot, cached[1])
            return cached[1]
        async with self._router_lock:
            cached = self._routers.get(chatbot.id)
            if cached is not None and _same_routing(cached[0], chatbot):
                return cached[1]
            router = await Router.build(
                config=chatbot,
                embedder=self.embedder,
                classifiers=build_classifiers(chatbot, settings=self.settings, http_client=self.pools.ai),
                cache_dir=self.settings.data_dir / "routing",
            )
            self._routers[chatbot.id] = (chatbot, router)
            return router

    async def tracker_for(self, chatbot: ChatbotConfig, flow: FlowConfig) -> Tracker | None:
        """The order tracker of a flow's integration (None when the flow names none); trackers are
        reused while the integration's settings stay the same, so their access tokens stay cached.

        An integration whose settings carry ``demo_simulator: shopify`` talks to the in-process
        Shopify simulator (the demo shop), not to the network.
        """
        if flow.integration is None:
            return None
        integration = next(item for item in chatbot.integrations if item.name == flow.integration)
        key = (chatbot.id, integration.model_dump_json())
        tracker = self._trackers.get(key)
        if tracker is None:
            secrets = await integration_secrets(
                db=self.db, chatbot_id=chatbot.id, name=integration.name, secret_key=self.settings.secret_key
            )
            settings = dict(integration.settings)
            client = self.pools.orders
            if settings.pop("demo_simulator", None) == "shopify":
                if self.demo_simulator_app is None:
                    self.demo_simulator_app = create_shopify_simulator(access_token=DEMO_SHOPIFY_TOKEN)
                client = httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=self.demo_simulator_app),
                    timeout=self.settings.pool_orders_timeout_s,
                )
                self._simulator_clients.append(client)
            tracker = create_tracker(
                integration.model_copy(update={"settings": settings}), client=client, secrets=secrets
            )
            self._trackers[key] = tracker
        return tracker

    async def _demo_simulator_configured(self) -> bool:
        async with self.db.session() as session:
            rows = (await session.scalars(select(Integration.settings))).all()
        return any(isinstance(row, dict) and row.get("demo_simulator") for row in rows)

    async def _after_turns(self, batch: list[TurnRecord]) -> None:
        for record in batch:
            observe_turn({**record.metrics.row(), "chatbot_id": record.chatbot_id})
            if record.error is not None:
                await log_error(
                    db=self.db,
                    category=record.error.category,
                    code=f"turn_{record.error.category.value}",
                    message=record.error.message,
                    chatbot_id=record.chatbot_id,
                    context={
                        "streaming_session_id": record.streaming_session_id,
                        "flow_type": record.flow_type,
                        "provider": record.metrics.provider,
                    },
                )

    async def aclose(self) -> None:
        """Finish running turns, write what is queued, close pools and the database."""
        await self.knowledge_jobs.aclose()
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self.scheduler is not None:
            await self.scheduler.shutdown()
        await self.conversation.drain()
        await self.recorder.close()
        await self.hub.aclose()
        await self.caches.aclose()
        for client in self._simulator_clients:
            await client.aclose()
        await self.pools.aclose()
        if isinstance(self.retriever.stores, StoreRegistry):
            await self.retriever.stores.aclose()
        await self.db.dispose()


def _same_routing(old: ChatbotConfig, new: ChatbotConfig) -> bool:
    """True when a router built for ``old`` is right for ``new`` (routing, flows, prompts, LLM)."""
    return old.routing == new.routing and old.flows == new.flows and old.prompts == new.prompts and old.llm == new.llm
