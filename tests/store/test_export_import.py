"""A shop moves its conversations to a new deployment: ``samtale conversations export`` then ``import``.

Conversations are made through the public API (offline LLM) on the old store, exported with the
CLI to a JSON Lines file, imported with the CLI into a second, fresh store of the same kind, and
continued there with the session token the widget already holds. A second import of the same
file adds nothing. Runs on SQLite, and on PostgreSQL when ``SAMTALE_TEST_POSTGRES_URL`` is set.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from samtale.app import create_app
from samtale.conversation.cli import conversations_app
from samtale.conversation.search.messages import search_messages
from samtale.services import Services
from samtale.settings import get_settings
from samtale.storage.models import ConversationSession, Message
from tests.conftest import SettingsFactory
from tests.conversation.helpers import add_chatbot, read_sse

SHOP = {"id": "vinbar", "name": "Vinbar", "flows": [{"type": "main"}]}
QUESTIONS = ("Do you ship to Bornholm?", "How long does delivery take?", "Can I return an opened bottle?")


async def say(client: httpx.AsyncClient, text: str, *, user: str, **fields: str) -> httpx.Response:
    body = {"user_id": user, "chatbot_id": "vinbar", "message_text": text, **fields}
    headers = {"X-Session-Token": fields.pop("session_token")} if "session_token" in fields else {}
    response = await client.post("/api/process-message", json=body, headers=headers)
    assert response.status_code == 200, response.text
    await read_sse(client, response.json()["sse_url"])
    return response


async def cli(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path, *args: str) -> Result:
    """Run ``samtale conversations …`` against ``database_url`` as an operator would (in a thread)."""
    monkeypatch.setenv("SAMTALE_DATABASE_URL", database_url)
    monkeypatch.setenv("SAMTALE_DATA_DIR", str(tmp_path / "cli-data"))
    get_settings.cache_clear()
    try:
        return await asyncio.to_thread(CliRunner().invoke, conversations_app, list(args))
    finally:
        get_settings.cache_clear()


def client_of(services: Services) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(services=services)), base_url="http://t")


async def count(services: Services, model: type[ConversationSession] | type[Message]) -> int:
    async with services.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def export_file(tmp_path: Path) -> Path:
    return tmp_path / "vinbar.jsonl"


async def test_conversations_move_to_a_new_store_and_continue_there(
    make_settings: SettingsFactory,
    second_database_url: str,
    database_url: str,
    tmp_path: Path,
    export_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The old deployment: two shoppers, one with a two-turn conversation, one with a single turn.
    old = await asyncio.to_thread(Services.create, make_settings())
    await old.start(warm_up=False)
    try:
        await add_chatbot(old, **SHOP)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(services=old)), base_url="http://t"
        ) as c:
            first = (await say(c, QUESTIONS[0], user="anna")).json()
            await say(
                c, QUESTIONS[1], user="anna", session_id=first["session_id"], session_token=first["session_token"]
            )
            await say(c, QUESTIONS[2], user="bo")
        await old.conversation.drain()
    finally:
        await old.aclose()

    exported = await cli(
        monkeypatch, database_url, tmp_path, "export", "--chatbot", "vinbar", "--output", str(export_file)
    )
    assert exported.exit_code == 0, exported.output
    assert "exported 2 conversations, 6 messages" in exported.output
    text = await asyncio.to_thread(export_file.read_text, encoding="utf-8")
    lines = [json.loads(line) for line in text.splitlines()]
    anna = next(line for line in lines if line["user_id"] == "anna")
    assert [m["sequence"] for m in anna["messages"]] == [1, 2, 3, 4]
    assert [m["content"] for m in anna["messages"] if m["role"] == "user"] == list(QUESTIONS[:2])

    # The new deployment knows the chatbot but has no conversations yet.
    new = await asyncio.to_thread(Services.create, make_settings(database_url=second_database_url))
    await new.start(warm_up=False)
    try:
        await add_chatbot(new, **SHOP)
        imported = await cli(monkeypatch, second_database_url, tmp_path, "import", str(export_file))
        assert imported.exit_code == 0, imported.output
        assert "imported 2 conversations (0 already stored), 6 messages (0 already stored)" in imported.output

        again = await cli(monkeypatch, second_database_url, tmp_path, "import", str(export_file))
        assert again.exit_code == 0, again.output
        assert "imported 0 conversations (2 already stored), 0 messages (6 already stored)" in again.output
        assert await count(new, ConversationSession) == 2
        assert await count(new, Message) == 6
        # The imported messages are searchable on the new store (stemmed: "returns" finds "return").
        hits = await search_messages(db=new.db, chatbot_id="vinbar", language="en", query="returns")
        assert {hit.conversation_id for hit in hits} == {next(line["id"] for line in lines if line["user_id"] == "bo")}

        # Anna's widget still holds its token: the conversation continues on the new store.
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(services=new)), base_url="http://t"
        ) as c:
            await say(
                c,
                "And to Christiansø?",
                user="anna",
                session_id=first["session_id"],
                session_token=first["session_token"],
            )
            refused = await c.post(
                "/api/process-message",
                json={
                    "user_id": "anna",
                    "chatbot_id": "vinbar",
                    "message_text": "hi",
                    "session_id": first["session_id"],
                },
            )
        assert refused.status_code == 401
        await new.conversation.drain()
        async with new.db.session() as session:
            stored = await session.get(ConversationSession, first["session_id"])
            assert stored is not None and stored.message_count == 6
            sequences = (
                await session.scalars(
                    select(Message.sequence).where(Message.session_id == first["session_id"]).order_by(Message.sequence)
                )
            ).all()
        assert list(sequences) == [1, 2, 3, 4, 5, 6]
    finally:
        await new.aclose()


async def test_an_import_naming_an_unknown_chatbot_or_a_broken_line_writes_nothing(
    services: Services, database_url: str, tmp_path: Path, export_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = {
        "id": "c1", "chatbot_id": "nowhere", "user_id": "u1", "created_at": "2026-11-01T10:00:00Z",
        "updated_at": "2026-11-01T10:00:00Z",
        "messages": [
            {"id": "m1", "sequence": 1, "role": "user", "content": "hej", "created_at": "2026-11-01T10:00:00Z"},
        ],
    }  # fmt: skip
    await asyncio.to_thread(export_file.write_text, json.dumps(record) + "\n", encoding="utf-8")
    result = await cli(monkeypatch, database_url, tmp_path, "import", str(export_file))
    assert result.exit_code == 1
    assert "chatbots this database does not have: nowhere" in result.output

    await add_chatbot(services, **SHOP)
    broken = json.dumps({**record, "chatbot_id": "vinbar"}) + "\n{not json\n"
    await asyncio.to_thread(export_file.write_text, broken, encoding="utf-8")
    result = await cli(monkeypatch, database_url, tmp_path, "import", str(export_file))
    assert result.exit_code == 1
    assert "line 2 is not JSON" in result.output
    assert await count(services, ConversationSession) == 0

    unknown = await cli(monkeypatch, database_url, tmp_path, "export", "--chatbot", "nowhere")
    assert unknown.exit_code == 1
    assert "unknown chatbot 'nowhere'" in unknown.output
