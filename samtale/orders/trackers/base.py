"""What every tracker shares: the lookup contract, second-factor check, retries and backoff.

A tracker answers one question: *is there an order with this order number whose email (or
postcode) is this one?* It returns the normalised :class:`~samtale.orders.models.Order` or
``None``, and ``None`` both when the order does not exist and when the second factor does not
match (issue 4: the same reply, word for word).

HTTP goes through an injected ``httpx.AsyncClient`` (in the app: the shared ``orders`` pool,
3 connections, 15 s timeout, seed 000). Network errors, timeouts, 429 and 5xx are retried with
exponential backoff (tenacity); a 429's ``Retry-After`` is honoured; other 4xx are not retried.
A 401 makes the tracker refresh its token once (when it has one to refresh) and try again.
"""

from __future__ import annotations

import hmac
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal, Protocol

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from samtale.errors import InputError
from samtale.http.pools import record_retry
from samtale.orders.errors import (
    OrderAPIAuthError,
    OrderAPIBadResponseError,
    OrderAPIError,
    OrderAPIRateLimitedError,
    OrderAPITimeoutError,
    OrderAPIUnavailableError,
    OrderNotFound,
)
from samtale.orders.logsafe import install_order_log_filter, order_lookup
from samtale.orders.models import Order
from samtale.orders.trackers.netguard import HostGuard

logger = logging.getLogger("samtale.orders")

SecondFactor = Literal["email", "postcode"]
ORDER_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,63}$")


class Tracker(Protocol):
    """The one interface the order flow uses, whatever the shop system."""

    kind: str
    second_factors: tuple[SecondFactor, ...]

    async def find_order(self, *, order_number: str, email: str | None, postcode: str | None) -> Order | None:
        """The order when ``order_number`` exists and its email or postcode matches, else ``None``."""
        ...


