"""A shopper uploads a photo over HTTP (the seed's JSON, or a form), gets its file id, and reads
it back with the conversation's token; every bad file is refused with its status and the usual
JSON error, an oversized one before its body is read."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from PIL import Image

from samtale.api.body_limits import process_message_bound
from samtale.chatbots.apikeys import create_api_key
from samtale.services import Services
from tests.conversation.helpers import add_chatbot, read_sse
from tests.images.photos import GPS_IFD, bomb_png, jpeg_with_gps, noise_jpeg, photo


@pytest.fixture(scope="module")
def pictures() -> dict[str, bytes]:
    whole = jpeg_with_gps(photo("coffee.png"))
    return {
        "gps": whole,
        "chelsea": photo("chelsea.png").read_bytes(),
        "bomb": bomb_png(),
        "truncated": whole[: len(whole) // 2],
        "svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        "big": noise_jpeg(11 * 1000 * 1000),
    }


def seed_body(chatbot_id: str, data: bytes, **extra: Any) -> dict[str, Any]:
    encoded = base64.b64encode(data).decode()
    image = {"name": "photo.jpg", "data": f"data:image/jpeg;base64,{encoded}", "mime": "image/jpeg"}
    return {"chatbot_id": chatbot_id, "image_data": image, "message_text": "What is this?", **extra}


async def start_conversation(client: httpx.AsyncClient, services: Services, chatbot_id: str) -> dict[str, Any]:
    body = {"chatbot_id": chatbot_id, "user_id": "shopper-1", "message_text": "Hello"}
    started = (await client.post("/api/process-message", json=body)).json()
    await read_sse(client, started["sse_url"])
    await services.conversation.drain()
    return dict(started)


async def test_a_photo_uploaded_into_a_conversation_comes_back_normalised_to_its_token_only(
    client: httpx.AsyncClient, services: Services, pictures: dict[str, bytes]
) -> None:
    await add_chatbot(services, id="camshop", name="Cam Shop", image_enabled=True)
    config = (await client.get("/api/conversation-config/camshop")).json()["configuration"]
    assert config["image_enabled"] is True
    chat = await start_conversation(client, services, "camshop")
    token = {"X-Session-Token": chat["session_token"]}
    uploaded = await client.post(
        "/api/upload-image", json=seed_body("camshop", pictures["gps"], session_id=chat["session_id"]), headers=token
    )
    assert uploaded.status_code == 200, uploaded.text
    answer = uploaded.json()
    assert answer["success"] is True and answer["session_id"] == chat["session_id"]
    assert (answer["mime"], answer["width"], answer["height"]) == ("image/jpeg", 400, 600)  # turned upright
    assert answer["source"]["format"] == "jpeg" and answer["source"]["orientation"] == 6
    assert answer["source"]["bytes"] == len(pictures["gps"])

    read = await client.get(answer["url"], headers=token)
    assert read.status_code == 200 and read.headers["content-type"] == "image/jpeg"
    assert len(read.content) == answer["bytes"]
    assert not Image.open(io.BytesIO(read.content)).getexif().get_ifd(GPS_IFD)

    assert (await client.get(answer["url"])).status_code == 401
    other = await start_conversation(client, services, "camshop")
    wrong = await client.get(answer["url"], headers={"X-Session-Token": other["session_token"]})
    assert wrong.status_code == 404 and wrong.json()["error"]["code"] == "file_not_found"
    admin = await create_api_key(db=services.db, name="ops", is_admin=True, chatbot_id="camshop")
    assert (await client.get(answer["url"], headers={"Authorization": f"Bearer {admin}"})).status_code == 200
    other_key = await create_api_key(db=services.db, name="other", is_admin=True, chatbot_id="othershop")
    refused = await client.get(answer["url"], headers={"Authorization": f"Bearer {other_key}"})
    assert refused.status_code == 403
    elsewhere = await client.get(f"/api/files/{answer['file_id']}?chatbot_id=othershop", headers=token)
    assert elsewhere.status_code == 404

    stranger = await client.post(
        "/api/upload-image", json=seed_body("camshop", pictures["gps"], session_id=chat["session_id"])
    )
    assert stranger.status_code == 401


async def test_a_form_upload_is_stored_and_the_same_photo_again_is_the_same_file(
    client: httpx.AsyncClient, services: Services, pictures: dict[str, bytes]
) -> None:
    await add_chatbot(services, id="formshop", name="Form Shop", image_enabled=True)
    files = {"file": ("cat.png", pictures["chelsea"], "image/png")}
    first = await client.post("/api/upload-image", data={"chatbot_id": "formshop"}, files=files)
    assert first.status_code == 200, first.text
    again = await client.post("/api/upload-image", data={"chatbot_id": "formshop"}, files=files)
    assert again.json()["file_id"] == first.json()["file_id"] and again.json()["reused"] is True
    assert first.json()["mime"] == "image/jpeg" and first.json()["session_id"] is None


async def test_every_bad_file_is_refused_with_its_status(
    client: httpx.AsyncClient, services: Services, pictures: dict[str, bytes]
) -> None:
    await add_chatbot(services, id="strict", name="Strict", image_enabled=True)
    await add_chatbot(services, id="plain", name="Plain")
    cases = [
        ("svg", 415, "unsupported_image_type"),
        ("bomb", 422, "invalid_image"),
        ("truncated", 422, "invalid_image"),
    ]
    for name, status, code in cases:
        refused = await client.post("/api/upload-image", json=seed_body("strict", pictures[name]))
        assert refused.status_code == status, (name, refused.text)
        assert refused.json()["error"]["code"] == code
        form = await client.post(
            "/api/upload-image", data={"chatbot_id": "strict"}, files={"file": ("x.jpg", pictures[name], "image/jpeg")}
        )
        assert form.status_code == status, (name, form.text)
    disabled = await client.post("/api/upload-image", json=seed_body("plain", pictures["gps"]))
    assert disabled.status_code == 403 and disabled.json()["error"]["code"] == "images_disabled"
    assert "image_enabled" in disabled.json()["error"]["message"]
    wrong_type = await client.post("/api/upload-image", content=b"hello", headers={"content-type": "text/plain"})
    assert wrong_type.status_code == 415


async def test_an_11_mb_photo_is_refused_with_413_before_its_body_is_read(
    client: httpx.AsyncClient, services: Services, pictures: dict[str, bytes]
) -> None:
    await add_chatbot(services, id="bigshop", name="Big Shop", image_enabled=True)
    big = pictures["big"]
    assert len(big) > 11_000_000
    as_json = await client.post("/api/upload-image", json=seed_body("bigshop", big))
    assert as_json.status_code == 413 and as_json.json()["error"]["code"] == "image_too_large"
    as_form = await client.post(
        "/api/upload-image", data={"chatbot_id": "bigshop"}, files={"file": ("big.jpg", big, "image/jpeg")}
    )
    assert as_form.status_code == 413

    sent: list[int] = []

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted while it streams
        boundary_head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n\r\n'
        yield b'--b\r\nContent-Disposition: form-data; name="chatbot_id"\r\n\r\nbigshop\r\n' + boundary_head
        for start in range(0, len(big), 1 << 20):
            sent.append(start)
            yield big[start : start + (1 << 20)]
        yield b"\r\n--b--\r\n"

    streamed = await client.post(
        "/api/upload-image", content=chunked(), headers={"content-type": "multipart/form-data; boundary=b"}
    )
    assert streamed.status_code == 413
    assert len(sent) < len(big) // (1 << 20), "the body was read to its end"


async def test_a_process_message_body_over_the_bound_is_413_unread(
    client: httpx.AsyncClient, services: Services
) -> None:
    await add_chatbot(services, id="boundshop", name="Bound Shop", image_enabled=True)
    bound = process_message_bound(services.settings)
    declared = await client.post(
        "/api/process-message", content=b"{" + b" " * bound + b"}", headers={"content-type": "application/json"}
    )
    assert declared.status_code == 413 and declared.json()["error"]["code"] == "payload_too_large"
    sent: list[int] = []

    async def chunked() -> AsyncIterator[bytes]:
        for index in range(bound // (1 << 20) + 4):
            sent.append(index)
            yield b" " * (1 << 20)

    streamed = await client.post(
        "/api/process-message", content=chunked(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
    assert len(sent) <= bound // (1 << 20) + 2
    fine = await client.post(
        "/api/process-message", json={"user_id": "u", "chatbot_id": "boundshop", "message_text": "hello"}
    )
    assert fine.status_code == 200


async def test_form_fields_are_validated_like_json_ones_and_incomplete_base64_is_422(
    client: httpx.AsyncClient, services: Services, pictures: dict[str, bytes]
) -> None:
    await add_chatbot(services, id="fields", name="Fields", image_enabled=True)
    files = {"file": ("cat.png", pictures["chelsea"], "image/png")}
    too_long = await client.post(
        "/api/upload-image", data={"chatbot_id": "fields", "session_token": "0" * 201}, files=files
    )
    assert too_long.status_code == 422 and too_long.json()["error"]["code"] == "invalid_input"
    missing = await client.post("/api/upload-image", data={}, files=files)
    assert missing.status_code == 422
    partial = await client.post("/api/upload-image", json={"chatbot_id": "fields", "image_data": {"data": "0"}})
    assert partial.status_code == 422 and partial.json()["error"]["details"]["reason"] == "not_base64"


async def test_an_upload_named_for_a_shopper_is_theirs_alone_and_goes_with_their_erasure(
    client: httpx.AsyncClient, services: Services, pictures: dict[str, bytes]
) -> None:
    await add_chatbot(services, id="ownshop", name="Own Shop", image_enabled=True)
    files = {"file": ("cat.png", pictures["chelsea"], "image/png")}
    mine = (
        await client.post("/api/upload-image", data={"chatbot_id": "ownshop", "user_id": "ann"}, files=files)
    ).json()
    message = {"chatbot_id": "ownshop", "message_text": "this one", "file_id": mine["file_id"]}
    stolen = await client.post("/api/process-message", json={**message, "user_id": "bob"})
    assert stolen.status_code == 404
    admin = {"Authorization": f"Bearer {await create_api_key(db=services.db, name='ops', is_admin=True)}"}
    erased = await client.delete("/api/admin/chatbots/ownshop/users/ann", headers=admin)
    assert erased.status_code == 200, erased.text
    assert erased.json()["removed"]["files"] == 1
    assert (await client.get(mine["url"], headers=admin)).status_code == 404
