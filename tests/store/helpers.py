"""Helpers of the conversation-store stories: a shop chatbot on the fake LLM, a shopper's turn, their identity."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel

from samtale.conversation.access import user_hash_for
from tests.conversation.helpers import read_sse

SECRET = "shop-backend-signing-key-0123456789"
"""The identity secret of the test shops (what the shop's backend signs user ids with)."""


def shop(chatbot_id: str, base_url: str, **extra: Any) -> dict[str, Any]:
    """A chatbot document answering from the fake OpenAI-compatible server at ``base_url``."""
    return {
        "id": chatbot_id,
        "name": chatbot_id.title(),
        "llm": {"provider": "openai", "model": "fake-model", "base_url": base_url},
        "flows": [{"type": "main"}],
        **extra,
    }


def identity(user: str, chatbot: str = "vinbar") -> tuple[dict[str, str], dict[str, str]]:
    """The query parameters and ``X-User-Hash`` header of a verified shopper (as the shop's backend signs them)."""
    return {"chatbot_id": chatbot, "user_id": user}, {
        "X-User-Hash": user_hash_for(identity_secret=SECRET, user_id=user)
    }


async def say(
    client: httpx.AsyncClient, text: str, *, chatbot: str = "vinbar", user: str = "anna", **fields: Any
) -> httpx.Response:
    """A shopper's message through ``POST /api/process-message``, its answer read to the end."""
    headers = fields.pop("headers", {})
    body = {"user_id": user, "chatbot_id": chatbot, "message_text": text, **fields}
    response = await client.post("/api/process-message", json=body, headers=headers)
    if response.status_code == 200:
        await read_sse(client, response.json()["sse_url"])
    return response


async def conversation(client: httpx.AsyncClient, *texts: str, **fields: Any) -> dict[str, str]:
    """A conversation of these questions (one turn each); returns ``{session_id, session_token}``."""
    first = (await say(client, texts[0], **fields)).json()
    started = {"session_id": first["session_id"], "session_token": first["session_token"]}
    for text in texts[1:]:
        response = await say(
            client, text, session_id=started["session_id"], session_token=first["session_token"], **fields
        )
        assert response.status_code == 200, response.text
    return started


def token(started: dict[str, str]) -> dict[str, str]:
    """The ``X-Session-Token`` header that opens a conversation."""
    return {"X-Session-Token": started["session_token"]}


def error_code(response: httpx.Response) -> str:
    """The ``error.code`` of an error answer."""
    return str(response.json()["error"]["code"])


def conforms(model: type[BaseModel], body: Any) -> None:
    """``body`` is exactly what the route's response model describes: it validates, and nothing is
    dropped or changed by validating it (no undeclared field, no coerced value)."""
    assert model.model_validate(body).model_dump(mode="json") == body
