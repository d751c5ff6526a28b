"""Submitting a finished template to Meta's Graph API, tested against the local simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from samtale.storage.db import Database
from samtale.storage.models.template_builder import TemplateSubmission
from samtale.template_builder import service
from samtale.template_builder.errors import MetaAPIError, TemplatePayloadError
from samtale.template_builder.meta import MetaTemplateClient, MetaTemplateRejectedError
from samtale.template_builder.simulator import create_simulator_app
from samtale.template_builder.submission import submit_session
from samtale.template_builder.wizard import OfflineWizard

TOKEN = "simulator-token"


@pytest.fixture
async def simulator() -> AsyncIterator[tuple[Any, MetaTemplateClient]]:
    app = create_simulator_app(access_token=TOKEN, template_limit=2)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        yield app, MetaTemplateClient(http=http, base_url="http://graph.simulator")


def _body(text: str) -> dict[str, Any]:
    return {
        "name": "order_update",
        "language": "en_US",
        "category": "UTILITY",
        "components": [{"type": "BODY", "text": text}],
    }


async def test_a_valid_template_is_created_and_gets_an_id(simulator: tuple[Any, MetaTemplateClient]) -> None:
    app, client = simulator

    outcome = await client.create_template(
        waba_id="102290129340398", access_token=TOKEN, payload=_body("Your order has shipped. Thank you!")
    )

    assert outcome.status == "PENDING"
    assert outcome.category == "UTILITY"
    assert app.state.templates[outcome.template_id]["waba_id"] == "102290129340398"


@pytest.mark.parametrize(
    ("payload", "subcode", "words"),
    [
        (_body("Hi " + "a" * 1030), 2388040, "character limit"),
        (_body("{{1}} your order has shipped today."), 2388299, "start or end"),
        (
            {**_body(""), "components": [{"type": "BODY", "text": "Hi {{1}} {{2}} {{3}} ok.",
                                          "example": {"body_text": [["Anna", "B", "C"]]}}]},
            2388293,
            "too many placeholders",
        ),
        (
            {**_body("Your order has shipped."), "components": [{"type": "BODY", "text": "Your order has shipped."},
                                                                 {"type": "FOOTER", "text": "Bye {{1}}"}]},
            2388073,
            "footer",
        ),
        (
            {**_body("Your order has shipped."), "components": [{"type": "HEADER", "format": "AUDIO"},
                                                                 {"type": "BODY", "text": "Your order has shipped."}]},
            2388047,
            "header",
        ),
    ],
)  # fmt: skip
async def test_meta_error_subcodes_become_plain_language(
    simulator: tuple[Any, MetaTemplateClient], payload: dict[str, Any], subcode: int, words: str
) -> None:
    _, client = simulator

    with pytest.raises(MetaTemplateRejectedError) as info:
        await client.create_template(waba_id="1", access_token=TOKEN, payload=payload)

    assert info.value.details["error_subcode"] == subcode
    assert words in info.value.message


async def test_the_template_limit_and_a_wrong_token_are_explained(simulator: tuple[Any, MetaTemplateClient]) -> None:
    _, client = simulator
    for _ in range(2):
        await client.create_template(waba_id="7", access_token=TOKEN, payload=_body("Your order has shipped."))

    with pytest.raises(MetaTemplateRejectedError) as limit:
        await client.create_template(waba_id="7", access_token=TOKEN, payload=_body("Your order has shipped."))
    with pytest.raises(MetaAPIError) as token:
        await client.create_template(waba_id="7", access_token="wrong", payload=_body("Your order has shipped."))

    assert limit.value.details["error_subcode"] == 2388019
    assert "limit of message templates" in limit.value.message
    assert token.value.details["code"] == 190
    assert "access token" in token.value.message


async def test_a_final_session_is_submitted_and_recorded(
    database: Database, simulator: tuple[Any, MetaTemplateClient]
) -> None:
    app, client = simulator
    session_id = await service.create_session(database)
    wizard = OfflineWizard()
    not_done = await service.chat(database, session_id=session_id, message="A utility template", assistant=wizard)
    assert not_done.action == "ASK"
    with pytest.raises(TemplatePayloadError):
        await submit_session(database, session_id=session_id, client=client, waba_id="55", access_token=TOKEN)

    await service.chat(
        database,
        session_id=session_id,
        message='Utility template named order_shipped in English: "Your order has shipped. Thank you for shopping!" '
        "no header, no footer, no buttons",
        assistant=wizard,
    )
    outcome = await submit_session(database, session_id=session_id, client=client, waba_id="55", access_token=TOKEN)

    assert outcome["status"] == "PENDING"
    assert app.state.templates[outcome["meta_template_id"]]["payload"]["name"] == "order_shipped"
    async with database.session() as session:
        rows = (await session.execute(select(TemplateSubmission))).scalars().all()
    assert [(r.meta_template_id, r.status) for r in rows] == [(outcome["meta_template_id"], "PENDING")]


async def test_a_rejected_submission_is_recorded_with_the_plain_message(
    database: Database, simulator: tuple[Any, MetaTemplateClient]
) -> None:
    _, client = simulator
    session_id = await service.create_session(database)
    await service.chat(
        database,
        session_id=session_id,
        message='Utility template named order_shipped in English: "Your order has shipped. Thank you for shopping!" '
        "no header, no footer, no buttons",
        assistant=OfflineWizard(),
    )

    with pytest.raises(MetaAPIError):
        await submit_session(database, session_id=session_id, client=client, waba_id="55", access_token="expired")

    async with database.session() as session:
        (row,) = (await session.execute(select(TemplateSubmission))).scalars().all()
    assert row.status == "FAILED"
    assert row.error is not None and row.error["code"] == 190
