"""Rate limits on the endpoints that spend LLM budget or guess secrets, shared by every worker.

Built on the ``limits`` library (sliding-window counters): with ``SAMTALE_REDIS_URL`` set the
counters live in Redis, so four workers behind a load balancer count one shopper once; without
it they live in this process's memory (the single-process default). A limit is written in the
library's notation (``"20/minute"``, ``"5/hour"``, ``"100/day;10/minute"``) and checked when a
chatbot document is imported, so a typo is a 422 naming the field, not a silent open door.

Which counter a request hits is its *rule* (``process_message``, ``upload_image`` …) plus the
keys that identify the caller (chatbot, client address, shopper, conversation). A hit over the
limit raises :class:`RateLimitExceeded`, answered as 429 with ``Retry-After``.
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Literal

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from prometheus_client import Counter
from redis.asyncio import ConnectionPool

from samtale.errors import RateLimitedError
from samtale.observability.metrics import REGISTRY

RateRule = Literal[
    "process_message",
    "process_message_per_address",
    "template_chat",
    "upload_image",
    "feedback",
    "order_lookup_failures",
    "admin_key_failures",
]

RATE_LIMITED = Counter("samtale_rate_limited", "Requests refused by a rate limit, by rule", ["rule"], registry=REGISTRY)


class RateLimitExceeded(RateLimitedError):
    """A caller went over a rate limit (HTTP 429); ``retry_after_s`` is when the window frees a slot."""

    def __init__(self, message: str, *, rule: str, retry_after_s: int) -> None:
        super().__init__(message, retry_after_s=retry_after_s, details={"rule": rule, "retry_after_s": retry_after_s})
        self.rule = rule


@lru_cache(maxsize=256)
def parse_limit(text: str) -> tuple[RateLimitItem, ...]:
    """The limits in ``text`` (``"20/minute"``, ``"100/day;10/minute"``).

    Raises:
        ValueError: ``text`` is not in the ``limits`` notation.
    """
    return tuple(parse_many(text))


class RateLimiter:
    """Counts hits per rule and caller in Redis (``redis_url``) or in memory.

    Args:
        redis_url: ``redis://host:port/db`` for counters shared by every worker; None for memory.
        key_prefix: prefix of the Redis keys, so several deployments can share one Redis.
    """

    def __init__(self, *, redis_url: str | None, key_prefix: str = "samtale-limits") -> None:
        storage: Storage
        self._pool: ConnectionPool | None = None
        if redis_url:
            # Our own pool, so aclose() can close its connections (the library keeps its client private).
            self._pool = ConnectionPool.from_url(redis_url)
            # ``connection_pool`` is a documented option; the library annotates **options more narrowly.
            storage = RedisStorage(
                f"async+{redis_url}",
                implementation="redispy",
                key_prefix=key_prefix,
                connection_pool=self._pool,  # type: ignore[arg-type]
            )
        else:
            storage = MemoryStorage()
        self._storage = storage
        self._strategy = SlidingWindowCounterRateLimiter(storage)

    async def hit(self, *, rule: RateRule, limit: str, keys: tuple[str, ...], what: str) -> None:
        """Count one request of ``rule`` for the caller named by ``keys`` against ``limit``.

        ``what`` names the caller in the error message ("this address", "this conversation").

        Raises:
            RateLimitExceeded: the caller is over one of the limits in ``limit``.
        """
        for item in parse_limit(limit):
            if not await self._strategy.hit(item, rule, *keys):
                await self._refuse(item, rule=rule, keys=keys, what=what)

    async def _refuse(self, item: RateLimitItem, *, rule: RateRule, keys: tuple[str, ...], what: str) -> None:
        stats = await self._strategy.get_window_stats(item, rule, *keys)
        retry_after = max(1, int(stats.reset_time - time.time()) + 1)
        RATE_LIMITED.labels(rule=rule).inc()
        raise RateLimitExceeded(
            f"too many requests from {what} ({item}); try again in {retry_after} s",
            rule=rule,
            retry_after_s=retry_after,
        )

    async def refuse_if_exceeded(self, *, rule: RateRule, limit: str, keys: tuple[str, ...], what: str) -> None:
        """Refuse a caller who has nothing left under ``limit``, counting nothing (for limits that
        count failures only, such as wrong API keys).

        Raises:
            RateLimitExceeded: the caller is over one of the limits in ``limit``.
        """
        item = await self._spent(rule=rule, limit=limit, keys=keys)
        if item is not None:
            await self._refuse(item, rule=rule, keys=keys, what=what)

    async def exhausted(self, *, rule: RateRule, limit: str, keys: tuple[str, ...]) -> bool:
        """True when the caller has nothing left under ``limit`` (counts nothing)."""
        return await self._spent(rule=rule, limit=limit, keys=keys) is not None

    async def _spent(self, *, rule: RateRule, limit: str, keys: tuple[str, ...]) -> RateLimitItem | None:
        """The first limit of ``limit`` the caller has nothing left under, or None."""
        for item in parse_limit(limit):
            if not await self._strategy.test(item, rule, *keys):
                return item
        return None

    async def count(self, *, rule: RateRule, limit: str, keys: tuple[str, ...]) -> bool:
        """Count one event (a failure) against ``limit`` without refusing anything; returns True
        when the caller is now over it (the next :meth:`exhausted` is True)."""
        over = False
        for item in parse_limit(limit):
            if not await self._strategy.hit(item, rule, *keys):
                over = True
        if over:
            RATE_LIMITED.labels(rule=rule).inc()
        return over

    async def aclose(self) -> None:
        """Close the Redis connections (nothing to close in memory)."""
        if self._pool is not None:
            await self._pool.aclose()

    async def reset(self) -> None:
        """Forget every counter (tests and ``samtale`` maintenance only)."""
        await self._storage.reset()
