"""Caches for chatbot configuration, prompt templates and template assignments (seed 000 §4.1).

Each :class:`Cache` keeps an in-process layer (``cachetools.TTLCache``). When a Redis URL is
given, a shared Redis layer sits behind it: a worker that misses locally reads Redis before the
database, and every write or delete is published on a pub/sub channel so each worker drops its
local copy at once (admin writes reach every worker). If Redis does not answer, at start or
mid-run, the caches log ONE warning and carry on in-process; they try Redis again every
``RECOVERY_PROBE_S`` seconds and, when it answers, clear their local layers (invalidations may
have been missed) and use it again.

The Redis layer lives in :mod:`samtale.storage.cache_redis` and the stored bytes in
:mod:`samtale.storage.cache_codec`; their public names are re-exported here. Values stored in
Redis are orjson bytes behind a 1-byte marker (seed 003): ``\\x00`` raw,
``\\x01`` zlib-compressed, compressed only when the JSON is at least 1 KB and compression saves
at least 20 %. Values must be JSON-serialisable (Pydantic models are dumped; pass ``value_type``
to get them validated back). Treat cached values as immutable: every caller shares them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from cachetools import TTLCache
from pydantic import TypeAdapter
from redis.exceptions import RedisError

from samtale.storage.cache_codec import COMPRESS_MIN_BYTES, COMPRESS_MIN_SAVING, RAW, ZLIB, decode_value, encode_value
from samtale.storage.cache_redis import RECOVERY_PROBE_S, RedisLink

__all__ = [
    "COMPRESS_MIN_BYTES",
    "COMPRESS_MIN_SAVING",
    "RAW",
    "RECOVERY_PROBE_S",
    "ZLIB",
    "Cache",
    "CacheRegistry",
    "RedisLink",
    "decode_value",
    "encode_value",
]

_MISSING = object()


class Cache:
    """A named TTL cache with hit/miss statistics, optionally backed by a shared :class:`RedisLink`.

    Args:
        name: ``config``, ``prompts``, ``assignments``…; part of the Redis key.
        ttl_s: how long a value lives, seconds (seed 000: configuration 300, prompts 600).
        maxsize: most entries kept in-process (least recently used go first).
        link: the registry's Redis link, or None for in-process only.
        value_type: when given, values read back from Redis are validated into this type
            (e.g. a Pydantic model); otherwise they come back as JSON values (dicts, lists…).
    """

    def __init__(
        self,
        *,
        name: str,
        ttl_s: float,
        maxsize: int = 10_000,
        link: RedisLink | None = None,
        value_type: Any = None,
    ) -> None:
        self.name = name
        self.ttl_s = ttl_s
        self._local: TTLCache[str, Any] = TTLCache(maxsize=maxsize, ttl=ttl_s)
        self._link = link
        self._adapter: TypeAdapter[Any] | None = TypeAdapter(value_type) if value_type is not None else None
        self._loading: dict[str, asyncio.Future[Any]] = {}
        self.hits = 0
        self.misses = 0

    async def _redis(self) -> RedisLink | None:
        if self._link is not None and await self._link.usable():
            return self._link
        return None

    async def get(self, key: str) -> Any | None:
        """The cached value of ``key`` or None; counts a hit or a miss."""
        value = self._local.get(key, _MISSING)
        if value is not _MISSING:
            self.hits += 1
            return value
        link = await self._redis()
        if link is not None:
            try:
                data = await link.get(self.name, key)
            except (RedisError, OSError) as exc:
                link.degrade(exc)
                data = None
            if data is not None:
                value = decode_value(data)
                if self._adapter is not None:
                    value = self._adapter.validate_python(value)
                self._local[key] = value
                self.hits += 1
                return value
        self.misses += 1
        return None

    async def set(self, key: str, value: Any) -> None:
        """Store ``value`` (not None) under ``key`` here, in Redis, and drop other workers' copies."""
        self._local[key] = value
        link = await self._redis()
        if link is not None:
            try:
                await link.set(self.name, key, encode_value(value), ttl_s=self.ttl_s)
                await link.publish(self.name, key)
            except (RedisError, OSError) as exc:
                link.degrade(exc)

    async def delete(self, key: str) -> None:
        """Invalidate ``key`` in this worker, in Redis and in every other worker (admin writes)."""
        self._local.pop(key, None)
        link = await self._redis()
        if link is not None:
            try:
                await link.delete(self.name, key)
                await link.publish(self.name, key)
            except (RedisError, OSError) as exc:
                link.degrade(exc)

    async def clear(self) -> None:
        """Drop every entry here, in Redis and in every other worker."""
        self._local.clear()
        link = await self._redis()
        if link is not None:
            try:
                await link.delete_all(self.name)
                await link.publish(self.name, None)
            except (RedisError, OSError) as exc:
                link.degrade(exc)

    async def get_or_load(self, key: str, loader: Callable[[], Awaitable[Any]]) -> Any:
        """The cached value, or ``await loader()`` stored and returned on a miss.

        Concurrent misses on one key in this process share one load. A loader returning None
        (e.g. unknown chatbot) is not cached. Errors from ``loader`` propagate unchanged.
        """
        value = await self.get(key)
        if value is not None:
            return value
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            value = await loader()
            if value is not None:
                await self.set(key, value)
            future.set_result(value)
            return value
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved so an unawaited future does not warn
            raise
        finally:
            self._loading.pop(key, None)

    def drop_local(self, key: str | None) -> None:
        """Forget ``key`` (or everything when None) in this process only (the listener calls it)."""
        if key is None:
            self._local.clear()
        else:
            self._local.pop(key, None)

    def expire(self) -> int:
        """Remove expired in-process entries now (the 30-minute cleanup job); returns how many."""
        return len(self._local.expire())

    def stats(self) -> dict[str, Any]:
        """``{hits, misses, hit_rate, size, ttl_s, backend}``; ``size`` counts in-process entries,
        ``hit_rate`` is hits / (hits + misses), 0.0 before any lookup."""
        lookups = self.hits + self.misses
        backend = "redis" if self._link is not None and self._link.available else "memory"
        return {
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": round(self.hits / lookups, 4) if lookups else 0.0,
            "size": len(self._local),
            "ttl_s": self.ttl_s,
            "backend": backend,
        }

    def reset_stats(self) -> None:
        """Zero hits and misses."""
        self.hits = self.misses = 0


