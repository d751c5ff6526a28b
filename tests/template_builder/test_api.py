"""The template builder's HTTP API, as a frontend and an operator use it.

The app runs in process; Meta's endpoint is the simulator on a real loopback port.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from samtale.api.errors import install_error_handlers
from samtale.api.template_builder import router
from samtale.chatbots.apikeys import create_api_key
from samtale.chatbots.schema import ChatbotConfig
from samtale.chatbots.service import import_chatbot
from samtale.template_builder.simulator import create_simulator_app

EVERYTHING = (
    'Marketing template named summer_sale in English: "Hi {{1}}, our summer sale ends {{2}}. Shop now!" '
    'examples: Anna, Sunday; footer "Lucky Shrub"; button "Shop now" to https://shop.example; no header'
)


@pytest.fixture
async def api(services: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    app.state.services = services
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://samtale.test") as http:
        yield http


@pytest.fixture
def graph_simulator() -> Iterator[tuple[str, FastAPI]]:
    """Meta's template endpoint simulated by a real HTTP server on 127.0.0.1 (ephemeral port)."""
    app = create_simulator_app(access_token="wa-token")
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", app
    server.should_exit = True
    thread.join(timeout=5)


async def _new(api: httpx.AsyncClient) -> str:
    response = await api.get("/api/template-builder/session/new")
    assert response.status_code == 200
    return str(response.json()["session_id"])


async def test_a_marketer_chats_to_a_final_payload_and_reads_the_history(api: httpx.AsyncClient) -> None:
    session_id = await _new(api)

    response = await api.post("/api/template-builder/chat", json={"session_id": session_id, "message": EVERYTHING})
    history = await api.get(f"/api/template-builder/session/{session_id}")

    assert response.status_code == 200
    turn = response.json()
    assert set(turn) == {
        "session_id", "reply", "action", "draft", "missing_fields", "validation", "final_creation_payload",
    }  # fmt: skip
    assert turn["action"] == "FINAL"
    assert turn["final_creation_payload"]["name"] == "summer_sale"
    assert [m["role"] for m in history.json()["messages"]] == ["user", "assistant"]


async def test_the_reply_streams_as_sse_events(api: httpx.AsyncClient) -> None:
    session_id = (await api.post("/api/template-builder/sessions", json={})).json()["session_id"]

    response = await api.post(
        "/api/template-builder/chat",
        json={"session_id": session_id, "message": "A marketing message about our summer sale"},
        headers={"Accept": "text/event-stream"},
    )

    assert response.headers["content-type"].startswith("text/event-stream")
    events = [
        (block.split("\n")[1].removeprefix("event: "), json.loads(block.split("\n")[2].removeprefix("data: ")))
        for block in response.text.strip().split("\n\n")
        if block.startswith("id:")
    ]
    assert events[0] == ("start", {"session_id": session_id})
    assert events[-1][0] == "end" and events[-1][1]["action"] == "ASK"
    assert "".join(data["token"] for name, data in events if name == "token") == events[-1][1]["reply"]


async def test_bad_input_gets_404_413_and_422(api: httpx.AsyncClient) -> None:
    session_id = await _new(api)

    unknown = await api.post("/api/template-builder/chat", json={"session_id": "nope", "message": "hi"})
    too_long = await api.post("/api/template-builder/chat", json={"session_id": session_id, "message": "x" * 4001})
    missing = await api.get("/api/template-builder/session/nope")
    not_json = await api.post(
        "/api/template-builder/validate", content=b"{name: x", headers={"content-type": "application/json"}
    )
    not_object = await api.post("/api/template-builder/validate", json=[{"name": "x"}])

    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "template_session_not_found"
    assert missing.status_code == 404
    assert too_long.status_code == 413 and too_long.json()["error"]["code"] == "template_message_too_long"
    assert not_json.status_code == 422
    assert "not valid JSON" in not_json.json()["error"]["message"]
    assert "line 1, column 2" in not_json.json()["error"]["message"]
    assert not_object.status_code == 422 and "JSON object" in not_object.json()["error"]["message"]


async def test_validate_answers_with_paths_rules_and_messages(api: httpx.AsyncClient) -> None:
    payload = {
        "name": "promo",
        "language": "en-US",
        "category": "MARKETING",
        "components": [{"type": "BODY", "text": "Hi"}],
    }

    response = await api.post("/api/template-builder/validate", json=payload)

    assert response.status_code == 200
    assert response.json()["valid"] is False
    assert response.json()["errors"][0]["path"] == "language"
    assert response.json()["errors"][0]["rule"] == "language.unsupported"


async def test_debug_needs_an_admin_key(api: httpx.AsyncClient, services: Any) -> None:
    session_id = await _new(api)
    await api.post("/api/template-builder/chat", json={"session_id": session_id, "message": EVERYTHING})
    admin = await create_api_key(db=services.db, name="ops", is_admin=True)

    anonymous = await api.get(f"/api/template-builder/session/{session_id}/debug")
    debug = await api.get(
        f"/api/template-builder/session/{session_id}/debug", headers={"Authorization": f"Bearer {admin}"}
    )

    assert anonymous.status_code == 401
    assert debug.status_code == 200
    assert debug.json()["session_info"]["total_messages"] == 2
    assert debug.json()["last_action"] == "FINAL"
    assert debug.json()["current_draft"]["name"] == "summer_sale"


async def test_a_final_template_is_submitted_with_the_chatbots_whatsapp_account(
    api: httpx.AsyncClient, services: Any, graph_simulator: tuple[str, FastAPI]
) -> None:
    graph_url, graph = graph_simulator
    config = ChatbotConfig.model_validate(
        {
            "id": "vinhuset",
            "name": "Vinhuset",
            "language": "da",
            "flows": [{"type": "main"}],
            "integrations": [
                {
                    "name": "whatsapp",
                    "kind": "whatsapp",
                    "settings": {"waba_id": "102290129340398", "graph_base_url": graph_url},
                    "secrets": {"access_token": "wa-token"},
                }
            ],
        }
    )
    await import_chatbot(db=services.db, config=config, secret_key=services.settings.secret_key)
    admin = await create_api_key(db=services.db, name="ops", is_admin=True)
    session_id = (await api.post("/api/template-builder/sessions", json={"chatbot_id": "vinhuset"})).json()[
        "session_id"
    ]
    await api.post("/api/template-builder/chat", json={"session_id": session_id, "message": EVERYTHING})

    response = await api.post(
        f"/api/template-builder/session/{session_id}/submit", headers={"Authorization": f"Bearer {admin}"}
    )

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "PENDING"
    stored = graph.state.templates[response.json()["meta_template_id"]]
    assert stored["waba_id"] == "102290129340398"
    assert stored["payload"]["name"] == "summer_sale"
