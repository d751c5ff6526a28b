"""Retry with exponential backoff on network errors (seed 000 §4.1 "Retry Logic"), via tenacity.

Only failures where the request most likely never reached the service are retried by default
(:data:`NETWORK_ERRORS`: connection refused or reset, connect timeout, no free connection in the
pool, a broken response). A read timeout is *not* retried by default: the service got the request
and may have acted on it (an order lookup is harmless, an LLM call costs money and time), so the
caller decides by passing ``retry_on``. Each retry is counted in the pool's ``retries`` statistic.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from samtale.http.pools import record_retry

NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)
"""Exceptions retried by default: the request most likely never reached the service."""

P = ParamSpec("P")
T = TypeVar("T")


def _retrying(
    *,
    attempts: int,
    initial_wait_s: float,
    max_wait_s: float,
    retry_on: tuple[type[BaseException], ...],
    on_retry: Callable[[RetryCallState], None],
) -> AsyncRetrying:
    return AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=initial_wait_s, max=max_wait_s),
        retry=retry_if_exception_type(retry_on),
        before_sleep=on_retry,
        reraise=True,
    )


async def retrying_request(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    attempts: int = 3,
    initial_wait_s: float = 0.2,
    max_wait_s: float = 5.0,
    retry_on: tuple[type[BaseException], ...] = NETWORK_ERRORS,
    **kwargs: Any,
) -> httpx.Response:
    """Send ``client.request(method, url, **kwargs)``, retrying on network errors.

    Args:
        client: a pool's client (``pools.orders``…); retries are counted on that pool.
        attempts: total tries, first included.
        initial_wait_s, max_wait_s: exponential backoff: waits ``initial_wait_s × 2^n`` seconds,
            capped at ``max_wait_s``.
        retry_on: exception types worth another try (default :data:`NETWORK_ERRORS`).
        kwargs: passed to ``httpx.AsyncClient.request`` (``json``, ``headers``, ``params``…).

    Returns:
        The response, whatever its status (a 5xx is the caller's to judge, not retried here).

    Raises:
        httpx.HTTPError: the last attempt's error when every attempt failed.
    """

    def on_retry(_state: RetryCallState) -> None:
        record_retry(client)

    async for attempt in _retrying(
        attempts=attempts, initial_wait_s=initial_wait_s, max_wait_s=max_wait_s, retry_on=retry_on, on_retry=on_retry
    ):
        with attempt:
            return await client.request(method, url, **kwargs)
    raise AssertionError("tenacity stops by re-raising the last error")  # pragma: no cover


def retry_network_errors(
    client_of: Callable[..., httpx.AsyncClient | None] | None = None,
    *,
    attempts: int = 3,
    initial_wait_s: float = 0.2,
    max_wait_s: float = 5.0,
    retry_on: tuple[type[BaseException], ...] = NETWORK_ERRORS,
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """Decorate an async function so it is retried with exponential backoff on network errors.

    Args:
        client_of: given the call's positional and keyword arguments, returns the pool client
            whose ``retries`` statistic to increase (e.g. ``lambda self, *a, **k: self._client``);
            None counts nowhere.
        attempts, initial_wait_s, max_wait_s, retry_on: as in :func:`retrying_request`.
    """

    def decorate(func: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        @wraps(func)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            def on_retry(_state: RetryCallState) -> None:
                client = client_of(*args, **kwargs) if client_of is not None else None
                if client is not None:
                    record_retry(client)

            async for attempt in _retrying(
                attempts=attempts,
                initial_wait_s=initial_wait_s,
                max_wait_s=max_wait_s,
                retry_on=retry_on,
                on_retry=on_retry,
            ):
                with attempt:
                    return await func(*args, **kwargs)
            raise AssertionError("tenacity stops by re-raising the last error")  # pragma: no cover

        return wrapper

    return decorate
