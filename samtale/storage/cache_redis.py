"""The caches' shared Redis layer: one connection per registry, cross-worker invalidation, outages.

Every write or delete is published on the ``{prefix}invalidate`` pub/sub channel so each worker
drops its local copy at once. If Redis does not answer, at start or mid-run, the link logs ONE
warning and the caches carry on in-process; it probes Redis again every ``RECOVERY_PROBE_S``
seconds and, when it answers, asks the caches to clear their local layers (invalidations may have
been missed) and is used again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

# The caches' one logger, as before the module was split out of samtale.storage.cache.
log = logging.getLogger("samtale.storage.cache")

RECOVERY_PROBE_S = 30.0


class RedisLink:
    """One Redis connection shared by a registry's caches, its invalidation listener and its health.

    Args:
        url: ``redis://host:port/db``.
        prefix: prepended to every key and to the channel ``{prefix}invalidate``.
        on_invalidate: called with ``(cache_name, key)`` for every invalidation another process
            published; ``key`` None means "clear the whole cache"; also called as
            ``(None, None)`` when Redis comes back after an outage.
        on_expire: called when another process asks every worker to sweep expired entries
            (the scheduled cache cleanup, run once per deployment).
    """

    def __init__(
        self,
        *,
        url: str,
        prefix: str,
        on_invalidate: Callable[[str | None, str | None], None],
        on_expire: Callable[[], object] | None = None,
    ) -> None:
        self.prefix = prefix
        self.channel = f"{prefix}invalidate"
        self.origin = uuid.uuid4().hex
        self._on_invalidate = on_invalidate
        self._on_expire = on_expire
        self._redis = Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=1.0)
        self._listener_redis = Redis.from_url(url, socket_connect_timeout=0.5)
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self.available = False
        self._next_probe = 0.0

    def key(self, cache: str, key: str) -> str:
        """The Redis key of ``key`` in cache ``cache``."""
        return f"{self.prefix}{cache}:{key}"

    async def start(self) -> bool:
        """Connect and subscribe; on failure fall back (one warning). Returns whether Redis is used."""
        try:
            await self._redis.ping()
        except (RedisError, OSError) as exc:
            self.degrade(exc)
            return False
        self.available = True
        self._subscribed.clear()
        self._listener = asyncio.create_task(self._listen(), name="cache-invalidation-listener")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), timeout=2.0)
        return self.available

    def degrade(self, exc: BaseException) -> None:
        """Switch to in-process caching, logging one warning per outage."""
        if self.available or self._next_probe == 0.0:
            log.warning("Redis unavailable (%s); caches fall back to in-process until it answers again", exc)
        self.available = False
        self._next_probe = time.monotonic() + RECOVERY_PROBE_S
        if self._listener is not None and self._listener is not asyncio.current_task():
            self._listener.cancel()
        self._listener = None

    async def usable(self) -> bool:
        """True when Redis may be used now; probes it again once ``RECOVERY_PROBE_S`` has passed."""
        if self.available:
            return True
        if time.monotonic() < self._next_probe:
            return False
        self._next_probe = time.monotonic() + RECOVERY_PROBE_S
        try:
            await self._redis.ping()
        except (RedisError, OSError):
            return False
        log.info("Redis answers again; caches use it and drop their local copies")
        self._on_invalidate(None, None)
        return await self.start()

    async def _listen(self) -> None:
        pubsub = self._listener_redis.pubsub()
        try:
            await pubsub.subscribe(self.channel)
            self._subscribed.set()
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is None or message.get("type") != "message":
                    continue
                payload = orjson.loads(message["data"])
                if payload.get("origin") == self.origin:
                    continue
                if payload.get("op") == "expire":
                    if self._on_expire is not None:
                        self._on_expire()
                else:
                    self._on_invalidate(payload.get("cache"), payload.get("key"))
        except (RedisError, OSError) as exc:
            self.degrade(exc)
        finally:
            self._subscribed.set()
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()

    async def publish(self, cache: str, key: str | None) -> None:
        """Tell every other process to drop ``key`` (or all of ``cache`` when None)."""
        await self._redis.publish(self.channel, orjson.dumps({"cache": cache, "key": key, "origin": self.origin}))

    async def publish_expire(self) -> None:
        """Ask every other process to sweep its expired in-process entries now."""
        await self._redis.publish(self.channel, orjson.dumps({"op": "expire", "origin": self.origin}))

    async def get(self, cache: str, key: str) -> bytes | None:
        """The stored bytes or None."""
        data = await self._redis.get(self.key(cache, key))
        return data.encode() if isinstance(data, str) else data

    async def set(self, cache: str, key: str, data: bytes, *, ttl_s: float) -> None:
        """Store ``data`` for ``ttl_s`` seconds."""
        await self._redis.set(self.key(cache, key), data, px=max(1, int(ttl_s * 1000)))

    async def delete(self, cache: str, key: str) -> None:
        """Delete one key."""
        await self._redis.delete(self.key(cache, key))

    async def delete_all(self, cache: str) -> None:
        """Delete every key of ``cache`` (SCAN, never KEYS)."""
        batch: list[bytes] = []
        async for name in self._redis.scan_iter(match=f"{self.prefix}{cache}:*", count=500):
            batch.append(name)
            if len(batch) >= 500:
                await self._redis.delete(*batch)
                batch.clear()
        if batch:
            await self._redis.delete(*batch)

    async def aclose(self) -> None:
        """Stop the listener and close both connections."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        self._listener = None
        await self._redis.aclose()
        await self._listener_redis.aclose()
