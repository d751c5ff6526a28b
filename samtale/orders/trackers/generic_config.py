"""Settings of the generic REST tracker, and the BevCo preset built on it.

A generic integration says how to ask for an order (URL template, method, query, body, auth)
and where the answer's fields are (JMESPath expressions, jmespath.org). Templates may use
``{order_number}``, ``{email}``, ``{postcode}`` and ``{base_url}``; the host of a URL is fixed
by config (placeholders are refused there), so a shopper's input can never choose the host.
"""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

PLACEHOLDER = re.compile(r"\{(\w+)\}")
REQUEST_PLACEHOLDERS = {"order_number", "email", "postcode"}


class GenericAuth(BaseModel):
    """How requests authenticate. Secrets (by ``type``): ``bearer`` → ``token``; ``basic`` →
    ``username``, ``password``; ``header`` → ``api_key`` (sent in ``header_name``); ``oauth2`` →
    ``client_id``, ``client_secret`` (client-credentials grant at ``token_url``)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["none", "bearer", "basic", "header", "oauth2"] = "none"
    header_name: str = "X-Api-Key"
    token_url: str | None = None
    scope: str | None = None
    client_auth: Literal["basic", "body"] = Field(
        default="basic", description="send the client id/secret as HTTP basic (RFC 6749 §2.3.1) or in the form"
    )


class GenericPaths(BaseModel):
    """JMESPath expressions into the response. ``order`` selects the order object (a list is
    searched for the order number); the item and shipment paths are relative to one element
    of ``items`` / ``shipments``. ``email`` or ``postcode`` must be set: without one the second
    factor could not be checked, and nothing may be shown."""

    model_config = ConfigDict(extra="forbid")

    order: str | None = None
    order_number: str | None = None
    email: str | None = None
    postcode: str | None = None
    placed_at: str | None = None
    status: str | None = None
    financial_status: str | None = None
    items: str | None = None
    item_name: str = "name"
    item_quantity: str = "quantity"
    item_sku: str | None = "sku"
    shipments: str | None = None
    carrier: str | None = "carrier"
    tracking_number: str | None = "tracking_number"
    tracking_url: str | None = "tracking_url"
    shipment_status: str | None = "status"
    estimated_delivery: str | None = None


class GenericRestSettings(BaseModel):
    """The settings block of a ``generic`` (or ``bevco``) integration.

    Raises (as ``pydantic.ValidationError``): an unknown placeholder, a placeholder in a URL's
    scheme or host, or neither an email nor a postcode path.
    """

    model_config = ConfigDict(extra="forbid")

    url: str
    base_url: str | None = None
    method: Literal["GET", "POST"] = "GET"
    query: dict[str, str] = Field(default_factory=dict)
    body: dict[str, Any] | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    auth: GenericAuth = Field(default_factory=GenericAuth)
    paths: GenericPaths
    status_map: dict[str, str] = Field(default_factory=dict)
    not_found_statuses: list[int] = Field(default_factory=lambda: [404])
    tracking_url_templates: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _safe_templates(self) -> GenericRestSettings:
        if any("{base_url}" in (url or "") for url in (self.url, self.auth.token_url)) and not self.base_url:
            raise ValueError("a URL uses {base_url} but base_url is not set")
        for name, url in (("url", self.url), ("auth.token_url", self.auth.token_url)):
            if url is None:
                continue
            unknown = set(PLACEHOLDER.findall(url)) - REQUEST_PLACEHOLDERS - {"base_url"}
            if unknown:
                raise ValueError(f"{name} uses unknown placeholders: {sorted(unknown)}")
            fixed = url.replace("{base_url}", (self.base_url or "").rstrip("/"))
            prefix = fixed.split("{", 1)[0]
            parts = urlsplit(prefix)
            host_is_fixed = "{" not in fixed or prefix.find("/", len(parts.scheme) + 3) != -1
            if parts.scheme not in ("http", "https") or not parts.netloc or not host_is_fixed:
                raise ValueError(f"{name} must start with a fixed http(s)://host/ (no placeholders in the host)")
        if self.paths.email is None and self.paths.postcode is None:
            raise ValueError("paths.email or paths.postcode must be set so the second factor can be checked")
        return self

    def resolved_url(self, template: str) -> str:
        """``template`` with ``{base_url}`` filled in (request placeholders stay)."""
        return template.replace("{base_url}", (self.base_url or "").rstrip("/"))


#: BevCo's order API: OAuth2 client credentials, ``GET /api/v1/orders/{order_number}``, camelCase.
BEVCO_PRESET: dict[str, Any] = {
    "url": "{base_url}/api/v1/orders/{order_number}",
    "method": "GET",
    "auth": {"type": "oauth2", "token_url": "{base_url}/oauth/token", "scope": "orders:read"},
    "paths": {
        "order": "order",
        "order_number": "orderNumber",
        "email": "customer.email",
        "postcode": "shippingAddress.zip",
        "placed_at": "createdAt",
        "status": "status",
        "financial_status": "paymentStatus",
        "items": "lines",
        "item_name": "productName",
        "item_quantity": "quantity",
        "item_sku": "sku",
        "shipments": "shipments",
        "carrier": "carrier",
        "tracking_number": "trackingNumber",
        "tracking_url": "trackingUrl",
        "shipment_status": "status",
        "estimated_delivery": "estimatedDelivery",
    },
    "status_map": {
        "NEW": "pending",
        "PICKING": "processing",
        "PACKED": "processing",
        "SHIPPED": "shipped",
        "DELIVERED": "delivered",
        "CANCELLED": "cancelled",
        "ON_HOLD": "on_hold",
    },
}


def merge_settings(preset: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``preset`` with ``overrides`` on top; nested dicts (``auth``, ``paths``…) merge key by key."""
    merged = dict(preset)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_settings(merged[key], value)
        else:
            merged[key] = value
    return merged
