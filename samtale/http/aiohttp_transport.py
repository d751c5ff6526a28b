"""The outbound pools' transport: aiohttp's connection pool under the ``httpx.AsyncClient`` interface.

httpcore 1.0.9 (httpx's own transport) re-scans every pooled connection on each request and
each response close, probing every idle socket and counting idle connections once per idle
connection (quadratic; encode/httpcore#1035, still open; fixed only in the pydantic/httpx2
fork). With one connection per streamed LLM answer that scan was the largest CPU cost of a
turn at 50 concurrent shoppers (35–47 % of the worker in ``py-spy``; bench/README.md, turns).
aiohttp's ``TCPConnector`` hands out keep-alive connections from a per-host deque instead.

:class:`AiohttpPoolTransport` is ``httpx_aiohttp.AiohttpTransport`` (the aiohttp transport the
httpx maintainers publish; the ``openai`` SDK offers the same as ``DefaultAioHttpClient``) with
one correction: httpx-aiohttp 0.2 reports *every* ``aiohttp.ClientConnectionError`` as
``httpx.ConnectTimeout``, so a refused connection or a server closing the socket counted as a
timeout (pool statistics) and was not retried as a network error. Here only aiohttp's real
timeouts stay timeouts; a failed connect is ``httpx.ConnectError`` and a dropped connection
``httpx.ReadError``. Callers keep using plain ``httpx`` exceptions and clients.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from samtale.http.outbound_guard import GuardedResolver, OutboundBlockedError, OutboundPolicy


@contextlib.contextmanager
def _real_timeouts_only() -> Iterator[None]:
    """Re-raise httpx-aiohttp's ``ConnectTimeout`` for a connection error that was no timeout."""
    try:
        yield
    except httpx.ConnectTimeout as exc:
        cause = exc.__cause__
        if cause is None or isinstance(cause, (aiohttp.ServerTimeoutError, asyncio.TimeoutError)):
            raise
        error = httpx.ConnectError if isinstance(cause, aiohttp.ClientConnectorError) else httpx.ReadError
        raise error(str(exc)) from cause


class _Body(httpx.AsyncByteStream):
    """A response body whose read errors are corrected like the request's."""

    def __init__(self, inner: httpx.AsyncByteStream) -> None:
        self._inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _real_timeouts_only():
            async for chunk in self._inner:
                yield chunk

    async def aclose(self) -> None:
        with _real_timeouts_only():
            await self._inner.aclose()


class AiohttpPoolTransport(AiohttpTransport):
    """An ``httpx`` transport over one ``aiohttp.ClientSession`` (made lazily, inside the event loop).

    Args:
        limits: ``max_connections`` bounds the connector (None = aiohttp's default, 100);
            ``keepalive_expiry`` (seconds) closes idle keep-alive connections.

        policy: the outbound guard (:mod:`samtale.http.outbound_guard`): the connector resolves
            through a :class:`GuardedResolver` and IP-literal URLs are checked before connecting;
            None lets every address through (a transport for the operator's own URLs only).

    Request timeouts come from the ``httpx`` request (``connect``, ``read``, ``pool``; aiohttp
    has no write timeout). HTTP/1.1 only. Close with :meth:`aclose`.
    """

    def __init__(self, *, limits: httpx.Limits, policy: OutboundPolicy | None = None) -> None:
        super().__init__(limits=limits, retries=0)
        self.policy = policy

    def get_client(self) -> aiohttp.ClientSession:
        """The aiohttp session: httpx-aiohttp's connector, with the guarded resolver."""
        if self.policy is None:
            return super().get_client()
        connector = aiohttp.TCPConnector(
            keepalive_timeout=self.limits.keepalive_expiry,
            ssl=self.ssl_context,
            resolver=GuardedResolver(self.policy),
            limit=self.limits.max_connections if self.limits.max_connections is not None else 100,
        )
        return aiohttp.ClientSession(connector=connector)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through aiohttp; the response body streams as it arrives.

        Raises:
            httpx.ConnectError: also when the outbound guard refuses the address (no connection made).
        """
        if self.policy is not None:
            try:
                self.policy.check_literal(request.url)
            except OutboundBlockedError as exc:
                raise httpx.ConnectError(str(exc), request=request) from exc
        with _real_timeouts_only():
            response = await super().handle_async_request(request)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Body(response.stream)
        return response
