"""Errors of the order domain, rooted in :class:`samtale.errors.ServiceError` (category ``order_api``).

Tree::

    OrderAPIError                  the shop's order API failed; the shopper hears "not answering"
    ├── OrderAPIAuthError          credentials refused (401/403 after one token refresh)
    ├── OrderAPIRateLimitedError   429 or Shopify THROTTLED after every retry
    ├── OrderAPIUnavailableError   unreachable, or 5xx after every retry
    │   └── OrderAPITimeoutError   no answer within the pool's timeout
    ├── OrderAPIBadResponseError   a 4xx we do not expect, or a body we cannot read
    └── OrderAPIConfigError        the integration is misconfigured (unknown kind, missing
                                   secret, URL on a private network without permission)

    OrderNotFound                  no order matches the order number AND the second factor

:class:`OrderNotFound` is raised inside trackers and turned into ``None`` by
``Tracker.find_order``: a wrong email and an unknown order number must look the same to the
shopper, so they share one code path.
"""

from __future__ import annotations

from typing import Any

from samtale.errors import ErrorCategory, NotFoundError, ServiceError


class OrderAPIError(ServiceError):
    """The shop's order API could not answer the lookup.

    Args:
        message: what failed, for operators; never contains credentials or shoppers' data.
        retryable: whether the HTTP layer may try again (network errors, 429, 5xx).
        retry_after: seconds the API asked us to wait (Retry-After or Shopify's cost), if any.
    """

    code = "order_api_error"
    category = ErrorCategory.ORDER_API

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.retryable = retryable
        self.retry_after = retry_after


class OrderAPIAuthError(OrderAPIError):
    """The order API refused our credentials (HTTP 401/403), even after refreshing the token."""

    code = "order_api_auth_failed"


class OrderAPIRateLimitedError(OrderAPIError):
    """The order API kept answering 429 (or Shopify ``THROTTLED``) after every retry."""

    code = "order_api_rate_limited"


class OrderAPIUnavailableError(OrderAPIError):
    """The order API is unreachable or answered 5xx after every retry."""

    code = "order_api_unavailable"


class OrderAPITimeoutError(OrderAPIUnavailableError):
    """The order API did not answer within the timeout (the ``orders`` pool: 15 s, seed 000)."""

    code = "order_api_timeout"


class OrderAPIBadResponseError(OrderAPIError):
    """The order API answered with an unexpected 4xx or a body we cannot read."""

    code = "order_api_bad_response"


class OrderAPIConfigError(OrderAPIError):
    """The order integration is misconfigured: unknown kind, missing setting or secret, or a URL
    that resolves to a private or loopback address without ``allow_private_network: true``."""

    code = "order_api_misconfigured"


class OrderNotFound(NotFoundError):
    """No order has this order number together with this second factor.

    Raised inside trackers for both "no such order" and "second factor does not match", and
    turned into ``None`` by ``find_order``: the shopper gets the same words for either.
    """

    code = "order_not_found"