class CacheRegistry:
    """The process's named caches: ``config`` (5 min), ``prompts`` (10 min), ``assignments`` (10 min).

    Args:
        redis_url: Redis for the shared layer and cross-worker invalidation; None = in-process.
        config_ttl_s, prompt_ttl_s, assignments_ttl_s: TTLs in seconds (Settings
            ``cache_config_ttl_s``, ``cache_prompt_ttl_s``; assignments follow the prompts).
        prefix: Redis key and channel prefix (tests use a unique one).
        maxsize: most in-process entries per cache.
        value_types: per cache name, the type values read back from Redis are validated into
            (e.g. ``{"config": ChatbotConfig}``); others come back as JSON values.

    Call ``await registry.start()`` in the app's lifespan and ``await registry.aclose()`` on exit.
    """

    def __init__(
        self,
        *,
        redis_url: str | None = None,
        config_ttl_s: float = 300.0,
        prompt_ttl_s: float = 600.0,
        assignments_ttl_s: float | None = None,
        prefix: str = "samtale:cache:",
        maxsize: int = 10_000,
        value_types: dict[str, Any] | None = None,
    ) -> None:
        types = value_types or {}
        self.sweeps = 0
        self.link = (
            RedisLink(url=redis_url, prefix=prefix, on_invalidate=self._invalidate, on_expire=self.cleanup)
            if redis_url
            else None
        )
        ttls = {"config": config_ttl_s, "prompts": prompt_ttl_s, "assignments": assignments_ttl_s or prompt_ttl_s}
        self.caches: dict[str, Cache] = {
            name: Cache(name=name, ttl_s=ttl, maxsize=maxsize, link=self.link, value_type=types.get(name))
            for name, ttl in ttls.items()
        }

    @property
    def config(self) -> Cache:
        """Chatbot configurations by chatbot id (TTL 5 min)."""
        return self.caches["config"]

    @property
    def prompts(self) -> Cache:
        """Prompt templates (TTL 10 min)."""
        return self.caches["prompts"]

    @property
    def assignments(self) -> Cache:
        """Flow → template assignments and overrides (TTL 10 min)."""
        return self.caches["assignments"]

    def get(self, name: str) -> Cache:
        """The cache called ``name``; raises ``KeyError`` for an unknown one."""
        return self.caches[name]

    def _invalidate(self, cache: str | None, key: str | None) -> None:
        targets = self.caches.values() if cache is None else [c for n, c in self.caches.items() if n == cache]
        for target in targets:
            target.drop_local(key)

    async def start(self) -> None:
        """Connect to Redis when configured; never raises (falls back to in-process)."""
        if self.link is not None:
            await self.link.start()

    @property
    def backend(self) -> str:
        """``redis`` while Redis is in use, else ``memory``."""
        return "redis" if self.link is not None and self.link.available else "memory"

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per-cache statistics keyed by name (see :meth:`Cache.stats`)."""
        return {name: cache.stats() for name, cache in self.caches.items()}

    async def clear_all(self) -> None:
        """Clear every cache in every worker (admin ``POST /api/monitoring/clear-cache``)."""
        for cache in self.caches.values():
            await cache.clear()

    def cleanup(self) -> int:
        """Remove expired in-process entries of every cache; returns how many were removed.

        Counts the sweep in :attr:`sweeps` (shown by ``/api/monitoring/conversation-health``).
        """
        self.sweeps += 1
        return sum(cache.expire() for cache in self.caches.values())

    @property
    def shared(self) -> bool:
        """True while Redis links this process's caches to every other worker's."""
        return self.link is not None and self.link.available

    async def cleanup_everywhere(self) -> int:
        """Sweep expired entries here and ask every other worker (over Redis pub/sub) to do the same.

        Returns how many entries this process removed. Without Redis it only sweeps this process.
        """
        removed = self.cleanup()
        if self.link is not None and await self.link.usable():
            try:
                await self.link.publish_expire()
            except (RedisError, OSError) as exc:
                self.link.degrade(exc)
        return removed

    async def aclose(self) -> None:
        """Stop the invalidation listener and close Redis connections."""
        if self.link is not None:
            await self.link.aclose()
