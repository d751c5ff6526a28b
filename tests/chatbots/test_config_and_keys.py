"""An operator defines chatbots as YAML, exports them back, and uses API keys for admin endpoints."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from samtale.chatbots.apikeys import create_api_key
from samtale.chatbots.secrets import REDACTED
from samtale.chatbots.service import (
    ChatbotConfigError,
    dump_chatbot_yaml,
    import_chatbot,
    integration_secrets,
    load_chatbot,
    parse_chatbot_documents,
)
from samtale.services import Services
from samtale.storage.models import Integration
from tests.conftest import ROOT


async def test_the_example_config_round_trips_and_its_literal_secret_is_encrypted(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = await asyncio.to_thread((ROOT / "examples" / "wine-shop.yaml").read_text, encoding="utf-8")
    config = parse_chatbot_documents(text)[0]
    shop = config.integrations[0].model_copy(update={"secrets": {"access_token": "shpat_literal_secret"}})
    config = config.model_copy(update={"integrations": [shop]})
    await import_chatbot(db=services.db, config=config, secret_key=services.settings.secret_key)

    exported = await load_chatbot(db=services.db, chatbot_id="wine-shop")
    assert exported.integrations[0].secrets == {"access_token": REDACTED}
    assert exported.model_dump(exclude={"integrations"}) == config.model_dump(exclude={"integrations"})
    yaml_text = dump_chatbot_yaml(exported)
    assert "shpat_literal_secret" not in yaml_text
    async with services.db.session() as session:
        row = (await session.scalars(select(Integration))).one()
    assert row.secrets_encrypted is not None and b"shpat_literal_secret" not in row.secrets_encrypted

    # Importing the export (with <encrypted>) keeps the stored secret.
    await import_chatbot(
        db=services.db, config=parse_chatbot_documents(yaml_text)[0], secret_key=services.settings.secret_key
    )
    secrets = await integration_secrets(
        db=services.db, chatbot_id="wine-shop", name="shop", secret_key=services.settings.secret_key
    )
    assert secrets == {"access_token": "shpat_literal_secret"}
    assert dump_chatbot_yaml(await load_chatbot(db=services.db, chatbot_id="wine-shop")) == yaml_text


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ("id: a\nname: A\nflows: [{type: flow2}]\n", "needs a flow of type 'main'"),
        ("id: a\nname: A\nflows: [{type: main}, {type: flow2, route_key: x}, {type: flow3, route_key: x}]\n", "'x'"),
        ("id: a\nname: A\nflows: [{type: main, prompt: nope}]\n", "'nope'"),
        ("id: A B\nname: A\n", "chatbot id"),
        ("id: a\nname: A\nllm: {api_key: sk-literal}\n", "${ENV_VAR}"),
        ("id: a\nname: [unclosed\n", "not valid YAML"),
    ],
)
def test_a_bad_config_is_refused_with_a_message_naming_the_problem(document: str, fragment: str) -> None:
    with pytest.raises(ChatbotConfigError) as caught:
        parse_chatbot_documents(document)
    assert fragment in caught.value.message


async def test_admin_endpoints_need_an_admin_key_of_the_chatbot(client: httpx.AsyncClient, services: Services) -> None:
    text = await asyncio.to_thread((ROOT / "examples" / "wine-shop.yaml").read_text, encoding="utf-8")
    await import_chatbot(
        db=services.db, config=parse_chatbot_documents(text)[0], secret_key=services.settings.secret_key
    )
    admin = await create_api_key(db=services.db, name="ops", is_admin=True)
    other_shop = await create_api_key(db=services.db, name="other", is_admin=True, chatbot_id="other-shop")
    plain = await create_api_key(db=services.db, name="widget", is_admin=False)

    assert (await client.get("/api/admin/chatbots/wine-shop")).status_code == 401
    assert (
        await client.get("/api/admin/chatbots/wine-shop", headers={"Authorization": "Bearer nope"})
    ).status_code == 401
    assert (await client.get("/api/admin/chatbots/wine-shop", headers={"X-API-Key": plain})).status_code == 403
    assert (await client.get("/api/admin/chatbots/wine-shop", headers={"X-API-Key": other_shop})).status_code == 403
    response = await client.get("/api/admin/chatbots/wine-shop", headers={"Authorization": f"Bearer {admin}"})
    assert response.status_code == 200 and response.json()["id"] == "wine-shop"
    listed = await client.get("/api/admin/chatbots", headers={"X-API-Key": other_shop})
    assert listed.json() == {"chatbots": []}


def test_apikeys_create_prints_the_key_last_and_stores_only_its_hash(
    settings: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from samtale.cli import app
    from samtale.settings import Settings, get_settings

    assert isinstance(settings, Settings)
    monkeypatch.setenv("SAMTALE_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["apikeys", "create", "--name", "ci", "--admin"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("sk_samtale_") and len(key) > 40
