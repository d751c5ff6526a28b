"""Oversized and absurdly nested bodies are refused before anything parses them, with the usual
JSON error; an ordinary message and an upload route are not affected."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from samtale.api.body_limits import json_too_deep
from samtale.services import Services
from tests.conversation.helpers import add_chatbot


async def shop(services: Services) -> None:
    await add_chatbot(services, id="bounded", name="Bounded Shop")


async def test_a_body_over_one_megabyte_is_413_whether_declared_or_streamed(
    client: httpx.AsyncClient, services: Services
) -> None:
    # The template builder's chat takes text only: the general 1 MiB bound applies (process-message
    # may carry an image inline and has the image's bound, tests/images/test_upload_api.py).
    await shop(services)
    padding = "x" * (1_048_576 + 10)
    declared = await client.post(
        "/api/template-builder/chat",
        content=b'{"session_id":"s1","message":"' + padding.encode() + b'"}',
        headers={"content-type": "application/json"},
    )
    assert declared.status_code == 413
    assert (
        declared.json()["error"]["code"] == "payload_too_large" and "1,048,576" in declared.json()["error"]["message"]
    )

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked transfer
        yield b'{"chatbot_id":"bounded","user_id":"u","message_text":"'
        for _ in range(20):
            yield b"y" * 65_536
        yield b'"}'

    streamed = await client.post("/api/process-message", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413 and streamed.json()["error"]["code"] == "payload_too_large"

    ok = await client.post("/api/process-message", json={"chatbot_id": "bounded", "user_id": "u", "message_text": "hi"})
    assert ok.status_code == 200


async def test_json_nested_deeper_than_32_levels_is_422_and_32_levels_still_parse(
    client: httpx.AsyncClient, services: Services
) -> None:
    await shop(services)

    def nested(levels: int) -> bytes:
        inner = b'{"a":' * (levels - 1) + b"1" + b"}" * (levels - 1)
        return b'{"chatbot_id":"bounded","user_id":"u","message_text":"hi","configuration":' + inner + b"}"

    deep = await client.post("/api/process-message", content=nested(40), headers={"content-type": "application/json"})
    assert deep.status_code == 422 and "deeper than 32" in deep.json()["error"]["message"]
    bomb = await client.post(
        "/api/process-message",
        content=b"[" * 100_000 + b"]" * 100_000,
        headers={"content-type": "application/json"},
    )
    assert bomb.status_code == 422 and bomb.json()["error"]["code"] == "invalid_input"
    fine = await client.post("/api/process-message", content=nested(31), headers={"content-type": "application/json"})
    assert fine.status_code != 422 or "deeper" not in fine.text


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = b'{"message_text": "' + b"[[[[{{{{" * 50 + b'"}'
    assert not json_too_deep(text, max_depth=32)
    assert json_too_deep(b"[" * 33 + b"]" * 33, max_depth=32)
    assert not json_too_deep(b"[" * 32 + b"]" * 32, max_depth=32)
    assert not json_too_deep(b'["a\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["]', max_depth=32)
