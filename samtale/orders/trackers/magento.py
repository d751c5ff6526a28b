"""Magento 2 / Adobe Commerce: the REST API (``/rest/{store}/V1/orders`` and ``/V1/shipments``).

The order is searched with ``searchCriteria`` filter groups (ANDed) on ``increment_id`` and,
when given, ``customer_email``; the match is then checked exactly. Tracking numbers come from
``GET /V1/shipments`` filtered on ``order_id`` (``tracks``: ``track_number``, ``title``,
``carrier_code``); Magento stores no tracking URL, so it is built from the carrier
(:mod:`samtale.orders.trackers.carriers`).

Credentials, one of:
- an integration's four OAuth 1.0a values (``consumer_key``, ``consumer_secret``,
  ``access_token``, ``access_token_secret``): every request is signed with HMAC-SHA256 by
  ``oauthlib`` (Magento ≥ 2.4.4 accepts HMAC-SHA256 for integrations);
- ``access_token`` alone, sent as a bearer token (integration tokens as bearer, when the store
  allows it);
- ``username`` and ``password`` of an API user, exchanged at
  ``POST /rest/V1/integration/admin/token`` for an admin token that expires (4 h by default),
  cached and fetched again on 401.
Source: developer.adobe.com/commerce/webapi/rest (search criteria, authentication).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
from oauthlib import oauth1

from samtale.orders.errors import OrderAPIBadResponseError, OrderAPIConfigError, OrderNotFound
from samtale.orders.models import Order, OrderItem, Shipment
from samtale.orders.trackers.base import HttpTracker, second_factor_matches
from samtale.orders.trackers.carriers import tracking_url
from samtale.orders.trackers.tokens import CachedToken

STATUS = {
    "pending": "pending",
    "pending_payment": "pending",
    "payment_review": "pending",
    "processing": "processing",
    "complete": "shipped",
    "closed": "refunded",
    "canceled": "cancelled",
    "holded": "on_hold",
}


def search_criteria(filters: list[tuple[str, str]], *, page_size: int = 2) -> dict[str, str]:
    """Query parameters for ``searchCriteria``: one filter group per ``(field, value)`` (groups
    are ANDed), each an ``eq`` condition."""
    params: dict[str, str] = {"searchCriteria[pageSize]": str(page_size)}
    for group, (field, value) in enumerate(filters):
        prefix = f"searchCriteria[filter_groups][{group}][filters][0]"
        params[f"{prefix}[field]"] = field
        params[f"{prefix}[value]"] = value
        params[f"{prefix}[condition_type]"] = "eq"
    return params


def _financial_status(order: dict[str, Any]) -> str | None:
    refunded = float(order.get("total_refunded") or 0)
    grand_total = float(order.get("grand_total") or 0)
    if refunded > 0:
        return "refunded" if refunded >= grand_total else "partially_refunded"
    if "total_due" in order:
        return "paid" if float(order.get("total_due") or 0) <= 0 else "pending"
    return None


class MagentoTracker(HttpTracker):
    """Order lookup in one Magento 2 store view.

    Args:
        base_url: the store's root, e.g. ``https://shop.example.com``.
        store: the store code in ``/rest/{store}/V1`` (``default``).
        consumer_key, consumer_secret, access_token, access_token_secret: OAuth 1.0a; or
        access_token alone: a bearer token; or
        username, password: an admin API user for ``/V1/integration/admin/token``.
        tracking_url_templates: extra ``{carrier_code: url with {number}}``.
        kwargs: client, retry, allow_private_network, second_factors (see ``HttpTracker``).

    Raises:
        OrderAPIConfigError: no base URL, or none of the three sets of credentials.
    """

    kind = "magento"

    def __init__(
        self,
        *,
        base_url: str,
        store: str = "default",
        consumer_key: str | None = None,
        consumer_secret: str | None = None,
        access_token: str | None = None,
        access_token_secret: str | None = None,
        username: str | None = None,
        password: str | None = None,
        tracking_url_templates: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not base_url:
            raise OrderAPIConfigError("a Magento integration needs the setting 'base_url'")
        self._base = base_url.rstrip("/")
        self._rest = f"{self._base}/rest/{quote(store, safe='')}/V1"
        self._templates = tracking_url_templates or {}
        self._oauth: oauth1.Client | None = None
        self._bearer: str | None = None
        self._admin_token: CachedToken | None = None
        if consumer_key and consumer_secret and access_token and access_token_secret:
            self._oauth = oauth1.Client(
                consumer_key,
                client_secret=consumer_secret,
                resource_owner_key=access_token,
                resource_owner_secret=access_token_secret,
                signature_method=oauth1.SIGNATURE_HMAC_SHA256,
            )
        elif access_token:
            self._bearer = access_token
        elif username and password:
            self._admin_token = CachedToken(lambda: self._fetch_admin_token(username, password))
        else:
            raise OrderAPIConfigError(
                "a Magento integration needs OAuth 1.0a secrets (consumer_key, consumer_secret, access_token, "
                "access_token_secret), an access_token, or a username and password"
            )

    async def _fetch_admin_token(self, username: str, password: str) -> tuple[str, float | None]:
        response = await self._send(
            "POST",
            f"{self._base}/rest/V1/integration/admin/token",
            json={"username": username, "password": password},
            authorise=False,
        )
        if response.status_code != 200:
            raise self._unexpected(response)
        token = self._json(response)
        if not isinstance(token, str) or not token:
            raise OrderAPIBadResponseError("the magento admin token endpoint answered without a token")
        # Magento does not say when the token expires; a 401 makes us fetch a new one.
        return token, None

    async def _authorise(self, request: httpx.Request) -> None:
        if self._oauth is not None:
            _, headers, _ = self._oauth.sign(str(request.url), http_method=request.method)
            request.headers["Authorization"] = headers["Authorization"]
            return
        token = self._bearer if self._admin_token is None else await self._admin_token.get()
        request.headers["Authorization"] = f"Bearer {token}"

    async def _refresh_auth(self) -> bool:
        if self._admin_token is None:
            return False
        self._admin_token.invalidate()
        return True

    async def _lookup(self, *, order_number: str, email: str | None, postcode: str | None) -> Order:
        filters = [("increment_id", order_number)] + ([("customer_email", email)] if email else [])
        response = await self._send("GET", f"{self._rest}/orders", params=search_criteria(filters))
        if response.status_code != 200:
            raise self._unexpected(response)
        items = (self._json(response) or {}).get("items") or []
        for order in items:
            if str(order.get("increment_id")) != order_number:
                continue
            if second_factor_matches(
                email=email,
                postcode=postcode,
                order_emails=[order.get("customer_email")],
                order_postcodes=self._postcodes(order),
                allowed=self.second_factors,
            ):
                return self._normalise(order, await self._shipments(order))
        raise OrderNotFound("no Magento order matches")

    @staticmethod
    def _postcodes(order: dict[str, Any]) -> list[str | None]:
        postcodes = [(order.get("billing_address") or {}).get("postcode")]
        for assignment in (order.get("extension_attributes") or {}).get("shipping_assignments") or []:
            postcodes.append(((assignment.get("shipping") or {}).get("address") or {}).get("postcode"))
        return postcodes

    async def _shipments(self, order: dict[str, Any]) -> list[dict[str, Any]]:
        response = await self._send(
            "GET",
            f"{self._rest}/shipments",
            params=search_criteria([("order_id", str(order.get("entity_id")))], page_size=20),
        )
        if response.status_code != 200:
            raise self._unexpected(response)
        shipments: list[dict[str, Any]] = (self._json(response) or {}).get("items") or []
        return shipments

    def _normalise(self, order: dict[str, Any], shipments: list[dict[str, Any]]) -> Order:
        status = STATUS.get(str(order.get("status") or order.get("state")), "unknown")
        tracks = [track for shipment in shipments for track in shipment.get("tracks") or []]
        if status == "processing" and shipments:
            status = "partially_shipped"
        return Order(
            order_number=str(order["increment_id"]),
            placed_at=order.get("created_at"),
            status=status,
            financial_status=_financial_status(order),
            items=[
                OrderItem(name=item["name"], quantity=int(float(item.get("qty_ordered") or 0)), sku=item.get("sku"))
                for item in order.get("items") or []
                if not item.get("parent_item_id")
            ],
            shipments=[
                Shipment(
                    carrier=track.get("title") or track.get("carrier_code"),
                    tracking_number=track.get("track_number"),
                    tracking_url=tracking_url(
                        track.get("carrier_code"), track.get("track_number"), templates=self._templates
                    ),
                    status="shipped",
                )
                for track in tracks
            ],
        )
