"""Helpers for conversation tests: parse SSE, load chatbots."""

from __future__ import annotations

import json
from typing import Any

import httpx

from samtale.chatbots.schema import ChatbotConfig
from samtale.chatbots.service import import_chatbot
from samtale.services import Services


def parse_sse(text: str) -> list[dict[str, Any]]:
    """SSE text → ``[{"id", "event", "data"}]`` (comments and ``retry:`` lines skipped)."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    for line in text.split("\n"):
        if line == "":
            if "event" in current or "data" in current:
                events.append(
                    {
                        "id": int(current["id"]) if "id" in current else None,
                        "event": current.get("event", "message"),
                        "data": json.loads(current["data"]) if "data" in current else None,
                    }
                )
            current = {}
            continue
        if line.startswith(":"):
            continue
        key, _, value = line.partition(":")
        current[key] = value[1:] if value.startswith(" ") else value
    return events


async def read_sse(client: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """GET an SSE URL to its end and parse it."""
    response = await client.get(url, headers=headers or {})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return parse_sse(response.text)


def answer_text(events: list[dict[str, Any]]) -> str:
    """The streamed answer: every token joined."""
    return "".join(event["data"]["token"] for event in events if event["event"] == "token")


async def add_chatbot(services: Services, **document: Any) -> ChatbotConfig:
    """Import a chatbot document into the test database."""
    config = ChatbotConfig.model_validate(document)
    await import_chatbot(db=services.db, config=config, secret_key=services.settings.secret_key)
    await services.invalidate_chatbot(config.id)
    return config
