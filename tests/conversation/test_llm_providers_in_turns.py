"""Turns answered by a real LLM over HTTP (the fake OpenAI and Flowise servers on loopback)."""

from __future__ import annotations

import socket

import httpx
import pytest
from sqlalchemy import select

from samtale.llm.fake import FakeFlowiseServer, FakeLLMServer
from samtale.services import Services
from samtale.storage.models import ConversationProcessingMetrics, Message
from tests.conversation.helpers import add_chatbot, answer_text, read_sse


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ask(text: str, chatbot_id: str) -> dict[str, str]:
    return {"user_id": "shopper-9", "chatbot_id": chatbot_id, "message_text": text}


async def test_an_openai_compatible_model_streams_its_answer(
    client: httpx.AsyncClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_LLM_KEY", "sk-test")
    async with FakeLLMServer(replies=["We ship within 1-3 working days with GLS."]) as llm:
        await add_chatbot(
            services,
            id="gptshop",
            name="GPT Shop",
            llm={"provider": "openai", "model": "fake-model", "base_url": llm.base_url, "api_key": "${FAKE_LLM_KEY}"},
            prompts={"main": "You answer for {{ chatbot.name }} in {{ language }}."},
            flows=[{"type": "main", "prompt": "main"}],
        )
        body = (await client.post("/api/process-message", json=ask("How fast do you ship?", "gptshop"))).json()
        events = await read_sse(client, body["sse_url"])
        assert answer_text(events) == "We ship within 1-3 working days with GLS."
        request = llm.chat_requests[0]
        sent = request.json
        assert sent["model"] == "fake-model" and sent["stream"] is True
        assert sent["messages"][0] == {"role": "system", "content": "You answer for GPT Shop in en."}
        assert sent["messages"][-1] == {"role": "user", "content": "How fast do you ship?"}
        assert request.headers["authorization"] == "Bearer sk-test"
    end = events[-1]
    assert end["event"] == "end" and end["data"]["usage"]["completion_tokens"] > 0


async def test_retries_before_the_first_token_hide_a_flaky_model(client: httpx.AsyncClient, services: Services) -> None:
    async with FakeLLMServer(replies=["Still here."], fail_first=2, fault_status=503) as llm:
        await add_chatbot(
            services,
            id="flaky",
            name="Flaky",
            llm={"provider": "openai", "model": "fake-model", "base_url": llm.base_url},
            flows=[{"type": "main"}],
        )
        body = (await client.post("/api/process-message", json=ask("Hello?", "flaky"))).json()
        events = await read_sse(client, body["sse_url"])
        assert answer_text(events) == "Still here."
        assert len(llm.chat_requests) == 3


async def test_an_unreachable_model_ends_in_an_llm_error_and_a_failed_message(
    client: httpx.AsyncClient, services: Services
) -> None:
    await add_chatbot(
        services,
        id="down",
        name="Down Shop",
        language="da",
        llm={"provider": "openai", "model": "m", "base_url": f"http://127.0.0.1:{closed_port()}/v1"},
        flows=[{"type": "main"}],
    )
    body = (await client.post("/api/process-message", json=ask("Hej?", "down"))).json()
    events = await read_sse(client, body["sse_url"])
    assert events[-1]["event"] == "error"
    assert events[-1]["data"]["category"] == "llm"
    assert "Beklager" in events[-1]["data"]["shopper_message"]
    await services.conversation.drain()
    async with services.db.session() as session:
        assistant = (
            await session.scalars(
                select(Message).where(Message.session_id == body["session_id"], Message.role == "assistant")
            )
        ).one()
        metrics = (await session.scalars(select(ConversationProcessingMetrics))).one()
    assert assistant.status == "failed"
    assert metrics.status == "failed" and metrics.error_category == "llm"
    health = await client.get("/health")
    assert health.status_code == 200


async def test_a_flowise_chatflow_answers_through_the_prediction_api(
    client: httpx.AsyncClient, services: Services
) -> None:
    async with FakeFlowiseServer(replies=["Flowise says hello."], chatflow_id="flow-123") as flowise:
        await add_chatbot(
            services,
            id="flowiseshop",
            name="Flowise Shop",
            llm={"provider": "flowise", "base_url": flowise.base_url, "chatflow_id": "flow-123"},
            flows=[{"type": "main"}],
        )
        body = (await client.post("/api/process-message", json=ask("hi", "flowiseshop"))).json()
        events = await read_sse(client, body["sse_url"])
        assert answer_text(events) == "Flowise says hello."
        assert flowise.predictions[0].json["question"] == "hi"


async def test_a_broken_prompt_template_is_a_template_error_not_a_crash(
    client: httpx.AsyncClient, services: Services
) -> None:
    await add_chatbot(
        services,
        id="broken",
        name="Broken",
        prompts={"main": "Hello {{ no_such_variable }}"},
        flows=[{"type": "main", "prompt": "main"}],
    )
    body = (await client.post("/api/process-message", json=ask("hi", "broken"))).json()
    events = await read_sse(client, body["sse_url"])
    assert events[-1]["event"] == "error"
    assert events[-1]["data"]["category"] == "template"
    assert "'main'" in events[-1]["data"]["message"]
