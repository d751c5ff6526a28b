"""1,000 pipeline turns over 10 chatbots, then the config-cache hit rate and a ``/metrics`` excerpt.

Every turn goes through the app in process (``httpx.ASGITransport``): ``POST /api/process-message``
with ``Accept: text/event-stream``, answered by an OpenAI-compatible model over loopback HTTP (the
fake LLM server, zero latency), so the ``ai`` pool, the config cache, the turn recorder and the
Prometheus histograms all see real traffic. Then, when Redis answers, the per-token cost of the
Redis Streams hub against the in-process hub (one stream, one follower).

Usage: ``.venv/bin/python bench/operations_turns.py [--turns 1000] [--chatbots 10] [--clients 20]``
Writes ``bench/results/operations.json``. Figures depend on the machine's load; re-measure on a quiet one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from samtale.app import create_app
from samtale.chatbots.apikeys import create_api_key
from samtale.chatbots.schema import ChatbotConfig
from samtale.chatbots.service import import_chatbot
from samtale.llm.fake import FakeLLMServer
from samtale.services import Services
from samtale.settings import Settings
from samtale.storage.migrate import upgrade_database
from samtale.streaming.hub import StreamHub

RESULTS = Path(__file__).parent / "results" / "operations.json"
QUESTIONS = ("How long does delivery take?", "Do you ship abroad?", "Can I return a bottle?", "Which red for lamb?")
EXCERPT_PREFIXES = (
    "samtale_ttft_seconds_bucket",
    "samtale_ttft_seconds_count",
    "samtale_ttft_seconds_sum",
    "samtale_http_pool_",
    "samtale_cache_",
    "samtale_errors_total",
)


async def run_turns(*, turns: int, chatbots: int, clients: int) -> dict[str, Any]:
    """Run the turns and return the figures (cache stats, pool stats, metrics excerpt, turns/s)."""
    tmp = Path(tempfile.mkdtemp(prefix="samtale-bench-ops-"))
    database_url = f"sqlite+aiosqlite:///{tmp}/samtale.db"
    upgrade_database(database_url)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment="test",
        database_url=database_url,
        data_dir=tmp / "data",
        redis_url=None,
    )
    services = await asyncio.to_thread(Services.create, settings)
    await services.start(warm_up=False)
    try:
        async with FakeLLMServer(replies=["We ship within 1-3 working days with GLS, and returns are free."]) as llm:
            ids = [f"shop{n:02d}" for n in range(chatbots)]
            for chatbot_id in ids:
                config = ChatbotConfig.model_validate(
                    {
                        "id": chatbot_id,
                        "name": f"Shop {chatbot_id}",
                        "llm": {"provider": "openai", "model": "fake-model", "base_url": llm.base_url},
                        "flows": [{"type": "main"}],
                    }
                )
                await import_chatbot(db=services.db, config=config, secret_key=settings.secret_key)
            admin = await create_api_key(db=services.db, name="bench", is_admin=True)
            transport = httpx.ASGITransport(app=create_app(services=services))
            async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=60) as client:
                queue: asyncio.Queue[int] = asyncio.Queue()
                for n in range(turns):
                    queue.put_nowait(n)
                failures = 0

                async def worker() -> None:
                    nonlocal failures
                    while not queue.empty():
                        n = queue.get_nowait()
                        response = await client.post(
                            "/api/process-message",
                            json={
                                "user_id": f"u{n % 50}",
                                "chatbot_id": ids[n % len(ids)],
                                "message_text": QUESTIONS[n % len(QUESTIONS)],
                            },
                            headers={"Accept": "text/event-stream"},
                        )
                        if response.status_code != 200 or "event: end" not in response.text:
                            failures += 1

                started = time.perf_counter()
                await asyncio.gather(*(worker() for _ in range(clients)))
                elapsed = time.perf_counter() - started
                await services.conversation.drain()
                auth = {"Authorization": f"Bearer {admin}"}
                caches = (await client.get("/api/monitoring/cache-stats", headers=auth)).json()
                pools = (await client.get("/api/monitoring/connection-pools", headers=auth)).json()
                processing = (await client.get("/api/monitoring/processing-metrics", headers=auth)).json()
                metrics = (await client.get("/metrics")).text
    finally:
        await services.aclose()
    excerpt = [
        line
        for line in metrics.splitlines()
        if line.startswith(EXCERPT_PREFIXES)
        and ("chatbot=" not in line or 'chatbot="shop00"' in line)  # one chatbot's histogram is enough
    ]
    ttft_p50 = [row["ttft_ms_p50"] for row in processing["flows"] if row["ttft_ms_p50"] is not None]
    return {
        "turns": turns,
        "chatbots": chatbots,
        "clients": clients,
        "failed_turns": failures,
        "elapsed_s": round(elapsed, 2),
        "turns_per_s": round(turns / elapsed, 1),
        "config_cache": caches["config"],
        "ai_pool": pools["ai"],
        "ttft_ms_p50_median_over_chatbots": round(statistics.median(ttft_p50), 2) if ttft_p50 else None,
        "turns_recorded": sum(row["count"] for row in processing["flows"]),
        "metrics_excerpt": excerpt,
    }


async def hub_overhead(*, tokens: int = 20_000) -> dict[str, Any]:
    """Microseconds per token event: in-process hub vs Redis Streams hub (emit + one follower to the end)."""
    from redis.asyncio import Redis

    from samtale.streaming.redis_hub import RedisStreamHub

    url = os.environ.get("SAMTALE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    probe = Redis.from_url(url, socket_connect_timeout=0.5)
    try:
        await probe.ping()
    except Exception as exc:
        return {"skipped": f"Redis at {url} does not answer ({exc})"}
    finally:
        await probe.aclose()

    async def one(hub: StreamHub, reader_hub: StreamHub) -> float:
        stream = hub.create(stream_id=str(uuid.uuid4()), chatbot_id="b", conversation_session_id="c", token_hash="h")
        stream.emit("start", {})
        if isinstance(hub, RedisStreamHub):
            await hub.flush()
        view = await reader_hub.lookup(stream.id)
        assert view is not None

        async def follow() -> int:
            return len([item async for item in view.follow(0, heartbeat_s=5.0) if item is not None])

        reader = asyncio.create_task(follow())
        started = time.perf_counter()
        for i in range(tokens):
            stream.emit("token", {"token": f"w{i} "})
            if i % 20 == 0:
                await asyncio.sleep(0)  # a model's tokens arrive in small bursts
        stream.emit("end", {})
        received = await reader
        elapsed = time.perf_counter() - started
        assert received == tokens + 2, received
        return elapsed * 1e6 / tokens

    memory = StreamHub()
    memory_us = await one(memory, memory)
    prefix = f"samtale-bench:{uuid.uuid4().hex[:8]}:stream:"
    producer, other = RedisStreamHub(url=url, prefix=prefix), RedisStreamHub(url=url, prefix=prefix)
    await producer.start()
    await other.start()
    try:
        same_worker_us = await one(producer, producer)
        writes_before = producer.writes
        other_worker_us = await one(producer, other)
        writes = producer.writes - writes_before
    finally:
        await producer.aclose()
        await other.aclose()
    return {
        "tokens": tokens,
        "memory_hub_us_per_token": round(memory_us, 2),
        "redis_hub_same_worker_reader_us_per_token": round(same_worker_us, 2),
        "redis_hub_other_worker_reader_us_per_token": round(other_worker_us, 2),
        "redis_pipelines_for_the_stream": writes,
    }


def main() -> None:
    """Parse arguments, run, print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--chatbots", type=int, default=10)
    parser.add_argument("--clients", type=int, default=20)
    args = parser.parse_args()
    figures = asyncio.run(run_turns(turns=args.turns, chatbots=args.chatbots, clients=args.clients))
    figures["stream_hub"] = asyncio.run(hub_overhead())
    cache = figures["config_cache"]
    print(
        f"{figures['turns']} turns over {figures['chatbots']} chatbots, {figures['clients']} clients: "
        f"{figures['turns_per_s']} turns/s, {figures['failed_turns']} failed, {figures['turns_recorded']} recorded"
    )
    print(f"config cache: hits {cache['hits']}, misses {cache['misses']}, hit rate {cache['hit_rate']:.4f}")
    print(f"ai pool: {figures['ai_pool']['requests']} requests, latency {figures['ai_pool']['latency_ms']}")
    print(f"TTFT p50 (median over chatbots): {figures['ttft_ms_p50_median_over_chatbots']} ms")
    print("stream hub:", json.dumps(figures["stream_hub"]))
    print("/metrics excerpt:")
    for line in figures["metrics_excerpt"]:
        print("  " + line)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
