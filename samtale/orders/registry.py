"""The process's order trackers, one per chatbot integration, and the in-process demo shop."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from samtale.chatbots.schema import ChatbotConfig, FlowConfig
from samtale.chatbots.service import integration_secrets
from samtale.orders.simulators import create_shopify_simulator
from samtale.orders.trackers.base import Tracker
from samtale.orders.trackers.factory import create_tracker
from samtale.storage.db import Database
from samtale.storage.models import Integration

DEMO_SHOPIFY_TOKEN = "shpat_demo_simulator"
"""The Admin API token the demo Shopify simulator accepts (the demo chatbots' integration uses it)."""


class TrackerRegistry:
    """Builds and keeps the order tracker of each chatbot integration.

    A tracker is keyed by chatbot id and the integration's settings (serialised), so it is reused
    while they stay the same and its access token stays cached. An integration whose settings
    carry ``demo_simulator: shopify`` is served by the in-process Shopify simulator
    (:attr:`demo_simulator_app`, the demo shop) through an ASGI client, never the network; the
    registry owns those clients and closes them in :meth:`aclose`.

    Args:
        db: the database holding the integrations' encrypted secrets.
        secret_key: ``SAMTALE_SECRET_KEY``, to decrypt them.
        http_client: the ``orders`` pool's client, shared by every real tracker (never closed
            here).
        simulator_timeout_s: the timeout in seconds of each demo simulator client
            (``pool_orders_timeout_s``, like the real pool).
    """

    def __init__(
        self, *, db: Database, secret_key: str, http_client: httpx.AsyncClient, simulator_timeout_s: float
    ) -> None:
        self.db = db
        self.secret_key = secret_key
        self.http_client = http_client
        self.simulator_timeout_s = simulator_timeout_s
        self.demo_simulator_app: Any = None
        """The demo Shopify simulator (a FastAPI app), once an integration needs it; the app mounts
        it at ``/simulators/shopify``."""
        self._trackers: dict[tuple[str, str], Tracker] = {}
        self._simulator_clients: list[httpx.AsyncClient] = []

    async def start(self) -> None:
        """Create :attr:`demo_simulator_app` ahead when a stored integration names a demo
        simulator, so the app can mount it before the first request."""
        if await self._demo_simulator_configured():
            self.demo_simulator_app = create_shopify_simulator(access_token=DEMO_SHOPIFY_TOKEN)

    async def tracker_for(self, chatbot: ChatbotConfig, flow: FlowConfig) -> Tracker | None:
        """The order tracker of a flow's integration (None when the flow names none); trackers are
        reused while the integration's settings stay the same, so their access tokens stay cached.

        An integration whose settings carry ``demo_simulator: shopify`` talks to the in-process
        Shopify simulator (the demo shop), not to the network. The flow's integration must be one
        of the chatbot's (the chatbot config's validation refuses a document where it is not).

        Raises:
            NotFoundError: the integration is not stored for this chatbot.
            SecretError: a secret cannot be decrypted or an ``${ENV}`` variable is unset.
            OrderAPIConfigError: the integration's settings do not make a tracker.
        """
        if flow.integration is None:
            return None
        integration = next(item for item in chatbot.integrations if item.name == flow.integration)
        key = (chatbot.id, integration.model_dump_json())
        tracker = self._trackers.get(key)
        if tracker is None:
            secrets = await integration_secrets(
                db=self.db, chatbot_id=chatbot.id, name=integration.name, secret_key=self.secret_key
            )
            settings = dict(integration.settings)
            client = self.http_client
            if settings.pop("demo_simulator", None) == "shopify":
                if self.demo_simulator_app is None:
                    self.demo_simulator_app = create_shopify_simulator(access_token=DEMO_SHOPIFY_TOKEN)
                client = httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=self.demo_simulator_app),
                    timeout=self.simulator_timeout_s,
                )
                self._simulator_clients.append(client)
            tracker = create_tracker(
                integration.model_copy(update={"settings": settings}), client=client, secrets=secrets
            )
            self._trackers[key] = tracker
        return tracker

    async def aclose(self) -> None:
        """Close the demo simulator clients (the shared ``orders`` client is the pools' to close)."""
        for client in self._simulator_clients:
            await client.aclose()

    async def _demo_simulator_configured(self) -> bool:
        async with self.db.session() as session:
            rows = (await session.scalars(select(Integration.settings))).all()
        return any(isinstance(row, dict) and row.get("demo_simulator") for row in rows)
