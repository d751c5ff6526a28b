"""Keep shoppers' data out of httpx's request log lines while an order is looked up.

httpx logs every request at INFO as ``HTTP Request: GET <url> "HTTP/1.1 200 OK"``. An order
API's URL often carries the order number and the email (Magento's ``searchCriteria`` filters,
commercetools' ``/orders/order-number=1001``, a generic REST URL template), so with the log
level at INFO those would reach the logs (issue 4: failures are logged without personal data).

Trackers send their requests inside :func:`order_lookup`; :class:`OrderLookupLogFilter`, on the
``httpx`` logger, rewrites the URL of any record written in that context to its scheme, host
and port (``https://shop.example.com/…``). Requests outside an order lookup are left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import httpx

_IN_ORDER_LOOKUP: ContextVar[bool] = ContextVar("samtale_in_order_lookup", default=False)
HTTPX_LOGGER = "httpx"


def redacted_url(url: httpx.URL) -> str:
    """``scheme://host[:port]/…``: the URL without its path, query and credentials."""
    port = f":{url.port}" if url.port is not None else ""
    return f"{url.scheme}://{url.host}{port}/…"


class OrderLookupLogFilter(logging.Filter):
    """Rewrites URL arguments of ``httpx`` records written during an order lookup (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _IN_ORDER_LOOKUP.get() and isinstance(record.args, tuple):
            record.args = tuple(redacted_url(arg) if isinstance(arg, httpx.URL) else arg for arg in record.args)
        return True


def install_order_log_filter() -> None:
    """Attach :class:`OrderLookupLogFilter` to the ``httpx`` logger once (idempotent)."""
    httpx_logger = logging.getLogger(HTTPX_LOGGER)
    if not any(isinstance(existing, OrderLookupLogFilter) for existing in httpx_logger.filters):
        httpx_logger.addFilter(OrderLookupLogFilter())


@contextmanager
def order_lookup() -> Iterator[None]:
    """Mark the requests sent inside the ``with`` block as order-API requests (see module doc)."""
    token = _IN_ORDER_LOOKUP.set(True)
    try:
        yield
    finally:
        _IN_ORDER_LOOKUP.reset(token)
