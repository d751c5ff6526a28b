"""A whole conversation through an OpenAI-compatible LLM (the fake server over loopback HTTP).

The LLM's structured answers are scripted; the server merges them, recomputes what is missing,
validates, holds back a FINAL the validator refuses, survives an answer that is not JSON, and
logs every request and response with its latency.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from samtale.llm.fake import FakeLLMServer
from samtale.llm.openai_provider import OpenAIProvider
from samtale.storage.db import Database
from samtale.template_builder import service
from samtale.template_builder.assistant import TURN_SCHEMA, LLMAssistant
from samtale.template_builder.llm_client import ProviderJSONCompleter
from samtale.template_builder.validator import validate_template

FIELDS = TURN_SCHEMA["schema"]["properties"]["extracted"]["required"]


def turn(action: str, reply: str, **extracted: Any) -> str:
    """One scripted structured answer (every extracted field present, unknown ones null)."""
    return json.dumps({"action": action, "reply": reply, "extracted": {f: extracted.get(f) for f in FIELDS}})


SCRIPT = [
    turn(
        "ASK",
        "Nice! What should the template be called, and do you want a header or footer?",
        category="UTILITY",
        language="en_US",
        business_type="webshop",
        body="Hi {{1}}, your parcel arrives on {{2}}. Thank you for shopping with us!",
        body_examples=["Anna", "Friday"],
    ),
    turn(
        "FINAL",
        "All done!",
        name="Parcel Update",
        wants_header=False,
        wants_footer=False,
        buttons=[{"type": "URL", "text": "Track parcel", "url": "https://shop.example/track", "phone_number": None}],
    ),
    "Sure! The template is called parcel_update.",
    turn("FINAL", "Your template parcel_update is ready.", name="parcel_update"),
]


@pytest.fixture
async def llm() -> AsyncIterator[tuple[FakeLLMServer, LLMAssistant]]:
    async with FakeLLMServer(replies=SCRIPT) as server, httpx.AsyncClient() as http:
        provider = OpenAIProvider(base_url=server.base_url, api_key="test-key", model="gpt-4o-mini", http_client=http)
        completer = ProviderJSONCompleter(provider=provider)
        yield server, LLMAssistant(completer=completer, model="gpt-4o-mini")


async def test_a_conversation_through_the_llm_ends_final_with_a_valid_payload(
    database: Database, llm: tuple[FakeLLMServer, LLMAssistant]
) -> None:
    server, assistant = llm
    session_id = await service.create_session(database)

    async def say(message: str) -> service.ChatResult:
        return await service.chat(database, session_id=session_id, message=message, assistant=assistant)

    first = await say("A shipping update for our webshop customers with their name and delivery day")
    assert first.action == "ASK"
    assert first.missing_fields == ["name", "header", "footer", "buttons"]
    assert first.draft["components"][0]["example"] == {"body_text": [["Anna", "Friday"]]}

    too_early = await say("Call it Parcel Update, no header or footer, and a Track parcel button")
    assert too_early.action == "DRAFT"  # the LLM said FINAL, the validator said no
    assert too_early.final_creation_payload is None
    assert "lowercase letters, digits and underscores" in too_early.reply
    assert too_early.validation["errors"][0]["rule"] == "name.format"

    garbled = await say("Please fix the name")
    assert garbled.action == "DRAFT"
    assert "please say it once more" in garbled.reply
    assert garbled.draft == too_early.draft

    final = await say("Please fix the name: parcel_update")
    assert final.action == "FINAL"
    assert final.final_creation_payload is not None
    assert final.final_creation_payload["name"] == "parcel_update"
    assert validate_template(final.final_creation_payload).valid

    # The third request showed the model the validation error it had to fix.
    third = server.chat_requests[2].json
    assert third["response_format"]["type"] == "json_schema"
    state = json.loads(third["messages"][1]["content"].split("Session state (JSON): ", 1)[1])
    assert state["validation_errors"][0]["rule"] == "name.format"
    assert state["current_draft"]["name"] == "Parcel Update"

    debug = await service.session_debug(database, session_id=session_id)
    assert debug["session_info"]["total_llm_calls"] == 4
    assert debug["session_info"]["total_messages"] == 8
    directions = [log["direction"] for log in debug["llm_logs"]]
    assert directions == ["request", "response", "request", "response", "request", "error", "request", "response"]
    answered = [log for log in debug["llm_logs"] if log["direction"] != "request"]
    assert all(log["latency_ms"] > 0 and log["model"] == "gpt-4o-mini" for log in answered)
    assert debug["llm_logs"][5]["payload"]["raw"] == "Sure! The template is called parcel_update."
    assert debug["memory"]["business_type"] == "webshop"
    assert debug["last_action"] == "FINAL"
    assert debug["current_draft"] == final.final_creation_payload
