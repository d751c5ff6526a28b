"""Shopify: the GraphQL Admin API (``POST /admin/api/{version}/graphql.json``).

Search is ``orders(first: 2, query: "name:… email:…")``; Shopify's search is fuzzy and order
names are not unique, so every node is checked exactly (name and email, or shipping postcode)
before it counts. Credentials: a permanent Admin API access token (``X-Shopify-Access-Token``),
or an app's client id and secret exchanged with the client-credentials grant
(``POST /admin/oauth/access_token``) for a token that expires; that token is cached and
refreshed on 401. ``THROTTLED`` errors (HTTP 200, or 429) are retried after the time the
query-cost extension says the bucket needs (requested cost − available) ÷ restore rate.
Source: shopify.dev/docs/api/admin-graphql (Order, Fulfillment, FulfillmentTrackingInfo) and
shopify.dev/docs/api/usage/rate-limits.
"""

from __future__ import annotations

from typing import Any

import httpx

from samtale.orders.errors import OrderAPIBadResponseError, OrderAPIConfigError, OrderAPIRateLimitedError, OrderNotFound
from samtale.orders.models import Order, OrderItem, Shipment
from samtale.orders.trackers.base import HttpTracker, second_factor_matches
from samtale.orders.trackers.tokens import CachedToken, read_token_response

DEFAULT_API_VERSION = "2025-07"

ORDER_QUERY = """
query FindOrder($query: String!) {
  orders(first: 2, query: $query) {
    nodes {
      name
      email
      createdAt
      cancelledAt
      displayFinancialStatus
      displayFulfillmentStatus
      shippingAddress { zip }
      lineItems(first: 50) { nodes { name quantity sku } }
      fulfillments(first: 10) {
        status
        displayStatus
        estimatedDeliveryAt
        trackingInfo(first: 10) { number url company }
      }
    }
  }
}
""".strip()

FULFILLMENT_STATUS = {
    "FULFILLED": "shipped",
    "PARTIALLY_FULFILLED": "partially_shipped",
    "UNFULFILLED": "processing",
    "IN_PROGRESS": "processing",
    "PENDING_FULFILLMENT": "processing",
    "OPEN": "processing",
    "SCHEDULED": "pending",
    "ON_HOLD": "on_hold",
    "RESTOCKED": "cancelled",
}


def throttle_wait(body: Any) -> float | None:
    """Seconds until the query-cost bucket holds the requested cost, from ``extensions.cost``."""
    try:
        cost = body["extensions"]["cost"]
        throttle = cost["throttleStatus"]
        missing = float(cost["requestedQueryCost"]) - float(throttle["currentlyAvailable"])
        return max(missing, 0.0) / float(throttle["restoreRate"])
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None


