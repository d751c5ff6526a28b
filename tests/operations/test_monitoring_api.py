"""An operator watches real traffic through the monitoring endpoints and ``GET /metrics``.

Three turns go through ``POST /api/process-message`` on two chatbots: one answered by an
OpenAI-compatible model over loopback HTTP (the fake LLM server, so the ``ai`` pool is used),
one by the offline answerer. Every figure asserted below comes from that traffic.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from samtale.chatbots.apikeys import create_api_key
from samtale.llm.fake import FakeLLMServer
from samtale.services import Services
from tests.conversation.helpers import add_chatbot, answer_text, read_sse


def ask(text: str, chatbot_id: str, user: str = "shopper-1") -> dict[str, str]:
    return {"user_id": user, "chatbot_id": chatbot_id, "message_text": text}


def sample(body: str, name: str, **labels: str) -> float | None:
    """The value of the sample ``name{labels…}`` in a Prometheus exposition, or None."""
    for line in body.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


async def turn(client: httpx.AsyncClient, chatbot_id: str, text: str) -> list[dict[str, Any]]:
    response = await client.post("/api/process-message", json=ask(text, chatbot_id))
    assert response.status_code == 200, response.text
    return await read_sse(client, response.json()["sse_url"])


@pytest.fixture
async def admin(services: Services) -> dict[str, str]:
    key = await create_api_key(db=services.db, name="ops", is_admin=True)
    return {"Authorization": f"Bearer {key}"}


async def test_three_turns_on_two_chatbots_show_up_in_every_monitoring_endpoint(
    client: httpx.AsyncClient, services: Services, admin: dict[str, str]
) -> None:
    suffix = uuid.uuid4().hex[:6]
    gpt, offline = f"gptshop-{suffix}", f"vinhuset-{suffix}"
    async with FakeLLMServer(replies=["We ship within 1-3 working days with GLS."], ttft_ms=5) as llm:
        await add_chatbot(
            services,
            id=gpt,
            name="GPT Shop",
            llm={"provider": "openai", "model": "fake-model", "base_url": llm.base_url},
            flows=[{"type": "main"}],
        )
        await add_chatbot(services, id=offline, name="Vinhuset", language="da", flows=[{"type": "main"}])
        services.pools.reset()
        before = services.caches.config.stats()

        for text in ("How fast do you ship?", "Do you ship to Norway?"):
            events = await turn(client, gpt, text)
            assert answer_text(events) == "We ship within 1-3 working days with GLS."
        events = await turn(client, offline, "Hvor lang er leveringstiden?")
        assert events[-1]["event"] == "end"
        await services.conversation.drain()

    # processing-metrics: count per chatbot and flow, TTFT above zero, no errors.
    response = await client.get("/api/monitoring/processing-metrics", headers=admin)
    assert response.status_code == 200
    flows = {(row["chatbot_id"], row["flow_type"]): row for row in response.json()["flows"]}
    assert set(flows) == {(gpt, "main"), (offline, "main")}
    assert flows[(gpt, "main")]["count"] == 2 and flows[(offline, "main")]["count"] == 1
    for row in flows.values():
        assert row["errors"] == 0 and row["error_rate"] == 0.0
        assert row["ttft_ms_p50"] > 0 and row["ttft_ms_p95"] >= row["ttft_ms_p50"]
        assert row["completion_tokens"] > 0 and row["tokens_per_s_mean"] > 0
    assert flows[(gpt, "main")]["phase_ms_mean"]["llm_ttft"] >= 5.0  # the fake model's own TTFT
    one_bot = await client.get("/api/monitoring/processing-metrics", params={"chatbot_id": offline}, headers=admin)
    assert [row["chatbot_id"] for row in one_bot.json()["flows"]] == [offline]

    # cache-stats: the first turn of each chatbot missed its config, the second one hit it.
    caches = (await client.get("/api/monitoring/cache-stats", headers=admin)).json()
    assert caches["config"]["misses"] - before["misses"] == 2
    assert caches["config"]["hits"] - before["hits"] >= 1
    assert caches["config"]["size"] >= 2 and 0 < caches["config"]["hit_rate"] < 1

    # connection-pools: two LLM calls went through the ai pool and nothing else.
    pools = (await client.get("/api/monitoring/connection-pools", headers=admin)).json()
    assert set(pools) == {"ai", "orders", "general"}
    assert pools["ai"]["requests"] == 2 and pools["ai"]["successes"] == 2 and pools["ai"]["failures"] == 0
    assert pools["ai"]["latency_ms"]["p50"] > 0
    assert pools["orders"]["requests"] == 0 and pools["general"]["requests"] == 0

    # conversation-health: the database answers and nothing is still generating.
    health = (await client.get("/api/monitoring/conversation-health", headers=admin)).json()
    assert health["status"] == "healthy" and health["database"] == "connected"
    assert health["active_streams"] == 0 and health["recorder"]["turns_written"] >= 3
    assert health["system"]["rss_mb"] > 0

    # /metrics: TTFT histogram samples labelled by chatbot and flow, pool and cache gauges.
    metrics = (await client.get("/metrics")).text
    assert sample(metrics, "samtale_ttft_seconds_count", chatbot=gpt, flow="main") == 2.0
    assert sample(metrics, "samtale_ttft_seconds_count", chatbot=offline, flow="main") == 1.0
    assert sample(metrics, "samtale_ttft_seconds_bucket", chatbot=gpt, flow="main", le="+Inf") == 2.0
    assert sample(metrics, "samtale_http_pool_requests", pool="ai") == 2.0
    assert sample(metrics, "samtale_cache_misses", cache="config") == caches["config"]["misses"]
    assert sample(metrics, "samtale_turns_total", chatbot=offline, flow="main", status="ok") == 1.0


async def test_monitoring_reads_need_an_admin_key(client: httpx.AsyncClient, services: Services) -> None:
    widget = await create_api_key(db=services.db, name="widget", is_admin=False)
    for path in ("conversation-health", "connection-pools", "cache-stats", "processing-metrics"):
        anonymous = await client.get(f"/api/monitoring/{path}")
        assert anonymous.status_code == 401 and anonymous.json()["error"]["code"]
        plain = await client.get(f"/api/monitoring/{path}", headers={"X-API-Key": widget})
        assert plain.status_code == 403 and plain.json()["error"]["code"]


async def test_clear_cache_and_reset_pool_stats_are_for_deployment_admins_only(
    client: httpx.AsyncClient, services: Services, admin: dict[str, str]
) -> None:
    bot = f"vinhuset-{uuid.uuid4().hex[:6]}"
    await add_chatbot(services, id=bot, name="Vinhuset", language="da", flows=[{"type": "main"}])
    await turn(client, bot, "Hvornår kommer min pakke?")
    await turn(client, bot, "Og til Bornholm?")
    async with FakeLLMServer(replies=["ok"]) as llm:
        await services.pools.ai.post(f"{llm.base_url}/chat/completions", json={"messages": []})
    assert services.caches.config.stats()["size"] >= 1
    assert services.pools.stats()["ai"]["requests"] == 1

    widget = await create_api_key(db=services.db, name="widget", is_admin=False)
    one_shop = await create_api_key(db=services.db, name="shop", is_admin=True, chatbot_id=bot)
    for path in ("/api/monitoring/clear-cache", "/api/monitoring/reset-pool-stats"):
        refused = [
            await client.post(path),
            await client.post(path, headers={"Authorization": "Bearer not-a-key"}),
            await client.post(path, headers={"X-API-Key": widget}),
            await client.post(path, headers={"X-API-Key": one_shop}),  # scoped to one chatbot: not deployment-wide
        ]
        assert [r.status_code for r in refused] == [401, 401, 403, 403]
        assert all(set(r.json()["error"]) >= {"code", "message"} for r in refused)
    assert services.caches.config.stats()["size"] >= 1  # nothing was cleared by the refused calls
    assert services.pools.stats()["ai"]["requests"] == 1

    cleared = await client.post("/api/monitoring/clear-cache", headers=admin)
    assert cleared.status_code == 200 and cleared.json()["success"] is True
    assert all(stats["size"] == 0 for stats in cleared.json()["caches"].values())
    reset = await client.post("/api/monitoring/reset-pool-stats", headers=admin)
    assert reset.status_code == 200
    assert all(stats["requests"] == 0 for stats in reset.json()["pools"].values())

    misses = services.caches.config.stats()["misses"]
    await turn(client, bot, "Og til Færøerne?")
    assert services.caches.config.stats()["misses"] == misses + 1  # the next turn reloads the config