@dataclass(frozen=True)
class RetryPolicy:
    """How hard a tracker tries: ``attempts`` in all; waits ``initial_wait_s × 2^n`` seconds
    (capped at ``max_wait_s``) or what the API asked for; gives up at once when the API asks
    for more than ``max_retry_after_s`` seconds (the shopper is waiting)."""

    attempts: int = 3
    initial_wait_s: float = 0.5
    max_wait_s: float = 4.0
    max_retry_after_s: float = 10.0


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds (``2`` or Shopify's ``2.0``) or an
    HTTP date (RFC 9110 §10.2.3); ``None`` when absent or unreadable."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def normalise_order_number(value: str) -> str | None:
    """The order number without a leading ``#`` and spaces, or ``None`` when it cannot be one
    (which also keeps search syntax out of Shopify's query string)."""
    cleaned = value.strip().lstrip("#").strip()
    return cleaned if ORDER_NUMBER.match(cleaned) else None


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def second_factor_matches(
    *,
    email: str | None,
    postcode: str | None,
    order_emails: Iterable[str | None],
    order_postcodes: Iterable[str | None],
    allowed: tuple[SecondFactor, ...],
) -> bool:
    """True when the shopper's email (case-insensitive) or, where ``allowed``, postcode (spaces
    and case ignored) equals one on the order. Missing values never match."""
    if email and "email" in allowed:
        wanted = email.strip().casefold()
        if any(known and _same(known.strip().casefold(), wanted) for known in order_emails):
            return True
    if postcode and "postcode" in allowed:
        wanted = re.sub(r"\s", "", postcode).upper()
        if any(known and _same(re.sub(r"\s", "", known).upper(), wanted) for known in order_postcodes):
            return True
    return False


class _Unauthorised(OrderAPIAuthError):
    """A 401: the tracker may refresh its token once and try again."""


def _worth_retrying(policy: RetryPolicy) -> Callable[[BaseException], bool]:
    def check(exc: BaseException) -> bool:
        if not isinstance(exc, OrderAPIError) or not exc.retryable:
            return False
        return exc.retry_after is None or exc.retry_after <= policy.max_retry_after_s

    return check


class HttpTracker(ABC):
    """Base of the HTTP trackers: retries, auth refresh, host guard and the ``find_order`` contract.

    Args:
        client: the ``orders`` pool's client (tests pass one of their own).
        retry: the retry policy.
        allow_private_network: let configured URLs resolve to private/loopback addresses.
        second_factors: which second factors this shop accepts (``email``; ``postcode`` where
            the shop allows it).
    """

    kind: str = "http"

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        retry: RetryPolicy | None = None,
        allow_private_network: bool = False,
        second_factors: tuple[SecondFactor, ...] = ("email",),
    ) -> None:
        self._client = client
        self._retry = retry or RetryPolicy()
        self._guard = HostGuard(allow_private_network=allow_private_network)
        self.second_factors = second_factors
        # httpx logs request URLs, which carry order numbers and emails for several shops.
        install_order_log_filter()

    async def find_order(self, *, order_number: str, email: str | None, postcode: str | None) -> Order | None:
        """Look the order up and verify the second factor.

        Args:
            order_number: as the shopper typed it (``#1001`` and ``1001`` are the same).
            email: the shopper's email, or None.
            postcode: the shopper's postcode, or None (ignored unless the shop allows it).

        Returns:
            The normalised order, or ``None`` when there is no such order or the second factor
            does not match (one answer for both).

        Raises:
            InputError: neither an email nor an allowed postcode was given (the flow asks first).
            OrderAPIError: the order API failed after retries (a subclass says how).
        """
        usable_postcode = postcode if "postcode" in self.second_factors else None
        if not email and not usable_postcode:
            raise InputError("an order is only looked up with a second factor (email or postcode)")
        number = normalise_order_number(order_number)
        if number is None:
            return None
        try:
            return await self._lookup(order_number=number, email=email, postcode=usable_postcode)
        except OrderNotFound:
            return None
        except OrderAPIError as exc:
            # No order number, email or postcode in the log line: only what failed and how.
            logger.warning("order lookup failed: tracker=%s error=%s", self.kind, exc.code)
            raise

    @abstractmethod
    async def _lookup(self, *, order_number: str, email: str | None, postcode: str | None) -> Order:
        """Fetch and verify one order; raise :class:`OrderNotFound` for unknown or mismatched."""

    @abstractmethod
    async def _authorise(self, request: httpx.Request) -> None:
        """Add credentials to ``request`` (headers or a signature)."""

    async def _refresh_auth(self) -> bool:
        """Forget a cached token after a 401; True when a fresh one may succeed. Default: False."""
        return False

    async def _send(
        self,
        method: str,
        url: str,
        *,
        params: Any = None,
        headers: dict[str, str] | None = None,
        json: Any = None,
        data: dict[str, str] | None = None,
        auth: httpx.Auth | None = None,
        authorise: bool = True,
        check: Callable[[httpx.Response], None] | None = None,
    ) -> httpx.Response:
        """Send one request with retries; refresh the token once on 401.

        ``check`` may raise a retryable :class:`OrderAPIError` for errors inside a 200 body
        (Shopify's ``THROTTLED``). Returns the response of any status below 500 other than 401
        and 429; the caller judges 404 and other 4xx.

        Raises:
            OrderAPIAuthError: 401 after a refresh (or with nothing to refresh), or 403.
            OrderAPIRateLimitedError, OrderAPIUnavailableError, OrderAPITimeoutError: after the
                last attempt.
        """
        refreshed = False
        while True:
            try:
                return await self._send_with_retries(
                    method, url, params=params, headers=headers, json=json, data=data, auth=auth,
                    authorise=authorise, check=check,
                )  # fmt: skip
            except _Unauthorised as exc:
                if refreshed or not authorise or not await self._refresh_auth():
                    raise OrderAPIAuthError(exc.message, details=exc.details) from None
                refreshed = True

    async def _send_with_retries(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        def before_sleep(_state: RetryCallState) -> None:
            record_retry(self._client)

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._retry.attempts),
            wait=self._wait,
            retry=retry_if_exception(_worth_retrying(self._retry)),
            before_sleep=before_sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._attempt(method, url, **kwargs)
        raise AssertionError("tenacity stops by re-raising the last error")  # pragma: no cover

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, OrderAPIError) and exc.retry_after is not None:
            return exc.retry_after
        return float(min(self._retry.initial_wait_s * 2 ** (state.attempt_number - 1), self._retry.max_wait_s))

    async def _attempt(
        self,
        method: str,
        url: str,
        *,
        params: Any,
        headers: dict[str, str] | None,
        json: Any,
        data: dict[str, str] | None,
        auth: httpx.Auth | None,
        authorise: bool,
        check: Callable[[httpx.Response], None] | None,
    ) -> httpx.Response:
        request = self._client.build_request(method, url, params=params, headers=headers, json=json, data=data)
        await self._guard.check(request.url)
        if authorise:
            await self._authorise(request)
        try:
            with order_lookup():
                response = await self._client.send(request, auth=auth) if auth else await self._client.send(request)
        except httpx.TimeoutException:
            raise OrderAPITimeoutError(f"the {self.kind} order API did not answer in time", retryable=True) from None
        except httpx.TransportError as exc:
            raise OrderAPIUnavailableError(
                f"the {self.kind} order API is unreachable ({type(exc).__name__})", retryable=True
            ) from None
        status = response.status_code
        if status == 401:
            raise _Unauthorised(f"the {self.kind} order API refused the credentials (401)", details={"status": 401})
        if status == 403:
            raise OrderAPIAuthError(f"the {self.kind} credentials lack permission to read orders (403)")
        if status == 429:
            raise OrderAPIRateLimitedError(
                f"the {self.kind} order API is rate limiting us (429)",
                retryable=True,
                retry_after=self._retry_after(response),
            )
        if status >= 500:
            raise OrderAPIUnavailableError(f"the {self.kind} order API failed ({status})", retryable=True)
        if check is not None:
            check(response)
        return response

    def _retry_after(self, response: httpx.Response) -> float | None:
        """Seconds to wait after a 429 (subclasses may read the body, as Shopify's cost)."""
        return parse_retry_after(response.headers.get("Retry-After"))

    def _json(self, response: httpx.Response) -> Any:
        """The JSON body, or :class:`OrderAPIBadResponseError` when it is not JSON."""
        try:
            return response.json()
        except ValueError:
            raise OrderAPIBadResponseError(f"the {self.kind} order API answered with a body that is not JSON") from None

    def _unexpected(self, response: httpx.Response) -> OrderAPIBadResponseError:
        """The error for a 4xx status the tracker does not expect (never retried)."""
        return OrderAPIBadResponseError(
            f"the {self.kind} order API answered {response.status_code}", details={"status": response.status_code}
        )
