"""A Shopify GraphQL Admin API simulator: the order search and the client-credentials grant.

Routes are relative so the app can be mounted anywhere (the demo mounts it under
``/simulators/shopify``):

- ``POST /admin/oauth/access_token`` (form: ``grant_type=client_credentials``, ``client_id``,
  ``client_secret``) → ``{"access_token", "scope", "expires_in"}``.
- ``POST /admin/api/{version}/graphql.json`` with ``X-Shopify-Access-Token`` and
  ``{"query", "variables": {"query": "name:… email:…"}}`` → ``data.orders.nodes`` and the
  ``extensions.cost`` block. The ``name:`` search is fuzzy like Shopify's (prefix match), so
  clients must check names exactly. 401 with Shopify's text for a missing or expired token;
  ``THROTTLED`` in a 200 with the cost block; 429 with ``Retry-After``.

It is not a GraphQL engine: it recognises an ``orders(first: N, query: …)`` selection and
answers every field the tracker asks for.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from samtale.orders.simulators.control import SimulatorControl
from samtale.orders.simulators.fixtures import SimOrder, demo_orders

SEARCH_TERM = re.compile(r'(\w+):(?:"([^"]*)"|(\S+))')
FIRST = re.compile(r"orders\s*\(\s*first\s*:\s*(\d+)")
BUCKET = 2000.0
RESTORE_RATE = 100.0
QUERY_COST = 20.0
FULFILLMENT = {"fulfilled": "FULFILLED", "partial": "PARTIALLY_FULFILLED", "unfulfilled": "UNFULFILLED"}


def _cost(available: float) -> dict[str, Any]:
    return {
        "cost": {
            "requestedQueryCost": QUERY_COST,
            "actualQueryCost": None if available < QUERY_COST else QUERY_COST,
            "throttleStatus": {
                "maximumAvailable": BUCKET,
                "currentlyAvailable": available,
                "restoreRate": RESTORE_RATE,
            },
        }
    }


def _node(order: SimOrder) -> dict[str, Any]:
    fulfillment = "UNFULFILLED" if order.fulfillment == "cancelled" else FULFILLMENT.get(order.fulfillment)
    return {
        "name": f"#{order.number}",
        "email": order.email,
        "phone": order.phone,
        "createdAt": order.placed_at.isoformat().replace("+00:00", "Z"),
        "cancelledAt": order.placed_at.isoformat().replace("+00:00", "Z") if order.fulfillment == "cancelled" else None,
        "displayFinancialStatus": order.financial_status.upper(),
        "displayFulfillmentStatus": fulfillment,
        "shippingAddress": {
            "name": order.customer_name,
            "address1": order.street,
            "city": order.city,
            "zip": order.postcode,
            "countryCodeV2": order.country_code,
            "phone": order.phone,
        },
        "lineItems": {
            "nodes": [{"name": item.name, "quantity": item.quantity, "sku": item.sku} for item in order.items]
        },
        "fulfillments": [
            {
                "status": "SUCCESS",
                "displayStatus": shipment.status.upper(),
                "estimatedDeliveryAt": shipment.estimated_delivery.isoformat().replace("+00:00", "Z")
                if shipment.estimated_delivery
                else None,
                "trackingInfo": [
                    {"number": shipment.tracking_number, "url": shipment.tracking_url, "company": shipment.carrier}
                ],
            }
            for shipment in order.shipments
        ],
    }


def _matches(order: SimOrder, terms: list[tuple[str, str]]) -> bool:
    for field, value in terms:
        if field == "name" and not order.number.startswith(value.lstrip("#")):
            return False
        if field == "email" and order.email.casefold() != value.casefold():
            return False
    return True


def create_shopify_simulator(
    *, orders: list[SimOrder] | None = None, control: SimulatorControl | None = None, access_token: str | None = None
) -> FastAPI:
    """A FastAPI app speaking Shopify's GraphQL Admin API over ``orders`` (default: the demo store).

    Args:
        orders: the store's orders.
        control: credentials and faults (``app.state.control``); a fresh one by default.
        access_token: a permanent Admin API token to accept (``shpat_…``), besides issued ones.
    """
    store = demo_orders() if orders is None else orders
    state = control or SimulatorControl()
    if access_token:
        state.static_tokens.add(access_token)
    app = FastAPI(title="Shopify Admin API simulator", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.control = state

    @app.post("/admin/oauth/access_token")
    async def access_token_grant(request: Request) -> JSONResponse:
        state.calls["token"] += 1
        form = await request.form()
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if form.get("grant_type") != "client_credentials" or not state.credentials_ok(
            str(client_id) if client_id else None, str(client_secret) if client_secret else None
        ):
            return JSONResponse(
                {"error": "invalid_client", "error_description": "Client credentials are invalid"}, status_code=400
            )
        return JSONResponse(
            {"access_token": state.issue_token(), "scope": "read_orders", "expires_in": int(state.token_ttl_s)}
        )

    @app.post("/admin/api/{version}/graphql.json")
    async def graphql(version: str, request: Request) -> Response:
        if not state.token_valid(request.headers.get("x-shopify-access-token")):
            state.calls["unauthorised"] += 1
            return JSONResponse(
                {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"},
                status_code=401,
            )
        fault = await state.fault("orders")
        if fault is not None:
            return fault
        if state.throttle_next > 0:
            state.throttle_next -= 1
            available = QUERY_COST - RESTORE_RATE * float(state.retry_after)
            return JSONResponse(
                {
                    "errors": [
                        {
                            "message": "Throttled",
                            "extensions": {
                                "code": "THROTTLED",
                                "documentation": "https://shopify.dev/api/usage/rate-limits",
                            },
                        }
                    ],
                    "extensions": _cost(available),
                }
            )
        body = await request.json()
        query = str(body.get("query", ""))
        first = FIRST.search(query)
        if first is None:
            return JSONResponse({"errors": [{"message": "Field 'orders' must be selected with first:"}]})
        search = str((body.get("variables") or {}).get("query", ""))
        terms = [
            (m.group(1), m.group(2) if m.group(2) is not None else m.group(3)) for m in SEARCH_TERM.finditer(search)
        ]
        found = [_node(order) for order in store if _matches(order, terms)][: int(first.group(1))]
        return JSONResponse({"data": {"orders": {"nodes": found}}, "extensions": _cost(BUCKET - QUERY_COST)})

    return app
