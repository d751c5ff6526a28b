"""An operator lists, revokes and rotates API keys, from the command line and over the admin API;
a shop's own admin key manages only that shop's keys."""

from __future__ import annotations

import json

import httpx
import pytest
from typer.testing import CliRunner

from samtale.chatbots.apikeys import create_api_key
from samtale.services import Services
from samtale.settings import Settings, get_settings


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_a_rotated_key_stops_working_and_its_successor_keeps_the_grant(
    client: httpx.AsyncClient, services: Services
) -> None:
    ops = await create_api_key(db=services.db, name="ops", is_admin=True)
    shop = await create_api_key(db=services.db, name="shop staff", is_admin=True, chatbot_id="wine-shop")

    listed = (await client.get("/api/admin/apikeys", headers=bearer(ops))).json()["api_keys"]
    assert [(k["name"], k["chatbot_id"]) for k in listed] == [("ops", None), ("shop staff", "wine-shop")]
    assert all(k["prefix"].startswith("sk_samtale_") and len(k["prefix"]) == 15 for k in listed)
    assert ops not in json.dumps(listed) and shop not in json.dumps(listed)
    assert listed[0]["last_used_at"] is not None  # the listing itself used the ops key
    staff_id = listed[1]["id"]

    rotated = await client.post(f"/api/admin/apikeys/{staff_id}/rotate", headers=bearer(shop))
    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    new_key = body["key"]
    assert new_key.startswith("sk_samtale_") and new_key != shop
    assert body["revoked"]["id"] == staff_id and body["revoked"]["revoked_at"] is not None
    assert body["api_key"]["chatbot_id"] == "wine-shop" and body["api_key"]["is_admin"] is True

    old_try = await client.get("/api/admin/apikeys", headers=bearer(shop))
    assert old_try.status_code == 401 and old_try.json()["error"]["code"] == "unauthorized"
    mine = (await client.get("/api/admin/apikeys", headers=bearer(new_key))).json()["api_keys"]
    assert {k["chatbot_id"] for k in mine} == {"wine-shop"}  # a shop's key sees only its own keys

    # Rotating a revoked key is refused; revoking twice keeps the first revocation time.
    again = await client.post(f"/api/admin/apikeys/{staff_id}/rotate", headers=bearer(ops))
    assert again.status_code == 404 and "revoked" in again.json()["error"]["message"]
    first = (await client.post(f"/api/admin/apikeys/{staff_id}/revoke", headers=bearer(ops))).json()
    assert first["api_key"]["revoked_at"] == body["revoked"]["revoked_at"]


async def test_a_shops_admin_key_cannot_reach_or_create_another_shops_keys(
    client: httpx.AsyncClient, services: Services
) -> None:
    await create_api_key(db=services.db, name="ops", is_admin=True)
    other = await create_api_key(db=services.db, name="other shop", is_admin=True, chatbot_id="other-shop")
    shop = await create_api_key(db=services.db, name="shop", is_admin=True, chatbot_id="wine-shop")
    plain = await create_api_key(db=services.db, name="widget", is_admin=False)
    other_id = (await client.get("/api/admin/apikeys", headers=bearer(other))).json()["api_keys"][0]["id"]

    for action in ("revoke", "rotate"):
        response = await client.post(f"/api/admin/apikeys/{other_id}/{action}", headers=bearer(shop))
        assert response.status_code == 404, action  # not found in its scope: ids of others are not confirmed
    wide = await client.post("/api/admin/apikeys", headers=bearer(shop), json={"name": "x", "is_admin": True})
    assert wide.status_code == 403 and "wine-shop" in wide.json()["error"]["message"]
    made = await client.post(
        "/api/admin/apikeys", headers=bearer(shop), json={"name": "till", "chatbot_id": "wine-shop"}
    )
    assert made.status_code == 201 and made.json()["api_key"]["is_admin"] is False
    assert (await client.get("/api/admin/apikeys", headers=bearer(plain))).status_code == 403
    assert (await client.get("/api/admin/apikeys", headers=bearer(other))).json()["api_keys"][0]["revoked_at"] is None


def test_apikeys_list_revoke_and_rotate_on_the_command_line(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from samtale.cli import app

    monkeypatch.setenv("SAMTALE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        created = runner.invoke(app, ["apikeys", "create", "--name", "deploy", "--admin"])
        key = created.stdout.strip().splitlines()[-1]
        listed = json.loads(runner.invoke(app, ["apikeys", "list", "--json"]).stdout)
        assert [(k["name"], k["is_admin"], k["revoked_at"]) for k in listed] == [("deploy", True, None)]
        table = runner.invoke(app, ["apikeys", "list"])
        assert table.exit_code == 0 and "deploy" in table.stdout and key not in table.stdout

        rotated = runner.invoke(app, ["apikeys", "rotate", key])  # named by the key itself
        assert rotated.exit_code == 0, rotated.output
        new_key = rotated.stdout.strip().splitlines()[-1]
        assert new_key.startswith("sk_samtale_") and new_key != key
        revoked = runner.invoke(
            app, ["apikeys", "revoke", json.loads(runner.invoke(app, ["apikeys", "list", "--json"]).stdout)[1]["id"]]
        )
        assert revoked.exit_code == 0 and "revoked key 'deploy'" in revoked.output
        states = json.loads(runner.invoke(app, ["apikeys", "list", "--json"]).stdout)
        assert [k["revoked_at"] is not None for k in states] == [True, True]

        missing = runner.invoke(app, ["apikeys", "revoke", "no-such-id"])
        assert missing.exit_code == 1 and "no such API key" in missing.output
    finally:
        get_settings.cache_clear()
