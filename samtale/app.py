"""The FastAPI application factory and its lifespan (database, pools, hub, recorder)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from samtale import __version__
from samtale.api import (
    admin,
    admin_conversations,
    conversation,
    conversations,
    health,
    images,
    knowledge,
    memories,
    monitoring,
    search,
    template_builder,
)
from samtale.api.body_limit import BodyLimitMiddleware, process_message_bound
from samtale.api.errors import install_error_handlers
from samtale.api.responses import FastJSONResponse
from samtale.observability.logging import configure_logging
from samtale.observability.middleware import RequestMetricsMiddleware
from samtale.services import Services
from samtale.settings import Settings, get_settings
from samtale.web.routes import router as web_router


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> FastAPI:
    """Build the app. ``services`` may be injected (tests); otherwise the lifespan builds them."""
    resolved = settings or (services.settings if services else get_settings())
    if services is None:
        configure_logging(level=resolved.log_level, fmt=resolved.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        # Building the services reads files (the embedding model, its ONNX export, the SQLite path):
        # done in a worker thread so the event loop is never blocked by it.
        running = services if services is not None else await asyncio.to_thread(Services.create, resolved)
        app.state.services = running
        if owned:
            await running.start()
        if running.demo_simulator_app is not None:
            app.mount("/simulators/shopify", running.demo_simulator_app)
        try:
            yield
        finally:
            if owned:
                await running.aclose()

    app = FastAPI(
        title="samtale",
        version=__version__,
        description="Conversation engine for web-shop customer-service chatbots.",
        lifespan=lifespan,
        default_response_class=FastJSONResponse,
    )
    if services is not None:
        app.state.services = services
    if resolved.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=resolved.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["*"],
        )
    app.add_middleware(BodyLimitMiddleware, limit=process_message_bound(resolved))
    app.add_middleware(RequestMetricsMiddleware, worker_header=resolved.expose_worker_pid)
    install_error_handlers(app)
    app.include_router(health.router)
    # Before any router with /api/conversations/{id}: FastAPI matches in order of registration.
    app.include_router(search.router)
    app.include_router(memories.router)
    app.include_router(conversation.router)
    app.include_router(images.router)
    # A fixed path under /api/conversations/ (e.g. /search) must be included before this router,
    # whose /api/conversations/{conversation_id} would take it otherwise.
    app.include_router(conversations.router)
    app.include_router(admin.router)
    app.include_router(admin_conversations.router)
    app.include_router(knowledge.router)
    app.include_router(monitoring.router)
    app.include_router(monitoring.metrics_router)
    app.include_router(template_builder.router)
    app.include_router(web_router)
    return app
