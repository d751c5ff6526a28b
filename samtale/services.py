"""The process's long-lived parts, built once by the app's lifespan (or by the CLI): the composition root.

:class:`Services` owns the database, the stream hub, the turn recorder, the outbound HTTP pools,
the embedder, the retriever, the conversation service and the file storage backend (``files``),
and closes them in reverse order. The domain caches live in their packages
(:class:`~samtale.llm.registry.ProviderRegistry`, :class:`~samtale.orders.registry.TrackerRegistry`,
:class:`~samtale.routing.registry.RouterRegistry`);
this module only wires them together. Only the app, the API and the CLI import it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from cachetools import TTLCache

from samtale.analytics.worker import AnalyticsWorker, TurnFacts
from samtale.chatbots.schema import ChatbotConfig, FlowConfig
from samtale.chatbots.service import allowed_origins_by_chatbot, get_chatbot, identity_secret
from samtale.conversation.recorder import TurnRecord, TurnRecorder
from samtale.conversation.retention import purge_conversations
from samtale.conversation.service import ConversationService
from samtale.conversation.turn_lock import LocalTurnLocks, RedisTurnLocks, TurnLocks
from samtale.files.factory import build_file_storage
from samtale.files.storage import FileStorage
from samtale.http.outbound_guard import OutboundPolicy
from samtale.http.pools import HttpPools, PoolsConfig
from samtale.images.describe import ImageDescriber
from samtale.knowledge.embedders import Embedder, build_embedder
from samtale.knowledge.jobs import KnowledgeJobs
from samtale.knowledge.retrieval import Retriever, fusion_weights
from samtale.knowledge.stores.config import StoreRegistry
from samtale.llm.base import LLMProvider
from samtale.llm.registry import ProviderRegistry
from samtale.observability.errors import log_turn_failure
from samtale.observability.maintenance import MaintenanceScheduler, create_scheduler
from samtale.observability.metrics import observe_turn, register_stats_sources
from samtale.observability.system import register_active_streams
from samtale.orders.registry import TrackerRegistry
from samtale.orders.trackers.base import Tracker
from samtale.routing.registry import RouterRegistry
from samtale.routing.router import Router
from samtale.security.client_address import IPNetwork, parse_networks
from samtale.security.origins import OriginRegistry
from samtale.security.rate_limits import RateLimiter
from samtale.settings import Settings
from samtale.storage.cache import CacheRegistry
from samtale.storage.db import Database, create_database
from samtale.streaming.hub import StreamHub
from samtale.streaming.redis_hub import RedisStreamHub

__all__ = ["Services", "build_embedder"]

logger = logging.getLogger(__name__)

IDENTITY_SECRET_TTL_S = 30.0
"""How long a worker keeps a chatbot's decrypted identity secret (seconds)."""


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
    files: FileStorage = field(init=False)
    scheduler: MaintenanceScheduler | None = None
    started_monotonic: float = field(default_factory=time.monotonic)
    providers: ProviderRegistry = field(init=False)
    trackers: TrackerRegistry = field(init=False)
    routers: RouterRegistry = field(init=False)
    rate_limiter: RateLimiter = field(init=False)
    trusted_proxies: tuple[IPNetwork, ...] = field(init=False)
    origins: OriginRegistry = field(init=False)
    analytics: AnalyticsWorker = field(init=False)
    _background: list[asyncio.Task[Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.providers = ProviderRegistry(settings=self.settings, http_client=self.pools.ai)
        self.trackers = TrackerRegistry(
            db=self.db,
            secret_key=self.settings.secret_key,
            http_client=self.pools.orders,
            simulator_timeout_s=self.settings.pool_orders_timeout_s,
        )
        self.routers = RouterRegistry(embedder=self.embedder, settings=self.settings, http_client=self.pools.ai)
        self.recorder.on_written = self._after_turns
        self.analytics = AnalyticsWorker(
            db=self.db, settings=self.settings, load_chatbot=self.get_chatbot, provider_factory=self.provider_for
        )
        self.files = build_file_storage(self.settings)
        self.rate_limiter = RateLimiter(
            redis_url=self.settings.redis_url, key_prefix=self.settings.rate_limit_key_prefix
        )
        self.trusted_proxies = parse_networks(self.settings.trusted_proxies)
        self.origins = OriginRegistry(
            load=lambda: allowed_origins_by_chatbot(db=self.db), deployment_origins=self.settings.cors_origins
        )
        self._identity_secrets: TTLCache[str, str | None] = TTLCache(maxsize=10_000, ttl=IDENTITY_SECRET_TTL_S)
        self.turn_locks: TurnLocks = (
            RedisTurnLocks(url=self.settings.redis_url, ttl_s=self.settings.turn_lock_ttl_s)
            if self.settings.redis_url
            else LocalTurnLocks(ttl_s=self.settings.turn_lock_ttl_s)
        )
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
            locks=self.turn_locks,
            identity_secret=self.identity_secret_for,
            persist_wait_s=self.settings.turn_persist_wait_s,
            lock_ttl_s=self.settings.turn_lock_ttl_s,
            rate_limiter=self.rate_limiter,
            images=ImageDescriber(
                db=self.db, storage=self.files, provider_factory=self.provider_for, retries=self.settings.llm_retries
            ),
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
        """Build the services for ``settings``; call :meth:`start` inside the event loop afterwards.

        Blocking: it reads the embedding model's files (and exports it to ONNX when asked to), so
        call it before the event loop starts or in a worker thread (``asyncio.to_thread``).
        """
        database = db or create_database(settings.database_url)
        pools = HttpPools(
            config=PoolsConfig.from_settings(settings),
            policy=OutboundPolicy(
                allow=settings.outbound_allow,
                trusted_urls=settings.operator_urls,
                allow_loopback=settings.environment == "development",
            ),
        )
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
        await self.trackers.start()
        register_stats_sources(pools=self.pools, caches=self.caches)
        register_active_streams(lambda: self.hub.active_count)
        self.recorder.start()
        if self.settings.analytics_enabled:
            self.analytics.start()
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
                    "conversation_retention": self.settings.maintenance_conversation_retention_cron,
                },
                purge_conversations=lambda: purge_conversations(
                    db=self.db,
                    grace_days=self.settings.deleted_conversation_grace_days,
                    files=self.files,
                    unused_upload_hours=self.settings.unused_upload_hours,
                ),
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
        return await self.routers.build_all(db=self.db, load_chatbot=self.get_chatbot)

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
        """Forget a chatbot's cached config in every worker (after an admin write), and this
        worker's copy of its identity secret (other workers' expire within ``IDENTITY_SECRET_TTL_S``)."""
        await self.caches.config.delete(chatbot_id)
        self._identity_secrets.pop(chatbot_id, None)
        self.origins.invalidate()

    async def identity_secret_for(self, chatbot_id: str) -> str | None:
        """A chatbot's identity secret for verifying ``user_hash``, decrypted; kept in this process
        only (never in Redis) for ``IDENTITY_SECRET_TTL_S`` seconds.

        Raises:
            ChatbotNotFoundError: unknown chatbot. SecretError: it cannot be decrypted.
        """
        if chatbot_id in self._identity_secrets:
            return self._identity_secrets[chatbot_id]
        secret = await identity_secret(db=self.db, chatbot_id=chatbot_id, secret_key=self.settings.secret_key)
        self._identity_secrets[chatbot_id] = secret
        return secret

    @property
    def demo_simulator_app(self) -> Any:
        """The in-process demo Shopify simulator (a FastAPI app) once an integration needs it, else
        None; the app mounts it at ``/simulators/shopify``."""
        return self.trackers.demo_simulator_app

    def provider_for(self, chatbot: ChatbotConfig, flow: FlowConfig) -> LLMProvider:
        """The LLM provider of a chatbot's flow (see :meth:`ProviderRegistry.provider_for`)."""
        return self.providers.provider_for(chatbot, flow)

    async def router_for(self, chatbot: ChatbotConfig) -> Router | None:
        """The chatbot's router, or None for strategy ``none`` (see :meth:`RouterRegistry.router_for`)."""
        return await self.routers.router_for(chatbot)

    async def tracker_for(self, chatbot: ChatbotConfig, flow: FlowConfig) -> Tracker | None:
        """The order tracker of a flow's integration, or None (see :meth:`TrackerRegistry.tracker_for`)."""
        return await self.trackers.tracker_for(chatbot, flow)

    async def _after_turns(self, batch: list[TurnRecord]) -> None:
        if self.settings.analytics_enabled:
            self.analytics.submit([turn_facts(record) for record in batch])
        for record in batch:
            observe_turn({**record.metrics.row(), "chatbot_id": record.chatbot_id})
            if record.error is not None:
                await log_turn_failure(
                    db=self.db,
                    chatbot_id=record.chatbot_id,
                    category=record.error.category,
                    message=record.error.message,
                    streaming_session_id=record.streaming_session_id,
                    flow_type=record.flow_type,
                    provider=record.metrics.provider,
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
        await self.analytics.close()
        await self.turn_locks.aclose()
        await self.rate_limiter.aclose()
        await self.files.aclose()
        await self.hub.aclose()
        await self.caches.aclose()
        await self.trackers.aclose()
        await self.pools.aclose()
        if isinstance(self.retriever.stores, StoreRegistry):
            await self.retriever.stores.aclose()
        await self.db.dispose()


def turn_facts(record: TurnRecord) -> TurnFacts:
    """What the analytics worker needs of a stored turn: the best retrieval score is the best
    cosine similarity of the chunks used (their fused score when a store gives no cosine)."""
    scores = [chunk.vector_score if chunk.vector_score is not None else chunk.score for chunk in record.context]
    metrics = record.metrics
    return TurnFacts(
        chatbot_id=record.chatbot_id,
        session_id=record.session_id,
        streaming_session_id=record.streaming_session_id,
        user_id=record.user_id,
        question=record.user_text,
        answer=record.assistant_text,
        language=record.language,
        status="ok" if record.status == "completed" else record.status,
        error_category=record.error.category.value if record.error is not None else metrics.error_category,
        flow_type=record.flow_type,
        route_key=metrics.route_key,
        speculative_hit=metrics.speculative_hit,
        ttft_ms=metrics.ttft_ms,
        best_score=max(scores) if scores else None,
        sources=len(record.context),
        order_shown=any(event.event == "order" for event in record.events),
        started_at=record.started_at,
    )
