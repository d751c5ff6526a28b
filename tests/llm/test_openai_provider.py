"""An OpenAI-compatible model answers over real loopback HTTP (the fake server), streamed and whole."""

from __future__ import annotations

import json
from dataclasses import replace

import httpx
import pytest

from samtale.llm.base import LLMConnectionError, LLMResponseError, LLMStatusError, TextDelta, Usage
from samtale.llm.fake import FakeLLMServer
from samtale.llm.fake_http import Connection, FakeHTTPServer, ReceivedRequest
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


class WireServer(FakeHTTPServer):
    """An OpenAI-compatible server that streams exactly the bytes a test gives it (real loopback HTTP)."""

    def __init__(self, wire: list[bytes]) -> None:
        super().__init__()
        self.wire = wire

    async def handle(self, request: ReceivedRequest, connection: Connection) -> None:
        connection.start_stream(self.wire)
        connection.end_stream()


def _data(payload: object) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def _delta(text: str) -> dict[str, object]:
    return {"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": text}}]}


async def test_a_server_without_usage_that_splits_events_over_lines_is_read_as_the_sse_standard_says() -> None:
    # A llama.cpp-style server: comments, named events, one event's JSON spread over two data:
    # lines, no usage chunk although asked for it, and bytes after [DONE].
    split = json.dumps(_delta(" wine")).replace(', "choices"', ',\n"choices"').split("\n")
    wire = [
        b": keep-alive\n\n",
        _data(_delta("Red")),
        b"event: message\n" + b"".join(b"data: " + part.encode() + b"\n" for part in split) + b"\n",
        _data({"id": "c1", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": None}),
        b"data: [DONE]\n\n",
        b": bye\n\n",
    ]
    async with WireServer(wire) as server, httpx.AsyncClient() as client:
        provider = OpenAIProvider(base_url=f"{server.origin}/v1", api_key="k", model="m", http_client=client)
        items = [item async for item in provider.stream(shop_request("Which wine?"))]

    assert [item.text for item in items if isinstance(item, TextDelta)] == ["Red", " wine"]
    assert items[-1] == Usage(prompt_tokens=7 + 1 + 5 + 2, completion_tokens=2, estimated=True)
    assert server.requests[0].path == "/v1/chat/completions"


async def test_a_stream_line_that_is_not_json_is_a_response_error() -> None:
    wire = [_data(_delta("Red")), b"data: {not json\n\n", b"data: [DONE]\n\n"]
    async with WireServer(wire) as server, httpx.AsyncClient() as client:
        provider = OpenAIProvider(base_url=f"{server.origin}/v1", api_key="k", model="m", http_client=client)
        seen: list[str] = []
        with pytest.raises(LLMResponseError) as failed:
            async for item in provider.stream(shop_request("Hi")):
                if isinstance(item, TextDelta):
                    seen.append(item.text)
    assert seen == ["Red"]
    assert "unreadable" in failed.value.message


async def test_a_provider_without_a_shared_pool_makes_and_closes_its_own() -> None:
    async with FakeLLMServer(replies=["Ja tak."]) as server:
        provider = OpenAIProvider(base_url=server.base_url, api_key="k", model="m")
        completion = await provider.complete(shop_request("Hej"))
        await provider.aclose()
    assert completion.text == "Ja tak." and completion.model == "m"
