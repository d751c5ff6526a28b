"""The FastAPI application factory and its lifespan (database, pools, hub, recorder)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from samtale import __version__
from samtale.api import (
    admin,
    admin_conversations,
    analytics,
    apikeys,
    conversation,
    conversations,
    feedback,
    health,
    images,
    knowledge,
    memories,
    monitoring,
    search,
    template_builder,
)
from samtale.api.body_limits import BodyLimitMiddleware, path_limits
from samtale.api.cors import ChatbotCORSMiddleware
from samtale.api.errors import install_error_handlers
from samtale.api.responses import FastJSONResponse
from samtale.api.shopper_auth import declare_dependency_errors
from samtale.observability.logging import configure_logging, install_secret_scrubbing
from samtale.observability.middleware import RequestMetricsMiddleware
from samtale.services import Services
from samtale.settings import Settings, get_settings
from samtale.web.routes import router as web_router


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> FastAPI:
    """Build the app. ``services`` may be injected (tests); otherwise the lifespan builds them."""
    resolved = settings or (services.settings if services else get_settings())
    if services is None:
        configure_logging(level=resolved.log_level, fmt=resolved.log_format)
    install_secret_scrubbing()

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
    app.add_middleware(ChatbotCORSMiddleware)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=resolved.max_request_body_bytes,
        max_json_depth=resolved.max_json_depth,
        limits_by_path=path_limits(resolved),
    )
    app.add_middleware(RequestMetricsMiddleware, worker_header=resolved.expose_worker_pid)
    install_error_handlers(app)
    # FastAPI matches in order of registration: the shopper's routes (process-message, streams)
    # first, as they carry nearly all traffic; then search and memories before any router with
    # /api/conversations/{id}, which would take /api/conversations/search otherwise.
    for router in (
        conversation.router,
        images.router,
        health.router,
        search.router,
        memories.router,
        conversations.router,
        feedback.router,
        admin.router,
        apikeys.router,
        admin_conversations.router,
        analytics.router,
        knowledge.router,
        monitoring.router,
        monitoring.metrics_router,
        template_builder.router,
    ):
        app.include_router(declare_dependency_errors(router))
    app.include_router(web_router)
    return app
