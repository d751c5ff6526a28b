"""GET /metrics shows TTFT and phase histograms per chatbot and flow, pool and cache gauges, request latency."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from samtale.http import HttpPools
from samtale.observability.metrics import observe_turn, register_stats_sources, render_metrics
from samtale.observability.middleware import RequestMetricsMiddleware
from samtale.storage.cache import CacheRegistry
from samtale.storage.models.observability import ConversationProcessingMetrics

ROOT = Path(__file__).resolve().parents[2]


def sample(body: str, name: str, **labels: str) -> float | None:
    """The value of the sample ``name{labels…}`` (label order as exported), or None."""
    for line in body.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def turn(chatbot: str, **overrides: object) -> ConversationProcessingMetrics:
    fields: dict[str, object] = dict(
        chatbot_id=chatbot, session_id="s1", streaming_session_id=str(uuid.uuid4()), flow_type="flow3",
        provider="offline", status="ok", config_ms=0.4, routing_ms=1.2, retrieval_ms=6.0, order_ms=0.0,
        prompt_ms=0.3, llm_ttft_ms=40.0, stream_ms=300.0, persist_ms=2.0, ttft_ms=48.0, total_ms=350.0,
        prompt_tokens=420, completion_tokens=60, tokens_per_s=200.0,
    )  # fmt: skip
    fields.update(overrides)
    return ConversationProcessingMetrics(**fields)


@pytest.fixture
def stats_sources() -> Iterator[None]:
    yield
    register_stats_sources(pools=None, caches=None)


def test_a_turn_shows_up_in_the_ttft_and_phase_histograms() -> None:
    chatbot = f"vinhuset-{uuid.uuid4().hex[:6]}"
    observe_turn(turn(chatbot))
    observe_turn(turn(chatbot, ttft_ms=1500.0, status="failed", completion_tokens=0))
    body, content_type = render_metrics()
    text = body.decode()
    assert content_type.startswith("text/plain")
    assert sample(text, "samtale_ttft_seconds_bucket", chatbot=chatbot, flow="flow3", le="0.05") == 1.0
    assert sample(text, "samtale_ttft_seconds_bucket", chatbot=chatbot, flow="flow3", le="2.0") == 2.0
    assert sample(text, "samtale_ttft_seconds_count", chatbot=chatbot, flow="flow3") == 2.0
    assert sample(text, "samtale_phase_duration_seconds_count", chatbot=chatbot, phase="retrieval") == 2.0
    assert sample(text, "samtale_phase_duration_seconds_sum", chatbot=chatbot, phase="llm_ttft") == pytest.approx(0.08)
    assert sample(text, "samtale_tokens_total", chatbot=chatbot, kind="completion") == 60.0
    assert sample(text, "samtale_tokens_total", chatbot=chatbot, kind="prompt") == 840.0
    assert sample(text, "samtale_turns_total", chatbot=chatbot, status="failed") == 1.0


async def test_pool_and_cache_gauges_are_read_at_scrape_time(stats_sources: None) -> None:
    async def shop(scope, receive, send):  # type: ignore[no-untyped-def]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    pools = HttpPools(transport_factory=lambda _config: httpx.ASGITransport(app=shop))
    caches = CacheRegistry()
    register_stats_sources(pools=pools, caches=caches)
    try:
        for _ in range(4):
            await pools.orders.get("http://shop.test/orders/1")
        await caches.config.get_or_load("vinhuset", _load)
        await caches.config.get("vinhuset")
        await caches.config.get("vinhuset")
        text = render_metrics()[0].decode()
        assert sample(text, "samtale_http_pool_requests", pool="orders") == 4.0
        assert sample(text, "samtale_http_pool_successes", pool="orders") == 4.0
        assert sample(text, "samtale_http_pool_requests", pool="ai") == 0.0
        assert sample(text, "samtale_http_pool_latency_ms", pool="orders", quantile="p95") is not None
        assert sample(text, "samtale_cache_hits", cache="config") == 2.0
        assert sample(text, "samtale_cache_misses", cache="config") == 1.0
        assert sample(text, "samtale_cache_size", cache="config") == 1.0
        pools.reset()
        assert sample(render_metrics()[0].decode(), "samtale_http_pool_requests", pool="orders") == 0.0
    finally:
        await pools.aclose()


async def _load() -> dict[str, str]:
    return {"chatbot_id": "vinhuset"}


async def test_request_latency_is_labelled_by_route_template_not_raw_path() -> None:
    app = FastAPI()

    @app.get("/api/stream-events/{streaming_session_id}")
    async def events(streaming_session_id: str) -> dict[str, str]:
        return {"id": streaming_session_id}

    app.add_middleware(RequestMetricsMiddleware)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://samtale.test") as client:
        before = sample(render_metrics()[0].decode(), "samtale_http_request_duration_seconds_count",
                        route="/api/stream-events/{streaming_session_id}", status="200") or 0.0  # fmt: skip
        for _ in range(3):
            response = await client.get(f"/api/stream-events/{uuid.uuid4()}")
            assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
        response = await client.get("/nowhere", headers={"X-Request-ID": "req-42"})
        assert response.headers["x-request-id"] == "req-42"
    text = render_metrics()[0].decode()
    count = sample(
        text, "samtale_http_request_duration_seconds_count", route="/api/stream-events/{streaming_session_id}"
    )
    assert count == before + 3
    assert sample(text, "samtale_http_request_duration_seconds_count", route="unmatched", status="404") is not None


WORKER = """
import sys
from samtale.observability.metrics import observe_turn
for _ in range(int(sys.argv[1])):
    observe_turn({"chatbot_id": "vinhuset", "flow_type": "main", "ttft_ms": 30.0, "retrieval_ms": 5.0})
"""
SCRAPER = """
from samtale.observability.metrics import render_metrics
print(render_metrics()[0].decode())
"""


def test_several_workers_add_up_in_multiprocess_mode(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for turns in ("2", "3"):  # two workers, separate processes
        subprocess.run([sys.executable, "-c", WORKER, turns], env=env, cwd=ROOT, check=True, timeout=60)
    scrape = subprocess.run(
        [sys.executable, "-c", SCRAPER], env=env, cwd=ROOT, check=True, timeout=60, capture_output=True, text=True
    ).stdout
    assert sample(scrape, "samtale_ttft_seconds_count", chatbot="vinhuset", flow="main") == 5.0
    assert sample(scrape, "samtale_ttft_seconds_bucket", chatbot="vinhuset", flow="main", le="0.05") == 5.0
    assert sample(scrape, "samtale_turns_total", chatbot="vinhuset", flow="main", status="ok") == 5.0
