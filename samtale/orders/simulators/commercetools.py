"""A commercetools simulator: the OAuth2 token endpoint and orders by order number.

Routes (relative; one app serves both the auth and the API host):

- ``POST /oauth/token`` (HTTP basic client id/secret, form ``grant_type=client_credentials``,
  ``scope``) → ``{"access_token", "token_type": "Bearer", "expires_in", "scope"}``.
- ``GET /{projectKey}/orders/order-number={orderNumber}`` → the Order resource, or the API's
  404 ``ResourceNotFound`` body; 401 ``invalid_token`` for a missing or expired token.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from samtale.orders.simulators.control import SimulatorControl, basic_credentials_of, bearer_of
from samtale.orders.simulators.fixtures import SimOrder, demo_orders

SHIPMENT_STATE = {"fulfilled": "Shipped", "partial": "Partial", "unfulfilled": "Pending", "cancelled": "Canceled"}


def _order(order: SimOrder, project_key: str) -> dict[str, Any]:
    first, _, last = order.customer_name.partition(" ")
    address = {
        "firstName": first,
        "lastName": last,
        "streetName": order.street,
        "postalCode": order.postcode,
        "city": order.city,
        "country": order.country_code,
        "phone": order.phone,
        "email": order.email,
    }
    delivered = bool(order.shipments) and all(s.status == "delivered" for s in order.shipments)
    return {
        "type": "Order",
        "id": f"{project_key}-{order.number}",
        "version": 1,
        "orderNumber": order.number,
        "customerEmail": order.email,
        "createdAt": order.placed_at.isoformat().replace("+00:00", "Z"),
        "orderState": "Cancelled" if order.fulfillment == "cancelled" else "Confirmed",
        "shipmentState": "Delivered" if delivered else SHIPMENT_STATE.get(order.fulfillment, "Pending"),
        "paymentState": {"paid": "Paid", "pending": "Pending", "refunded": "CreditOwed"}.get(
            order.financial_status, "BalanceDue"
        ),
        "totalPrice": {"type": "centPrecision", "currencyCode": order.currency, "centAmount": int(order.total * 100)},
        "lineItems": [
            {"name": {"en": item.name}, "quantity": item.quantity, "variant": {"sku": item.sku}} for item in order.items
        ],
        "shippingAddress": address,
        "billingAddress": address,
        "shippingInfo": {
            "shippingMethodName": "Standard",
            "deliveries": [
                {
                    "id": f"delivery-{index}",
                    "createdAt": order.placed_at.isoformat().replace("+00:00", "Z"),
                    "items": [],
                    "parcels": [
                        {
                            "id": f"parcel-{index}",
                            "trackingData": {
                                "trackingId": shipment.tracking_number,
                                "carrier": shipment.carrier_code,
                                "provider": shipment.carrier,
                                "isReturn": False,
                            },
                        }
                    ],
                }
                for index, shipment in enumerate(order.shipments, start=1)
            ],
        },
    }


def create_commercetools_simulator(
    *, orders: list[SimOrder] | None = None, control: SimulatorControl | None = None, project_key: str = "demo-shop"
) -> FastAPI:
    """A FastAPI app speaking commercetools' auth and order API over ``orders`` (default: demo).

    Args:
        orders: the project's orders.
        control: credentials and faults (``app.state.control``).
        project_key: the project whose orders are served (others answer 404).
    """
    store = demo_orders() if orders is None else orders
    state = control or SimulatorControl()
    app = FastAPI(title="commercetools simulator", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.control = state

    @app.post("/oauth/token")
    async def token(request: Request) -> JSONResponse:
        state.calls["token"] += 1
        form = await request.form()
        client_id, secret = basic_credentials_of(request)
        if not state.credentials_ok(client_id, secret) or form.get("grant_type") != "client_credentials":
            return JSONResponse(
                {"statusCode": 401, "message": "Please provide valid client credentials.", "error": "invalid_client"},
                status_code=401,
            )
        scope = str(form.get("scope") or f"view_orders:{project_key}")
        if scope != f"view_orders:{project_key}":
            return JSONResponse(
                {"statusCode": 400, "message": "Invalid scope.", "error": "invalid_scope"}, status_code=400
            )
        return JSONResponse(
            {
                "access_token": state.issue_token(),
                "token_type": "Bearer",
                "expires_in": int(state.token_ttl_s),
                "scope": scope,
            }
        )

    @app.get("/{project}/orders/order-number={order_number}")
    async def order_by_number(project: str, order_number: str, request: Request) -> Response:
        if not state.token_valid(bearer_of(request)):
            state.calls["unauthorised"] += 1
            return JSONResponse(
                {
                    "statusCode": 401,
                    "message": "invalid_token",
                    "errors": [{"code": "invalid_token", "message": "invalid_token"}],
                    "error": "invalid_token",
                    "error_description": "invalid_token",
                },
                status_code=401,
            )
        fault = await state.fault("orders")
        if fault is not None:
            return fault
        match = next((order for order in store if order.number == order_number), None)
        if project != project_key or match is None:
            message = f"The Resource with key '{order_number}' was not found."
            return JSONResponse(
                {"statusCode": 404, "message": message, "errors": [{"code": "ResourceNotFound", "message": message}]},
                status_code=404,
            )
        return JSONResponse(_order(match, project_key))

    return app
