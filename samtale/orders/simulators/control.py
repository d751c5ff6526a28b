"""Credentials, issued tokens and injected faults of one simulator, shared by its routes.

Tests (and the demo) hold the :class:`SimulatorControl` of an app (``app.state.control``) to
expire every issued token (the next call gets the API's real 401), answer the next calls with
429 and a ``Retry-After``, with Shopify ``THROTTLED``, with a 5xx, or slowly.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field

from fastapi import Request
from fastapi.responses import JSONResponse, Response


@dataclass
class SimulatorControl:
    """State of one simulator app.

    Attributes:
        client_id, client_secret: accepted by the token endpoint.
        static_tokens: permanent tokens accepted as they are (Shopify ``shpat_…``, Magento
            integration token, generic bearer / API key).
        token_ttl_s: lifetime of tokens the token endpoint issues (seconds).
        rate_limit_next: how many of the next API calls answer 429.
        retry_after: the ``Retry-After`` header value sent with those 429s (seconds).
        throttle_next: how many of the next Shopify calls answer ``THROTTLED`` in a 200.
        fail_next: how many of the next API calls answer ``fail_status``.
        delay_s: every API call waits this long before answering (to provoke timeouts).
        calls: how many requests each route got (``token``, ``orders``, ``shipments``…).
    """

    client_id: str = "sim-client"
    client_secret: str = "sim-secret"
    static_tokens: set[str] = field(default_factory=set)
    token_ttl_s: float = 3600.0
    rate_limit_next: int = 0
    retry_after: str = "0.2"
    throttle_next: int = 0
    fail_next: int = 0
    fail_status: int = 503
    delay_s: float = 0.0
    calls: Counter[str] = field(default_factory=Counter)
    _issued: dict[str, float] = field(default_factory=dict)

    def issue_token(self) -> str:
        """A new random access token valid for ``token_ttl_s`` seconds."""
        token = secrets.token_urlsafe(24)
        self._issued[token] = time.monotonic() + self.token_ttl_s
        return token

    def token_valid(self, token: str | None) -> bool:
        """True for a static token, or an issued one that has not expired."""
        if not token:
            return False
        if token in self.static_tokens:
            return True
        expires = self._issued.get(token)
        return expires is not None and time.monotonic() < expires

    def expire_tokens(self) -> None:
        """Expire every issued token now (static tokens stay valid)."""
        for token in self._issued:
            self._issued[token] = 0.0

    def credentials_ok(self, client_id: str | None, client_secret: str | None) -> bool:
        """True when the client id and secret are the configured ones."""
        return client_id == self.client_id and client_secret == self.client_secret

    async def fault(self, route: str) -> Response | None:
        """Count a call to ``route`` and apply an injected fault: a delay, then 429 or 5xx."""
        self.calls[route] += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.rate_limit_next > 0:
            self.rate_limit_next -= 1
            return JSONResponse(
                {"errors": "Exceeded rate limit, please retry later."},
                status_code=429,
                headers={"Retry-After": self.retry_after},
            )
        if self.fail_next > 0:
            self.fail_next -= 1
            return JSONResponse({"errors": "Internal server error"}, status_code=self.fail_status)
        return None


def bearer_of(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, or None."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def basic_credentials_of(request: Request) -> tuple[str | None, str | None]:
    """``(user, password)`` of an ``Authorization: Basic …`` header, or ``(None, None)``."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        user, _, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    return user, password
