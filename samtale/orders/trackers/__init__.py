"""Order trackers: one ``find_order`` over Shopify, Magento 2, commercetools, BevCo and generic REST."""

from samtale.orders.trackers.base import HttpTracker, RetryPolicy, SecondFactor, Tracker
from samtale.orders.trackers.factory import TRACKER_KINDS, create_tracker

__all__ = ["TRACKER_KINDS", "HttpTracker", "RetryPolicy", "SecondFactor", "Tracker", "create_tracker"]
