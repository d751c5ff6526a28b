"""commercetools: the HTTP API's order by order number, with an OAuth2 client-credentials token.

``POST https://auth.{region}.commercetools.com/oauth/token`` (HTTP basic with the API client's
id and secret, ``grant_type=client_credentials``, ``scope=view_orders:{projectKey}``) gives a
token that is cached until shortly before ``expires_in`` and fetched again on 401. The order
is ``GET https://api.{region}.commercetools.com/{projectKey}/orders/order-number={n}`` (404 when
there is none). Tracking numbers are in ``shippingInfo.deliveries[].parcels[].trackingData``;
commercetools has no tracking URL, so it is built from the carrier.
Source: docs.commercetools.com/api (authorization, projects/orders, shipping-delivery).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import httpx

from samtale.orders.errors import OrderAPIConfigError, OrderNotFound
from samtale.orders.models import Order, OrderItem, Shipment
from samtale.orders.trackers.base import HttpTracker, second_factor_matches
from samtale.orders.trackers.carriers import tracking_url
from samtale.orders.trackers.tokens import CachedToken, read_token_response

SHIPMENT_STATE = {
    "Delivered": "delivered",
    "Shipped": "shipped",
    "Partial": "partially_shipped",
    "Ready": "processing",
    "Pending": "processing",
    "Delayed": "processing",
    "Backorder": "processing",
    "Canceled": "cancelled",
}
ORDER_STATE = {"Open": "pending", "Confirmed": "processing", "Complete": "shipped", "Cancelled": "cancelled"}


def _snake(value: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", value).lower()


def _localised(name: Any, locale: str) -> str:
    if isinstance(name, dict) and name:
        return str(name.get(locale) or next(iter(name.values())))
    return str(name or "")


class CommercetoolsTracker(HttpTracker):
    """Order lookup in one commercetools project.

    Args:
        project_key: the project's key.
        client_id, client_secret: an API client with the ``view_orders`` scope.
        region: e.g. ``europe-west1.gcp`` (hosts ``auth.{region}…`` and ``api.{region}…``).
        api_url, auth_url: override the two hosts (the simulator, a proxy).
        scope: override ``view_orders:{project_key}``.
        locale: which language of localised product names to show.
        tracking_url_templates: extra ``{carrier: url with {number}}``.
        kwargs: client, retry, allow_private_network, second_factors (see ``HttpTracker``).

    Raises:
        OrderAPIConfigError: no project key, client id or client secret.
    """

    kind = "commercetools"

    def __init__(
        self,
        *,
        project_key: str,
        client_id: str,
        client_secret: str,
        region: str = "europe-west1.gcp",
        api_url: str | None = None,
        auth_url: str | None = None,
        scope: str | None = None,
        locale: str = "en",
        tracking_url_templates: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not (project_key and client_id and client_secret):
            raise OrderAPIConfigError(
                "a commercetools integration needs the setting 'project_key' and the secrets 'client_id', "
                "'client_secret'"
            )
        self._project = project_key
        self._api = (api_url or f"https://api.{region}.commercetools.com").rstrip("/")
        self._auth = (auth_url or f"https://auth.{region}.commercetools.com").rstrip("/")
        self._scope = scope or f"view_orders:{project_key}"
        self._locale = locale
        self._templates = tracking_url_templates or {}
        self._token = CachedToken(lambda: self._fetch_token(client_id, client_secret))

    async def _fetch_token(self, client_id: str, client_secret: str) -> tuple[str, float | None]:
        response = await self._send(
            "POST",
            f"{self._auth}/oauth/token",
            data={"grant_type": "client_credentials", "scope": self._scope},
            auth=httpx.BasicAuth(client_id, client_secret),
            authorise=False,
        )
        return read_token_response(response, kind=self.kind)

    async def _authorise(self, request: httpx.Request) -> None:
        request.headers["Authorization"] = f"Bearer {await self._token.get()}"

    async def _refresh_auth(self) -> bool:
        self._token.invalidate()
        return True

    async def _lookup(self, *, order_number: str, email: str | None, postcode: str | None) -> Order:
        url = f"{self._api}/{quote(self._project, safe='')}/orders/order-number={quote(order_number, safe='')}"
        response = await self._send("GET", url)
        if response.status_code == 404:
            raise OrderNotFound("no commercetools order has this order number")
        if response.status_code != 200:
            raise self._unexpected(response)
        order: dict[str, Any] = self._json(response)
        if str(order.get("orderNumber")) != order_number:
            raise OrderNotFound("no commercetools order has this order number")
        postcodes = [(order.get(key) or {}).get("postalCode") for key in ("shippingAddress", "billingAddress")]
        emails = [order.get("customerEmail"), (order.get("shippingAddress") or {}).get("email")]
        if not second_factor_matches(
            email=email, postcode=postcode, order_emails=emails, order_postcodes=postcodes, allowed=self.second_factors
        ):
            raise OrderNotFound("no commercetools order matches")
        return self._normalise(order)

    def _normalise(self, order: dict[str, Any]) -> Order:
        shipment_state = order.get("shipmentState")
        status = SHIPMENT_STATE.get(str(shipment_state)) or ORDER_STATE.get(str(order.get("orderState")), "unknown")
        if order.get("orderState") == "Cancelled":
            status = "cancelled"
        parcels = [
            parcel
            for delivery in (order.get("shippingInfo") or {}).get("deliveries") or []
            for parcel in delivery.get("parcels") or []
        ]
        shipments = []
        for parcel in parcels:
            tracking = parcel.get("trackingData") or {}
            carrier = tracking.get("carrier")
            number = tracking.get("trackingId")
            shipments.append(
                Shipment(
                    carrier=carrier,
                    tracking_number=number,
                    tracking_url=tracking_url(carrier, number, templates=self._templates),
                    status=_snake(str(shipment_state)) if shipment_state else None,
                )
            )
        payment = order.get("paymentState")
        return Order(
            order_number=str(order["orderNumber"]),
            placed_at=order.get("createdAt"),
            status=status,
            financial_status=_snake(str(payment)) if payment else None,
            items=[
                OrderItem(
                    name=_localised(line.get("name"), self._locale),
                    quantity=int(line.get("quantity") or 0),
                    sku=(line.get("variant") or {}).get("sku"),
                )
                for line in order.get("lineItems") or []
            ],
            shipments=shipments,
        )
