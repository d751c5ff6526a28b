"""Retries happen with backoff before the first token only; the pipeline can count them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import pytest

from samtale.llm.base import LLMConnectionError, LLMError, LLMStatusError, RetryStats, TextDelta, stream_with_retries
from samtale.llm.fake import FakeFlowiseServer, FakeLLMServer, Fault
from samtale.llm.flowise_provider import FlowiseProvider
from samtale.llm.openai_provider import OpenAIProvider

from .conftest import shop_request


def _text(items: Sequence[object]) -> str:
    return "".join(item.text for item in items if isinstance(item, TextDelta))


@pytest.mark.parametrize("fault", ["status", "close"])
async def test_a_failure_before_the_first_token_is_retried_and_the_shopper_gets_the_answer(fault: Fault) -> None:
    async with FakeLLMServer(replies=["All good."], fail_first=1, fault=fault) as server, httpx.AsyncClient() as client:
        provider = OpenAIProvider(base_url=server.base_url, api_key="k", model="m", http_client=client)
        stats = RetryStats()
        retried: list[int] = []
        items = [
            item
            async for item in stream_with_retries(
                provider,
                shop_request("Hi"),
                attempts=3,
                base_delay_s=0.001,
                stats=stats,
                on_retry=lambda attempt, error: retried.append(attempt),
            )
        ]
    assert _text(items) == "All good."
    assert stats.attempts == 2 and stats.retries == 1 and retried == [1]
    assert isinstance(stats.errors[0], LLMError)
    assert server.answered == 2


async def test_a_rate_limited_flowise_is_asked_again_after_its_retry_after() -> None:
    options: dict[str, Any] = {"replies": ["Ja."], "fail_first": 2, "fault_status": 429, "retry_after_s": 0.01}
    async with FakeFlowiseServer(**options) as server, httpx.AsyncClient() as client:
        provider = FlowiseProvider(base_url=server.base_url, chatflow_id=server.chatflow_id, http_client=client)
        stats = RetryStats()
        items = [
            item
            async for item in stream_with_retries(
                provider, shop_request("Hej"), attempts=3, base_delay_s=0.001, stats=stats
            )
        ]
    assert _text(items) == "Ja."
    assert stats.attempts == 3
    assert server.answered == 3


async def test_a_failure_after_the_first_token_is_not_retried() -> None:
    async with FakeLLMServer(fail_first=5, fault="cut", cut_after_tokens=2) as server, httpx.AsyncClient() as client:
        provider = OpenAIProvider(base_url=server.base_url, api_key="k", model="m", http_client=client)
        stats = RetryStats()
        seen: list[str] = []
        with pytest.raises(LLMConnectionError):
            async for item in stream_with_retries(
                provider, shop_request("Hi"), attempts=3, base_delay_s=0.001, stats=stats
            ):
                if isinstance(item, TextDelta):
                    seen.append(item.text)
    assert seen == ["token0", " token1"]
    assert stats.attempts == 1 and len(stats.errors) == 1
    assert server.answered == 1


async def test_a_bad_request_is_not_retried() -> None:
    async with FakeLLMServer(fail_first=1, fault_status=400) as server, httpx.AsyncClient() as client:
        provider = OpenAIProvider(base_url=server.base_url, api_key="k", model="m", http_client=client)
        stats = RetryStats()
        with pytest.raises(LLMStatusError) as failed:
            [
                item
                async for item in stream_with_retries(
                    provider, shop_request("Hi"), attempts=3, base_delay_s=0.001, stats=stats
                )
            ]
    assert failed.value.status_code == 400
    assert stats.attempts == 1
    assert server.answered == 1


async def test_when_every_attempt_fails_the_last_error_is_raised_after_all_attempts() -> None:
    async with FakeLLMServer(fail_first=10, fault_status=502) as server, httpx.AsyncClient() as client:
        provider = OpenAIProvider(base_url=server.base_url, api_key="k", model="m", http_client=client)
        stats = RetryStats()
        with pytest.raises(LLMStatusError) as failed:
            [
                item
                async for item in stream_with_retries(
                    provider, shop_request("Hi"), attempts=3, base_delay_s=0.001, stats=stats
                )
            ]
    assert failed.value.status_code == 502
    assert stats.attempts == 3 and len(stats.errors) == 3
    assert server.answered == 3