class ShopifyTracker(HttpTracker):
    """Order lookup in one Shopify store.

    Args:
        shop: the ``{shop}`` of ``{shop}.myshopify.com``.
        api_version: the Admin API version, e.g. ``2025-07`` (config ``api_version``).
        access_token: a permanent Admin API token; or
        client_id, client_secret: an app's credentials for the client-credentials grant.
        base_url: overrides ``https://{shop}.myshopify.com`` (the simulator, a proxy).
        name_prefix: the store's order-name prefix (Shopify's default ``#``).
        kwargs: client, retry, allow_private_network, second_factors (see ``HttpTracker``).

    Raises:
        OrderAPIConfigError: neither a token nor a client id and secret, or no shop/base URL.
    """

    kind = "shopify"

    def __init__(
        self,
        *,
        shop: str | None = None,
        api_version: str = DEFAULT_API_VERSION,
        access_token: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        base_url: str | None = None,
        name_prefix: str = "#",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if base_url is None and not shop:
            raise OrderAPIConfigError("a Shopify integration needs the setting 'shop' (or 'base_url')")
        self._base = (base_url or f"https://{shop}.myshopify.com").rstrip("/")
        self._api_version = api_version
        self._name_prefix = name_prefix
        self._static_token = access_token
        self._token: CachedToken | None = None
        if not access_token:
            if not (client_id and client_secret):
                raise OrderAPIConfigError(
                    "a Shopify integration needs the secret 'access_token', or 'client_id' and 'client_secret'"
                )
            self._token = CachedToken(lambda: self._fetch_token(client_id, client_secret))

    async def _fetch_token(self, client_id: str, client_secret: str) -> tuple[str, float | None]:
        response = await self._send(
            "POST",
            f"{self._base}/admin/oauth/access_token",
            data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret},
            authorise=False,
        )
        return read_token_response(response, kind=self.kind)

    async def _authorise(self, request: httpx.Request) -> None:
        token = self._static_token if self._token is None else await self._token.get()
        request.headers["X-Shopify-Access-Token"] = token or ""

    async def _refresh_auth(self) -> bool:
        if self._token is None:
            return False
        self._token.invalidate()
        return True

    def _retry_after(self, response: httpx.Response) -> float | None:
        header = super()._retry_after(response)
        if header is not None:
            return header
        try:
            return throttle_wait(response.json())
        except ValueError:
            return None

    def _check_throttled(self, response: httpx.Response) -> None:
        body = self._json(response)
        errors = body.get("errors") if isinstance(body, dict) else None
        if not errors:
            return
        codes = [str((error.get("extensions") or {}).get("code")) for error in errors if isinstance(error, dict)]
        if "THROTTLED" in codes:
            raise OrderAPIRateLimitedError(
                "the shopify order API is throttling us (THROTTLED)", retryable=True, retry_after=throttle_wait(body)
            )
        raise OrderAPIBadResponseError("the shopify order API answered with GraphQL errors", details={"codes": codes})

    def _wanted_name(self, order_number: str) -> str:
        prefix = self._name_prefix
        if prefix and prefix != "#" and order_number.upper().startswith(prefix.upper()):
            return order_number
        return f"{prefix}{order_number}"

    async def _lookup(self, *, order_number: str, email: str | None, postcode: str | None) -> Order:
        wanted = self._wanted_name(order_number)
        search = f'name:"{wanted}"' + (f' email:"{email}"' if email else "")
        response = await self._send(
            "POST",
            f"{self._base}/admin/api/{self._api_version}/graphql.json",
            json={"query": ORDER_QUERY, "variables": {"query": search}},
            check=self._check_throttled,
        )
        if response.status_code != 200:
            raise self._unexpected(response)
        body = self._json(response)
        try:
            nodes: list[dict[str, Any]] = body["data"]["orders"]["nodes"]
        except (KeyError, TypeError):
            raise OrderAPIBadResponseError("the shopify order API answered without data.orders.nodes") from None
        for node in nodes:
            if str(node.get("name", "")).casefold() != wanted.casefold():
                continue
            zip_code = (node.get("shippingAddress") or {}).get("zip")
            if second_factor_matches(
                email=email,
                postcode=postcode,
                order_emails=[node.get("email")],
                order_postcodes=[zip_code],
                allowed=self.second_factors,
            ):
                return self._normalise(node)
        raise OrderNotFound("no Shopify order matches")

    def _normalise(self, node: dict[str, Any]) -> Order:
        fulfillments = node.get("fulfillments") or []
        status = FULFILLMENT_STATUS.get(str(node.get("displayFulfillmentStatus")), "unknown")
        displays = [str(f.get("displayStatus")) for f in fulfillments if f.get("status") != "CANCELLED"]
        if status == "shipped" and displays and all(display == "DELIVERED" for display in displays):
            status = "delivered"
        if node.get("cancelledAt"):
            status = "cancelled"
        shipments = [
            Shipment(
                carrier=info.get("company"),
                tracking_number=info.get("number"),
                tracking_url=info.get("url"),
                status=(fulfillment.get("displayStatus") or fulfillment.get("status") or "").lower() or None,
                estimated_delivery=fulfillment.get("estimatedDeliveryAt"),
            )
            for fulfillment in fulfillments
            if fulfillment.get("status") != "CANCELLED"
            for info in (fulfillment.get("trackingInfo") or [{}])
        ]
        financial = node.get("displayFinancialStatus")
        return Order(
            order_number=str(node["name"]),
            placed_at=node.get("createdAt"),
            status=status,
            financial_status=str(financial).lower() if financial else None,
            items=[
                OrderItem(name=line["name"], quantity=int(line.get("quantity") or 0), sku=line.get("sku") or None)
                for line in (node.get("lineItems") or {}).get("nodes", [])
            ],
            shipments=shipments,
        )
