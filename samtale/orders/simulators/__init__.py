"""Local simulators of the order APIs (real request and response shapes), for tests and the demo."""

from samtale.orders.simulators.bevco import create_bevco_simulator
from samtale.orders.simulators.commercetools import create_commercetools_simulator
from samtale.orders.simulators.control import SimulatorControl
from samtale.orders.simulators.fixtures import SimItem, SimOrder, SimShipment, demo_orders
from samtale.orders.simulators.magento import create_magento_simulator
from samtale.orders.simulators.shopify import create_shopify_simulator

__all__ = [
    "SimItem",
    "SimOrder",
    "SimShipment",
    "SimulatorControl",
    "create_bevco_simulator",
    "create_commercetools_simulator",
    "create_magento_simulator",
    "create_shopify_simulator",
    "demo_orders",
]
