"""Access tokens that expire: fetched with a grant, cached until shortly before expiry, dropped on 401.

Used for the OAuth2 client-credentials grant (RFC 6749 §4.4: commercetools, Shopify's
``POST /admin/oauth/access_token``, generic REST) and for Magento's admin token
(``POST /rest/V1/integration/admin/token``). Token values are never logged.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx

from samtale.orders.errors import OrderAPIAuthError, OrderAPIBadResponseError

#: Refresh this many seconds before the expiry the server gave, so a token never dies in flight.
EXPIRY_MARGIN_S = 30.0

Fetch = Callable[[], Awaitable[tuple[str, float | None]]]


class CachedToken:
    """One token, fetched by ``fetch`` (which returns ``(token, expires_in seconds or None)``).

    Concurrent callers share one fetch (an asyncio lock). ``clock`` is monotonic seconds.
    """

    def __init__(self, fetch: Fetch, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._clock = clock
        self._token: str | None = None
        self._expires_at: float | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        """The cached token, fetching a new one when there is none or it is about to expire."""
        async with self._lock:
            if self._token is None or (self._expires_at is not None and self._clock() >= self._expires_at):
                token, expires_in = await self._fetch()
                self._token = token
                self._expires_at = None if expires_in is None else self._clock() + max(expires_in - EXPIRY_MARGIN_S, 0)
            return self._token

    def invalidate(self) -> None:
        """Forget the token (after a 401), so the next :meth:`get` fetches a fresh one."""
        self._token = None
        self._expires_at = None


def read_token_response(response: httpx.Response, *, kind: str) -> tuple[str, float | None]:
    """``(access_token, expires_in)`` from an OAuth2 token response (RFC 6749 §5.1).

    Raises:
        OrderAPIAuthError: the endpoint refused the client credentials (400/401/403, §5.2).
        OrderAPIBadResponseError: any other status, or a body without ``access_token``.
    """
    if response.status_code in (400, 401, 403):
        raise OrderAPIAuthError(f"the {kind} token endpoint refused the client credentials ({response.status_code})")
    if response.status_code != 200:
        raise OrderAPIBadResponseError(f"the {kind} token endpoint answered {response.status_code}")
    try:
        body = response.json()
        token = body["access_token"]
    except (ValueError, KeyError, TypeError):
        raise OrderAPIBadResponseError(f"the {kind} token endpoint answered without an access_token") from None
    if not isinstance(token, str) or not token:
        raise OrderAPIBadResponseError(f"the {kind} token endpoint answered without an access_token")
    expires_in = body.get("expires_in")
    return token, float(expires_in) if isinstance(expires_in, int | float) else None
