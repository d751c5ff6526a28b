"""Generic REST order lookup (and BevCo, a preset of it): URL template, auth, JSON paths.

For shops whose system has no dedicated tracker. The settings (:class:`GenericRestSettings`)
say how to ask and where the answer's fields are; the second factor is always checked here
against the email or postcode the response holds, never left to the remote API.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import jmespath
from jmespath.exceptions import JMESPathError

from samtale.orders.errors import OrderAPIBadResponseError, OrderAPIConfigError, OrderNotFound
from samtale.orders.models import Order, OrderItem, Shipment
from samtale.orders.trackers.base import HttpTracker, normalise_order_number, second_factor_matches
from samtale.orders.trackers.carriers import tracking_url
from samtale.orders.trackers.generic_config import GenericRestSettings
from samtale.orders.trackers.tokens import CachedToken, read_token_response


def _path(expression: str | None, data: Any) -> Any:
    if expression is None:
        return None
    try:
        return jmespath.search(expression, data)
    except JMESPathError as exc:
        raise OrderAPIConfigError(f"the JSON path '{expression}' is not valid JMESPath") from exc


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


class GenericRestTracker(HttpTracker):
    """Order lookup through a configured REST endpoint.

    Args:
        settings: the integration's settings (URL template, auth, paths…).
        secrets: resolved secrets by name (``token``, ``username``/``password``, ``api_key``,
            ``client_id``/``client_secret``), as the auth type needs.
        kind: ``generic`` or the preset's name (``bevco``), for messages and logs.
        kwargs: client, retry, allow_private_network, second_factors (see ``HttpTracker``).

    Raises:
        OrderAPIConfigError: a secret the auth type needs is missing, or oauth2 has no token URL.
    """

    def __init__(
        self, *, settings: GenericRestSettings, secrets: dict[str, str], kind: str = "generic", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.kind = kind
        self._settings = settings
        self._secrets = secrets
        self._token: CachedToken | None = None
        auth = settings.auth
        needed = {"bearer": ["token"], "basic": ["username", "password"], "header": ["api_key"]}.get(auth.type, [])
        if auth.type == "oauth2":
            needed = ["client_id", "client_secret"]
            if not auth.token_url:
                raise OrderAPIConfigError(f"the {kind} integration uses oauth2 but has no auth.token_url")
            self._token = CachedToken(self._fetch_token)
        missing = [name for name in needed if not secrets.get(name)]
        if missing:
            raise OrderAPIConfigError(f"the {kind} integration's {auth.type} auth needs the secrets {missing}")

    async def _fetch_token(self) -> tuple[str, float | None]:
        auth = self._settings.auth
        form = {"grant_type": "client_credentials"} | ({"scope": auth.scope} if auth.scope else {})
        basic: httpx.Auth | None = None
        if auth.client_auth == "basic":
            basic = httpx.BasicAuth(self._secrets["client_id"], self._secrets["client_secret"])
        else:
            form |= {"client_id": self._secrets["client_id"], "client_secret": self._secrets["client_secret"]}
        response = await self._send(
            "POST", self._settings.resolved_url(auth.token_url or ""), data=form, auth=basic, authorise=False
        )
        return read_token_response(response, kind=self.kind)

    async def _authorise(self, request: httpx.Request) -> None:
        auth = self._settings.auth
        if auth.type == "bearer":
            request.headers["Authorization"] = f"Bearer {self._secrets['token']}"
        elif auth.type == "basic":
            basic = httpx.BasicAuth(self._secrets["username"], self._secrets["password"])
            request.headers["Authorization"] = next(basic.auth_flow(request)).headers["Authorization"]
        elif auth.type == "header":
            request.headers[auth.header_name] = self._secrets["api_key"]
        elif self._token is not None:
            request.headers["Authorization"] = f"Bearer {await self._token.get()}"

    async def _refresh_auth(self) -> bool:
        if self._token is None:
            return False
        self._token.invalidate()
        return True

    def _render(self, template: str, values: dict[str, str], *, in_url: bool) -> str:
        rendered = self._settings.resolved_url(template)
        for name, value in values.items():
            rendered = rendered.replace("{" + name + "}", quote(value, safe="") if in_url else value)
        return rendered

    def _render_body(self, body: Any, values: dict[str, str]) -> Any:
        if isinstance(body, str):
            return self._render(body, values, in_url=False)
        if isinstance(body, dict):
            return {key: self._render_body(value, values) for key, value in body.items()}
        if isinstance(body, list):
            return [self._render_body(value, values) for value in body]
        return body

    async def _lookup(self, *, order_number: str, email: str | None, postcode: str | None) -> Order:
        settings = self._settings
        values = {"order_number": order_number, "email": email or "", "postcode": postcode or ""}
        response = await self._send(
            settings.method,
            self._render(settings.url, values, in_url=True),
            params={key: self._render(value, values, in_url=False) for key, value in settings.query.items()} or None,
            headers={key: self._render(value, values, in_url=False) for key, value in settings.headers.items()} or None,
            json=self._render_body(settings.body, values) if settings.body is not None else None,
        )
        if response.status_code in settings.not_found_statuses:
            raise OrderNotFound(f"the {self.kind} order API has no such order")
        if not response.is_success:
            raise self._unexpected(response)
        body = self._json(response)
        selected = _path(settings.paths.order, body) if settings.paths.order else body
        candidates = selected if isinstance(selected, list) else [selected]
        for order in candidates:
            if not isinstance(order, dict) or not self._same_number(order, order_number):
                continue
            if second_factor_matches(
                email=email,
                postcode=postcode,
                order_emails=[_text(_path(settings.paths.email, order))],
                order_postcodes=[_text(_path(settings.paths.postcode, order))],
                allowed=self.second_factors,
            ):
                return self._normalise(order, order_number)
        raise OrderNotFound(f"no {self.kind} order matches")

    def _same_number(self, order: dict[str, Any], order_number: str) -> bool:
        if self._settings.paths.order_number is None:
            return True
        found = _text(_path(self._settings.paths.order_number, order))
        return found is not None and (normalise_order_number(found) or "").casefold() == order_number.casefold()

    def _normalise(self, order: dict[str, Any], order_number: str) -> Order:
        paths = self._settings.paths
        raw_status = _text(_path(paths.status, order))
        status = self._settings.status_map.get(raw_status or "", (raw_status or "unknown").lower())
        items = _path(paths.items, order) or []
        shipments = _path(paths.shipments, order) or []
        if not isinstance(items, list) or not isinstance(shipments, list):
            raise OrderAPIBadResponseError(f"the {self.kind} order's items or shipments are not lists")
        financial = _text(_path(paths.financial_status, order))
        return Order(
            order_number=_text(_path(paths.order_number, order)) or order_number,
            placed_at=_path(paths.placed_at, order),
            status=status,
            financial_status=financial.lower() if financial else None,
            items=[
                OrderItem(
                    name=_text(_path(paths.item_name, item)) or "",
                    quantity=int(_path(paths.item_quantity, item) or 0),
                    sku=_text(_path(paths.item_sku, item)),
                )
                for item in items
            ],
            shipments=[self._shipment(shipment) for shipment in shipments],
        )

    def _shipment(self, shipment: Any) -> Shipment:
        paths = self._settings.paths
        carrier = _text(_path(paths.carrier, shipment))
        number = _text(_path(paths.tracking_number, shipment))
        url = _text(_path(paths.tracking_url, shipment))
        status = _text(_path(paths.shipment_status, shipment))
        return Shipment(
            carrier=carrier,
            tracking_number=number,
            tracking_url=url or tracking_url(carrier, number, templates=self._settings.tracking_url_templates),
            status=status.lower() if status else None,
            estimated_delivery=_path(paths.estimated_delivery, shipment),
        )
