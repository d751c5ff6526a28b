"""A BevCo order API simulator (the API the ``bevco`` preset of the generic tracker speaks).

Routes (relative):

- ``POST /oauth/token`` (client id/secret as HTTP basic or form fields,
  ``grant_type=client_credentials``) → ``{"access_token", "token_type", "expires_in"}``.
- ``GET /api/v1/orders/{orderNumber}`` with ``Authorization: Bearer`` (or the ``X-Api-Key``
  header with a static key) → ``{"order": {…camelCase…}}``; 404 ``{"error": "order_not_found"}``;
  401 ``{"error": "invalid_token"}``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from samtale.orders.simulators.control import SimulatorControl, basic_credentials_of, bearer_of
from samtale.orders.simulators.fixtures import SimOrder, demo_orders

STATUS = {"fulfilled": "SHIPPED", "partial": "PACKED", "unfulfilled": "PICKING", "cancelled": "CANCELLED"}


def _order(order: SimOrder) -> dict[str, Any]:
    delivered = bool(order.shipments) and all(s.status == "delivered" for s in order.shipments)
    return {
        "orderNumber": order.number,
        "createdAt": order.placed_at.isoformat().replace("+00:00", "Z"),
        "status": "DELIVERED" if delivered else STATUS.get(order.fulfillment, "NEW"),
        "paymentStatus": order.financial_status.upper(),
        "customer": {"name": order.customer_name, "email": order.email, "phone": order.phone},
        "shippingAddress": {"street": order.street, "zip": order.postcode, "city": order.city},
        "lines": [{"productName": i.name, "quantity": i.quantity, "sku": i.sku} for i in order.items],
        "shipments": [
            {
                "carrier": s.carrier,
                "trackingNumber": s.tracking_number,
                "trackingUrl": s.tracking_url,
                "status": s.status.upper(),
                "estimatedDelivery": s.estimated_delivery.date().isoformat() if s.estimated_delivery else None,
            }
            for s in order.shipments
        ],
    }


def create_bevco_simulator(
    *, orders: list[SimOrder] | None = None, control: SimulatorControl | None = None, api_key: str | None = None
) -> FastAPI:
    """A FastAPI app speaking BevCo's order API over ``orders`` (default: the demo store).

    Args:
        orders: the shop's orders.
        control: credentials and faults (``app.state.control``).
        api_key: a static key accepted in ``X-Api-Key`` (for the generic ``header`` auth).
    """
    store = demo_orders() if orders is None else orders
    state = control or SimulatorControl()
    app = FastAPI(title="BevCo order API simulator", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.control = state

    @app.post("/oauth/token")
    async def token(request: Request) -> JSONResponse:
        state.calls["token"] += 1
        form = await request.form()
        client_id, secret = basic_credentials_of(request)
        if client_id is None:
            client_id = str(form.get("client_id") or "") or None
            secret = str(form.get("client_secret") or "") or None
        if form.get("grant_type") != "client_credentials" or not state.credentials_ok(client_id, secret):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        return JSONResponse(
            {"access_token": state.issue_token(), "token_type": "Bearer", "expires_in": int(state.token_ttl_s)}
        )

    @app.get("/api/v1/orders/{order_number}")
    async def order_by_number(order_number: str, request: Request) -> Response:
        key_ok = api_key is not None and request.headers.get("x-api-key") == api_key
        if not (key_ok or state.token_valid(bearer_of(request))):
            state.calls["unauthorised"] += 1
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        fault = await state.fault("orders")
        if fault is not None:
            return fault
        match = next((order for order in store if order.number == order_number), None)
        if match is None:
            return JSONResponse({"error": "order_not_found"}, status_code=404)
        return JSONResponse({"order": _order(match)})

    return app
