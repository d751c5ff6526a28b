"""One simulated shop per tracker kind, for the shared behavioural suite."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import FastAPI

from samtale.chatbots.schema import IntegrationConfig
from samtale.orders.simulators import (
    SimOrder,
    SimulatorControl,
    create_bevco_simulator,
    create_commercetools_simulator,
    create_magento_simulator,
    create_shopify_simulator,
)

ServeApp = Callable[[FastAPI], str]

#: The shop's API credentials live in the environment and are referenced as ${NAME} in config.
ENVIRON = {"SHOP_CLIENT_ID": "sim-client", "SHOP_CLIENT_SECRET": "sim-secret"}
CLIENT_SECRETS = {"client_id": "${SHOP_CLIENT_ID}", "client_secret": "${SHOP_CLIENT_SECRET}"}


@dataclass
class Shop:
    """A simulator app, its control, and the chatbot integration pointing at it."""

    kind: str
    app: FastAPI
    control: SimulatorControl
    integration: Callable[[str], IntegrationConfig]


def make_shop(kind: str, orders: list[SimOrder] | None = None) -> Shop:
    """The demo store (order 1001 for jane@example.com, 1002 for other@example.com), or ``orders``,
    as ``kind``."""
    control = SimulatorControl()
    if kind == "shopify":
        return Shop(
            kind,
            create_shopify_simulator(orders=orders, control=control),
            control,
            lambda url: IntegrationConfig(
                name="shop",
                kind="shopify",
                settings={"shop": "demo", "base_url": url, "api_version": "2025-07", "allow_private_network": True},
                secrets=CLIENT_SECRETS,
            ),
        )
    if kind == "magento":
        return Shop(
            kind,
            create_magento_simulator(orders=orders, control=control),
            control,
            lambda url: IntegrationConfig(
                name="shop",
                kind="magento",
                settings={"base_url": url, "store": "default", "allow_private_network": True},
                secrets={"username": "${SHOP_CLIENT_ID}", "password": "${SHOP_CLIENT_SECRET}"},
            ),
        )
    if kind == "commercetools":
        return Shop(
            kind,
            create_commercetools_simulator(orders=orders, control=control, project_key="demo-shop"),
            control,
            lambda url: IntegrationConfig(
                name="shop",
                kind="commercetools",
                settings={"project_key": "demo-shop", "api_url": url, "auth_url": url, "allow_private_network": True},
                secrets=CLIENT_SECRETS,
            ),
        )
    if kind == "bevco":
        return Shop(
            kind,
            create_bevco_simulator(orders=orders, control=control),
            control,
            lambda url: IntegrationConfig(
                name="shop",
                kind="bevco",
                settings={"base_url": url, "allow_private_network": True},
                secrets=CLIENT_SECRETS,
            ),
        )
    raise ValueError(kind)
