"""A Flowise chatflow answers through its Prediction API over real loopback HTTP (the fake Flowise)."""

from __future__ import annotations

import httpx
import pytest

from samtale.llm.base import LLMResponseError, LLMStatusError, TextDelta, Usage
from samtale.llm.fake import FakeFlowiseServer
from samtale.llm.flowise_provider import FlowiseProvider

from .conftest import shop_request


async def test_a_streamed_flowise_answer_arrives_in_order_and_the_prediction_body_is_flowises() -> None:
    reply = "Vi sender med DAO, og du får et trackingnummer."
    async with FakeFlowiseServer(replies=[reply], chatflow_id="cf-1", api_key="fw-key") as server:
        async with httpx.AsyncClient() as client:
            provider = FlowiseProvider(
                base_url=server.base_url, chatflow_id="cf-1", api_key="fw-key", http_client=client
            )
            request = shop_request("Hvem leverer min pakke?")
            items = [item async for item in provider.stream(request)]
            again = [item async for item in provider.stream(request)]

    deltas = [item.text for item in items if isinstance(item, TextDelta)]
    assert "".join(deltas) == reply and len(deltas) == len(reply.split())
    assert isinstance(items[-1], Usage) and items[-1].estimated
    assert items[-1].completion_tokens == len(reply.split())
    assert again == items
    assert server.connections == 1  # the SSE body was read to its end, so the connection was reused
    body = server.predictions[0].json
    assert body["question"] == "Hvem leverer min pakke?"
    assert body["streaming"] is True
    assert body["history"] == [
        {"role": "userMessage", "content": "Hello"},
        {"role": "apiMessage", "content": "Hi! How can I help?"},
    ]
    assert body["overrideConfig"]["systemMessagePrompt"] == "You are the shop assistant of Vinhuset."
    assert server.predictions[0].headers["authorization"] == "Bearer fw-key"


async def test_a_whole_flowise_answer_is_its_text() -> None:
    async with FakeFlowiseServer(replies=["Returns within 14 days."]) as server, httpx.AsyncClient() as client:
        provider = FlowiseProvider(base_url=server.base_url, chatflow_id=server.chatflow_id, http_client=client)
        completion = await provider.complete(shop_request("Can I return it?"))
    assert completion.text == "Returns within 14 days."
    assert server.predictions[0].json["streaming"] is False


async def test_an_unknown_chatflow_or_a_wrong_key_is_a_status_error_that_is_not_retried() -> None:
    async with FakeFlowiseServer(chatflow_id="cf-1", api_key="right") as server, httpx.AsyncClient() as client:
        unknown = FlowiseProvider(base_url=server.base_url, chatflow_id="cf-2", api_key="right", http_client=client)
        with pytest.raises(LLMStatusError) as failed:
            [item async for item in unknown.stream(shop_request("Hi"))]
        assert failed.value.status_code == 404 and not failed.value.retryable
        assert "cf-2 not found" in failed.value.message
        wrong_key = FlowiseProvider(base_url=server.base_url, chatflow_id="cf-1", api_key="wrong", http_client=client)
        with pytest.raises(LLMStatusError) as failed:
            await wrong_key.complete(shop_request("Hi"))
        assert failed.value.status_code == 401


async def test_an_error_event_in_the_stream_is_reported_after_the_tokens_already_seen() -> None:
    async with FakeFlowiseServer(fail_first=1, fault="error_event", cut_after_tokens=2) as server:
        async with httpx.AsyncClient() as client:
            provider = FlowiseProvider(base_url=server.base_url, chatflow_id=server.chatflow_id, http_client=client)
            seen: list[str] = []
            with pytest.raises(LLMResponseError) as failed:
                async for item in provider.stream(shop_request("Hi")):
                    if isinstance(item, TextDelta):
                        seen.append(item.text)
    assert seen == ["token0", " token1"]
    assert "fake fault" in failed.value.message
