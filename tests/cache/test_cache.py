"""Chatbot configuration and prompt caches: hits, invalidation across workers, Redis outages."""

from __future__ import annotations

import asyncio
import logging
import random
import string
import time
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from samtale.storage.cache import RAW, ZLIB, CacheRegistry, decode_value, encode_value

VINHUSET = {"chatbot_id": "vinhuset", "language": "da", "flows": ["main", "flow3", "apiflow"]}


async def until(predicate: Any, within_s: float = 3.0) -> bool:
    """Wait for a pub/sub message to arrive: True once ``predicate()`` holds."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.01)
    return False


def test_seed_ttls_are_the_defaults() -> None:
    registry = CacheRegistry()
    assert registry.config.ttl_s == 300
    assert registry.prompts.ttl_s == 600
    assert registry.assignments.ttl_s == 600


def test_large_values_are_compressed_only_when_it_pays() -> None:
    small = encode_value({"prompt": "Du er en hjælpsom vinekspert."})
    assert small[:1] == RAW
    repetitive = {"prompt": "Svar altid på dansk og kort. " * 100}
    packed = encode_value(repetitive)
    assert packed[:1] == ZLIB
    assert len(packed) <= 0.8 * len(orjson.dumps(repetitive))
    assert decode_value(packed) == repetitive
    # 1.5 KB of random printable characters: zlib saves only ~16 %, below the 20 % bar.
    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits + string.punctuation.replace("\\", "").replace('"', "")
    incompressible = {"blob": "".join(rng.choice(alphabet) for _ in range(1500))}
    encoded = encode_value(incompressible)
    assert encoded[:1] == RAW
    assert decode_value(encoded) == incompressible


async def test_loading_a_chatbot_twice_hits_the_cache_once() -> None:
    registry = CacheRegistry()
    loads = 0

    async def load() -> dict[str, Any]:
        nonlocal loads
        loads += 1
        return VINHUSET

    for _ in range(10):
        assert await registry.config.get_or_load("vinhuset", load) == VINHUSET
    assert loads == 1
    stats = registry.stats()["config"]
    assert (stats["hits"], stats["misses"], stats["size"], stats["backend"]) == (9, 1, 1, "memory")
    assert stats["hit_rate"] == 0.9


async def test_concurrent_misses_share_one_load() -> None:
    registry = CacheRegistry()
    loads = 0

    async def slow_load() -> dict[str, Any]:
        nonlocal loads
        loads += 1
        await asyncio.sleep(0.05)
        return VINHUSET

    results = await asyncio.gather(*(registry.config.get_or_load("vinhuset", slow_load) for _ in range(5)))
    assert results == [VINHUSET] * 5
    assert loads == 1


async def test_an_unknown_chatbot_is_not_cached() -> None:
    registry = CacheRegistry()

    async def missing() -> None:
        return None

    assert await registry.config.get_or_load("nope", missing) is None
    assert registry.stats()["config"]["size"] == 0


async def test_entries_expire_after_their_ttl_and_cleanup_removes_them() -> None:
    registry = CacheRegistry(config_ttl_s=0.05)
    await registry.config.set("vinhuset", VINHUSET)
    await asyncio.sleep(0.06)
    assert registry.cleanup() == 1
    assert await registry.config.get("vinhuset") is None


@pytest.mark.redis
async def test_an_admin_write_in_one_worker_reaches_the_other(redis_url: str, prefix: str) -> None:
    worker_a = CacheRegistry(redis_url=redis_url, prefix=prefix)
    worker_b = CacheRegistry(redis_url=redis_url, prefix=prefix)
    await worker_a.start()
    await worker_b.start()
    try:
        assert worker_a.backend == worker_b.backend == "redis"
        await worker_a.config.set("vinhuset", VINHUSET)
        # Worker B has never loaded it, yet finds it in Redis (a hit, not a database load).
        assert await worker_b.config.get("vinhuset") == VINHUSET
        assert worker_b.stats()["config"]["hits"] == 1

        await worker_a.config.delete("vinhuset")  # the admin edits the chatbot in worker A
        assert await until(lambda: worker_b.stats()["config"]["size"] == 0)
        assert await worker_b.config.get("vinhuset") is None

        await worker_b.prompts.set("vinhuset:main", {"template": "Hej {{ name }}"})
        await worker_a.prompts.get("vinhuset:main")
        await worker_b.clear_all()
        assert await until(lambda: worker_a.stats()["prompts"]["size"] == 0)
    finally:
        await worker_a.aclose()
        await worker_b.aclose()


@pytest.mark.redis
async def test_large_prompt_is_stored_compressed_in_redis(redis_url: str, prefix: str) -> None:
    registry = CacheRegistry(redis_url=redis_url, prefix=prefix)
    await registry.start()
    raw = Redis.from_url(redis_url)
    try:
        prompt = {"template": "Du er kundeservice for Vinhuset. Svar venligt og kort. " * 60}
        await registry.prompts.set("vinhuset:main", prompt)
        stored = await raw.get(f"{prefix}prompts:vinhuset:main")
        assert stored[:1] == ZLIB
        assert len(stored) < 0.8 * len(prompt["template"])
        ttl_ms = await raw.pttl(f"{prefix}prompts:vinhuset:main")
        assert 590_000 < ttl_ms <= 600_000
    finally:
        await raw.aclose()
        await registry.aclose()


async def test_redis_down_at_start_falls_back_with_one_warning(
    closed_redis_url: str, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="samtale.storage.cache")
    registry = CacheRegistry(redis_url=closed_redis_url, prefix=prefix)
    await registry.start()
    try:
        for _ in range(3):
            await registry.config.set("vinhuset", VINHUSET)
            assert await registry.config.get("vinhuset") == VINHUSET
        await registry.config.delete("vinhuset")
        assert registry.backend == "memory"
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert "in-process" in warnings[0].getMessage()
    finally:
        await registry.aclose()


@pytest.mark.redis
async def test_redis_dying_mid_run_keeps_answering_with_one_warning(
    proxied_redis_url: tuple[str, Any], prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    url, proxy = proxied_redis_url
    caplog.set_level(logging.WARNING, logger="samtale.storage.cache")
    registry = CacheRegistry(redis_url=url, prefix=prefix)
    await registry.start()
    try:
        await registry.config.set("vinhuset", VINHUSET)
        assert registry.backend == "redis"
        await proxy.cut()
        for i in range(5):
            await registry.prompts.set(f"p{i}", {"template": "x"})
            assert await registry.prompts.get(f"p{i}") == {"template": "x"}
            assert await registry.config.get("vinhuset") == VINHUSET
        assert registry.backend == "memory"
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
    finally:
        await registry.aclose()
