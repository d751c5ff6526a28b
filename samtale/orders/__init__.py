"""Order tracking (DESIGN section 11): extraction, verification, trackers and their simulators.

The conversation pipeline needs :func:`handle_order_turn` and :func:`create_tracker`; the
``order`` SSE event carries ``OrderTurnResult.summary``.
"""

from samtale.orders.errors import (
    OrderAPIAuthError,
    OrderAPIBadResponseError,
    OrderAPIConfigError,
    OrderAPIError,
    OrderAPIRateLimitedError,
    OrderAPITimeoutError,
    OrderAPIUnavailableError,
    OrderNotFound,
)
from samtale.orders.extraction import ExtractedVariables, evaluate_extraction, extract_order_variables
from samtale.orders.flow import OrderTurnResult, handle_order_turn
from samtale.orders.models import Order, OrderItem, Shipment
from samtale.orders.trackers import RetryPolicy, Tracker, create_tracker

__all__ = [
    "ExtractedVariables",
    "Order",
    "OrderAPIAuthError",
    "OrderAPIBadResponseError",
    "OrderAPIConfigError",
    "OrderAPIError",
    "OrderAPIRateLimitedError",
    "OrderAPITimeoutError",
    "OrderAPIUnavailableError",
    "OrderItem",
    "OrderNotFound",
    "OrderTurnResult",
    "RetryPolicy",
    "Shipment",
    "Tracker",
    "create_tracker",
    "evaluate_extraction",
    "extract_order_variables",
    "handle_order_turn",
]
