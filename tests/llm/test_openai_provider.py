"""An OpenAI-compatible model answers over real loopback HTTP (the fake server), streamed and whole."""

from __future__ import annotations

import json
from dataclasses import replace

import httpx
import pytest

from samtale.llm.base import LLMConnectionError, LLMResponseError, LLMStatusError, TextDelta, Usage
from samtale.llm.fake import FakeLLMServer
from samtale.llm.openai_provider import OpenAIProvider

from .conftest import shop_request


async def test_a_streamed_answer_arrives_token_by_token_in_order_with_usage() -> None:
    reply = "Our Douro red is ripe and fruity, and it costs 15."
    async with FakeLLMServer(replies=[reply]) as server, httpx.AsyncClient() as client:
        provider = OpenAIProvider(base_url=server.base_url, api_key="sk-test", model="gpt-test", http_client=client)
        items = [item async for item in provider.stream(shop_request("Tell me about the Douro red"))]

    deltas = [item.text for item in items if isinstance(item, TextDelta)]
    assert len(deltas) == len(reply.split())
    assert "".join(deltas) == reply
    assert isinstance(items[-1], Usage)
    assert items[-1].completion_tokens == len(deltas)
    assert items[-1].prompt_tokens == 7 + 1 + 5 + 6  # words of the four messages, as the fake counts them
    assert not items[-1].estimated
    sent = server.chat_requests[0].json
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["model"] == "gpt-test"
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "user"]
    assert server.chat_requests[0].headers["authorization"] == "Bearer sk-test"


async def test_every_stream_is_read_to_its_end_so_one_connection_serves_many_turns() -> None:
    async with FakeLLMServer(tokens=20) as server, httpx.AsyncClient() as client:
        provider = OpenAIProvider(base_url=server.base_url, api_key="k", model="m", http_client=client)
        for _ in range(5):
            items = [item async for item in provider.stream(shop_request("Hi"))]
            assert len(items) == 21
    assert len(server.chat_requests) == 5
    assert server.connections == 1


async def test_a_whole_answer_honours_a_json_schema_response_format() -> None:
    scripted = json.dumps({"name": "order_update", "language": "en"})
    schema = {"type": "json_schema", "json_schema": {"name": "template", "schema": {"type": "object"}}}
    async with FakeLLMServer(replies=[scripted]) as server, httpx.AsyncClient() as client:
        provider = OpenAIProvider(base_url=server.base_url, api_key="k", model="m", http_client=client)
        request = replace(shop_request("Write a shipping update template"), response_format=schema, temperature=0.0)
        completion = await provider.complete(request)

    assert json.loads(completion.text) == {"name": "order_update", "language": "en"}
    assert completion.usage.completion_tokens == len(scripted.split())
    sent = server.chat_requests[0].json
    assert sent["response_format"] == schema
    assert sent["temperature"] == 0.0
    assert "stream" not in sent or sent["stream"] is False


async def test_a_server_error_becomes_a_retryable_status_error_and_a_bad_request_does_not() -> None:
    async with FakeLLMServer(fail_first=1, fault_status=503) as server, httpx.AsyncClient() as client:
        provider = OpenAIProvider(base_url=server.base_url, api_key="k", model="m", http_client=client)
        with pytest.raises(LLMStatusError) as failed:
            [item async for item in provider.stream(shop_request("Hi"))]
    assert failed.value.status_code == 503 and failed.value.retryable
    assert failed.value.category == "llm"

    async with FakeLLMServer(fail_first=1, fault_status=401) as server, httpx.AsyncClient() as client:
        provider = OpenAIProvider(base_url=server.base_url, api_key="wrong", model="m", http_client=client)
        with pytest.raises(LLMStatusError) as failed:
            await provider.complete(shop_request("Hi"))
    assert failed.value.status_code == 401 and not failed.value.retryable


async def test_a_rate_limit_carries_the_servers_retry_after() -> None:
    async with FakeLLMServer(fail_first=1, fault_status=429, retry_after_s=2) as server, httpx.AsyncClient() as client:
        provider = OpenAIProvider(base_url=server.base_url, api_key="k", model="m", http_client=client)
        with pytest.raises(LLMStatusError) as failed:
            [item async for item in provider.stream(shop_request("Hi"))]
    assert failed.value.status_code == 429 and failed.value.retry_after_s == 2.0 and failed.value.retryable


async def test_a_model_that_never_answers_times_out_as_a_connection_error() -> None:
    async with FakeLLMServer(fail_first=1, fault="hang") as server, httpx.AsyncClient() as client:
        provider = OpenAIProvider(base_url=server.base_url, api_key="k", model="m", http_client=client, timeout_s=0.3)
        with pytest.raises(LLMConnectionError) as failed:
            [item async for item in provider.stream(shop_request("Hi"))]
    assert failed.value.retryable
    assert "timed out" in failed.value.message


async def test_an_unreachable_server_is_a_connection_error() -> None:
    async with FakeLLMServer() as server:
        base_url = server.base_url
    async with httpx.AsyncClient() as client:
        provider = OpenAIProvider(base_url=base_url, api_key="k", model="m", http_client=client, timeout_s=2)
        with pytest.raises(LLMConnectionError):
            await provider.complete(shop_request("Hi"))


async def test_a_stream_cut_or_failing_midway_is_reported_after_the_tokens_already_seen() -> None:
    async with FakeLLMServer(fail_first=2, fault="cut", cut_after_tokens=3) as server, httpx.AsyncClient() as client:
        provider = OpenAIProvider(base_url=server.base_url, api_key="k", model="m", http_client=client)
        seen: list[str] = []
        with pytest.raises(LLMConnectionError):
            async for item in provider.stream(shop_request("Hi")):
                if isinstance(item, TextDelta):
                    seen.append(item.text)
        assert seen == ["token0", " token1", " token2"]
        server.fault = "error_event"
        with pytest.raises(LLMResponseError):
            [item async for item in provider.stream(shop_request("Hi"))]
