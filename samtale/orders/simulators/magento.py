"""A Magento 2 REST API simulator: order search, shipments, admin tokens, OAuth 1.0a checks.

Routes (relative):

- ``POST /rest/V1/integration/admin/token`` (JSON ``{"username", "password"}``) → a JSON string
  token; the control's ``client_id``/``client_secret`` are the accepted username/password.
- ``GET /rest/{store}/V1/orders?searchCriteria[filter_groups][…]`` → ``{"items", "search_criteria",
  "total_count"}`` (``eq`` filters on ``increment_id``, ``customer_email``).
- ``GET /rest/{store}/V1/shipments?…order_id…`` → shipments with ``tracks``.

Requests carry ``Authorization: Bearer`` (a static or issued token) or an OAuth 1.0a header
signed with HMAC-SHA256, verified with ``oauthlib``'s signature functions against the
configured integration secrets. Unauthorised calls get Magento's 401 body.
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from oauthlib.oauth1.rfc5849 import signature

from samtale.orders.simulators.control import SimulatorControl, bearer_of
from samtale.orders.simulators.fixtures import SimOrder, demo_orders

FILTER = re.compile(r"^searchCriteria\[filter_groups\]\[(\d+)\]\[filters\]\[(\d+)\]\[(field|value|condition_type)\]$")
STATUS = {"fulfilled": "complete", "partial": "processing", "unfulfilled": "processing", "cancelled": "canceled"}
UNAUTHORISED = {
    "message": "The consumer isn't authorized to access %resources.",
    "parameters": {"resources": "Magento_Sales::actions_view"},
}


def _filters(request: Request) -> dict[str, str]:
    groups: dict[tuple[str, str], dict[str, str]] = {}
    for key, value in request.query_params.multi_items():
        match = FILTER.match(key)
        if match:
            groups.setdefault((match.group(1), match.group(2)), {})[match.group(3)] = value
    return {f["field"]: f.get("value", "") for f in groups.values() if f.get("condition_type", "eq") == "eq"}


def _order(entity_id: int, order: SimOrder) -> dict[str, Any]:
    first, _, last = order.customer_name.partition(" ")
    address = {
        "firstname": first,
        "lastname": last,
        "street": [order.street],
        "city": order.city,
        "postcode": order.postcode,
        "country_id": order.country_code,
        "telephone": order.phone,
        "email": order.email,
    }
    paid = order.financial_status == "paid"
    return {
        "entity_id": entity_id,
        "increment_id": order.number,
        "created_at": order.placed_at.strftime("%Y-%m-%d %H:%M:%S"),
        "status": STATUS.get(order.fulfillment, "pending") if paid or order.fulfillment == "cancelled" else "pending",
        "state": STATUS.get(order.fulfillment, "new"),
        "customer_email": order.email,
        "customer_firstname": first,
        "customer_lastname": last,
        "order_currency_code": order.currency,
        "grand_total": order.total,
        "total_paid": order.total if paid else 0,
        "total_due": 0 if paid else order.total,
        "total_refunded": order.total if order.financial_status == "refunded" else 0,
        "items": [
            {"item_id": index, "name": item.name, "sku": item.sku, "qty_ordered": item.quantity, "price": item.price}
            for index, item in enumerate(order.items, start=1)
        ],
        "billing_address": address,
        "extension_attributes": {
            "shipping_assignments": [{"shipping": {"address": address, "method": "flatrate_flatrate"}, "items": []}]
        },
    }


def _shipments(entity_id: int, order: SimOrder) -> list[dict[str, Any]]:
    return [
        {
            "entity_id": entity_id * 100 + index,
            "order_id": entity_id,
            "created_at": order.placed_at.strftime("%Y-%m-%d %H:%M:%S"),
            "tracks": [
                {
                    "entity_id": entity_id * 100 + index,
                    "order_id": entity_id,
                    "track_number": shipment.tracking_number,
                    "title": shipment.carrier,
                    "carrier_code": shipment.carrier_code,
                }
            ],
        }
        for index, shipment in enumerate(order.shipments, start=1)
    ]


def create_magento_simulator(
    *,
    orders: list[SimOrder] | None = None,
    control: SimulatorControl | None = None,
    access_token: str | None = None,
    oauth_credentials: dict[str, str] | None = None,
) -> FastAPI:
    """A FastAPI app speaking Magento 2's REST API over ``orders`` (default: the demo store).

    Args:
        orders: the store's orders (entity ids are their positions, from 1).
        control: credentials and faults (``app.state.control``).
        access_token: an integration token accepted as a bearer token.
        oauth_credentials: ``consumer_key``, ``consumer_secret``, ``access_token``,
            ``access_token_secret`` of an integration whose OAuth 1.0a signatures are accepted.
    """
    store = demo_orders() if orders is None else orders
    state = control or SimulatorControl()
    if access_token:
        state.static_tokens.add(access_token)
    app = FastAPI(title="Magento 2 REST simulator", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.control = state

    def signed(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if oauth_credentials is None or not header.startswith("OAuth "):
            return False
        params = signature.collect_parameters(uri_query=request.url.query, headers={"Authorization": header})
        given = dict(signature.collect_parameters(headers={"Authorization": header}, exclude_oauth_signature=False))
        if given.get("oauth_signature_method") != "HMAC-SHA256":
            return False
        if given.get("oauth_consumer_key") != oauth_credentials["consumer_key"]:
            return False
        if given.get("oauth_token") != oauth_credentials["access_token"]:
            return False
        base = signature.signature_base_string(
            request.method,
            signature.base_string_uri(str(request.url.replace(query=""))),
            signature.normalize_parameters(params),
        )
        # sign_hmac_sha256(base, secret, secret) is deprecated in oauthlib; the _with_client form
        # reads the same two secrets from a client object.
        secrets = SimpleNamespace(
            client_secret=oauth_credentials["consumer_secret"],
            resource_owner_secret=oauth_credentials["access_token_secret"],
        )
        expected = signature.sign_hmac_sha256_with_client(base, secrets)
        return signature.safe_string_equals(expected, given.get("oauth_signature", ""))

    async def guard(request: Request, route: str) -> Response | None:
        if not (state.token_valid(bearer_of(request)) or signed(request)):
            state.calls["unauthorised"] += 1
            return JSONResponse(UNAUTHORISED, status_code=401)
        return await state.fault(route)

    @app.post("/rest/V1/integration/admin/token")
    async def admin_token(request: Request) -> JSONResponse:
        state.calls["token"] += 1
        body = await request.json()
        if not state.credentials_ok(body.get("username"), body.get("password")):
            return JSONResponse(
                {"message": "The account sign-in was incorrect or your account is disabled temporarily."},
                status_code=401,
            )
        return JSONResponse(state.issue_token())

    @app.get("/rest/{store_code}/V1/orders")
    async def orders_search(store_code: str, request: Request) -> Response:
        refused = await guard(request, "orders")
        if refused is not None:
            return refused
        wanted = _filters(request)
        found = [
            _order(entity_id, order)
            for entity_id, order in enumerate(store, start=1)
            if ("increment_id" not in wanted or order.number == wanted["increment_id"])
            and ("customer_email" not in wanted or order.email.casefold() == wanted["customer_email"].casefold())
        ]
        page_size = int(request.query_params.get("searchCriteria[pageSize]", "20"))
        return JSONResponse({"items": found[:page_size], "search_criteria": {}, "total_count": len(found)})

    @app.get("/rest/{store_code}/V1/shipments")
    async def shipments_search(store_code: str, request: Request) -> Response:
        refused = await guard(request, "shipments")
        if refused is not None:
            return refused
        order_id = _filters(request).get("order_id")
        found = [
            shipment
            for entity_id, order in enumerate(store, start=1)
            if str(entity_id) == order_id
            for shipment in _shipments(entity_id, order)
        ]
        return JSONResponse({"items": found, "search_criteria": {}, "total_count": len(found)})

    return app
