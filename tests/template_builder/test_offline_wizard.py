"""A marketer builds a template with the offline wizard (no LLM), through the persisted service."""

from __future__ import annotations

import pytest

from samtale.storage.db import Database
from samtale.template_builder import service
from samtale.template_builder.errors import TemplateMessageTooLongError, TemplateSessionNotFoundError
from samtale.template_builder.validator import validate_template
from samtale.template_builder.wizard import OfflineWizard

wizard = OfflineWizard()


async def _say(db: Database, session_id: str, message: str) -> service.ChatResult:
    return await service.chat(db, session_id=session_id, message=message, assistant=wizard)


async def test_a_shipping_update_is_built_step_by_step_and_ends_final(database: Database) -> None:
    session_id = await service.create_session(database)

    first = await _say(
        database,
        session_id,
        "A shipping update for our customers with their name and delivery day, and a button to track the parcel "
        "at https://shop.example/track/{{1}}",
    )
    assert first.action == "ASK"
    assert first.draft["category"] == "UTILITY"
    assert first.missing_fields == ["name", "language", "body", "header", "footer"]
    assert "shipping_update" in first.reply  # a proposed name

    assert (await _say(database, session_id, "yes")).missing_fields[0] == "language"
    body_question = await _say(database, session_id, "English")
    assert "Suggestion:" in body_question.reply and "{{1}}" in body_question.reply

    examples_question = await _say(database, session_id, "yes")
    assert examples_question.missing_fields[0] == "body_examples"
    assert "{{1}} = Anna" in examples_question.reply and "{{2}} = Friday" in examples_question.reply

    header_question = await _say(database, session_id, "Maria, Tuesday")
    assert header_question.action == "DRAFT"
    assert header_question.draft["components"][0]["example"] == {"body_text": [["Maria", "Tuesday"]]}

    assert (await _say(database, session_id, "no")).missing_fields == ["footer"]
    final = await _say(database, session_id, "no")

    assert final.action == "FINAL"
    assert final.missing_fields == []
    assert final.final_creation_payload is not None
    assert validate_template(final.final_creation_payload).valid
    assert [c["type"] for c in final.final_creation_payload["components"]] == ["BODY", "BUTTONS"]
    button = final.final_creation_payload["components"][1]["buttons"][0]
    assert button["url"] == "https://shop.example/track/{{1}}" and button["example"]


async def test_one_message_that_states_everything_is_final_at_once(database: Database) -> None:
    session_id = await service.create_session(database)

    result = await _say(
        database,
        session_id,
        'Marketing template named summer_sale in English: "Hi {{1}}, our summer sale ends {{2}}. Shop now!" '
        'examples: Anna, Sunday; footer "Lucky Shrub"; button "Shop now" to https://shop.example; no header',
    )

    assert result.action == "FINAL"
    assert result.final_creation_payload == {
        "name": "summer_sale",
        "language": "en_US",
        "category": "MARKETING",
        "components": [
            {
                "type": "BODY",
                "text": "Hi {{1}}, our summer sale ends {{2}}. Shop now!",
                "example": {"body_text": [["Anna", "Sunday"]]},
            },
            {"type": "FOOTER", "text": "Lucky Shrub"},
            {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Shop now", "url": "https://shop.example"}]},
        ],
    }
    assert result.validation == {"valid": True, "errors": [], "warnings": []}


async def test_a_danish_marketer_is_answered_in_danish_and_can_say_nej(database: Database) -> None:
    session_id = await service.create_session(database)

    first = await _say(database, session_id, "Jeg vil gerne lave en skabelon på dansk om levering til vores kunder")
    assert first.draft == {"language": "da", "category": "UTILITY", "components": []}
    assert "Hvad skal skabelonen hedde?" in first.reply

    await _say(database, session_id, "leveringsbesked")
    await _say(database, session_id, '"Hej {{1}}, din pakke kommer {{2}}. Tak for din ordre!"')
    examples = await _say(database, session_id, "ja")
    assert examples.draft["components"][0]["example"] == {"body_text": [["Anna", "fredag"]]}
    await _say(database, session_id, "nej")
    await _say(database, session_id, "Sidefod: Vinhuset")
    final = await _say(database, session_id, "nej")

    assert final.action == "FINAL"
    assert "klar" in final.reply
    assert final.final_creation_payload is not None
    assert final.final_creation_payload["name"] == "leveringsbesked"
    assert final.final_creation_payload["components"][1] == {"type": "FOOTER", "text": "Vinhuset"}


async def test_an_authentication_template_needs_only_a_name_and_language(database: Database) -> None:
    session_id = await service.create_session(database)

    first = await _say(database, session_id, "I need a login code template in English; the code expires in 10 minutes")
    assert first.missing_fields == ["name"]
    final = await _say(database, session_id, "login_code")

    assert final.action == "FINAL"
    assert final.final_creation_payload is not None
    components = final.final_creation_payload["components"]
    assert components[1] == {"type": "FOOTER", "code_expiration_minutes": 10}
    assert components[2]["buttons"][0]["type"] == "OTP"


async def test_a_body_that_breaks_a_rule_is_explained_and_asked_for_again(database: Database) -> None:
    session_id = await service.create_session(database)

    result = await _say(
        database,
        session_id,
        'Utility template named order_ready in English: "{{1}}, your order is ready for pickup today." '
        "examples: Anna; no header, no footer, no buttons",
    )

    assert result.action == "DRAFT"
    assert "may not start with a placeholder" in result.reply
    assert result.validation["errors"][0]["rule"] == "body.leading_variable"
    assert result.final_creation_payload is None
    fixed = await _say(database, session_id, '"Hi {{1}}, your order is ready for pickup today."')
    final = await _say(database, session_id, "yes")
    assert fixed.missing_fields == ["body_examples"]
    assert final.action == "FINAL"


async def test_history_and_debug_show_the_whole_session(database: Database) -> None:
    session_id = await service.create_session(database)
    await _say(database, session_id, "A marketing message about our summer sale")
    await _say(database, session_id, "summer_sale")

    history = await service.session_history(database, session_id=session_id)
    debug = await service.session_debug(database, session_id=session_id)

    assert [m["role"] for m in history["messages"]] == ["user", "assistant", "user", "assistant"]
    assert history["current_draft"]["name"] == "summer_sale"
    assert set(debug) == {
        "session_id",
        "session_info",
        "messages",
        "current_draft",
        "memory",
        "llm_logs",
        "last_action",
        "updated_at",
    }
    assert debug["session_info"]["total_messages"] == 4
    assert debug["session_info"]["total_llm_calls"] == 0
    assert debug["session_info"]["active_draft_id"]
    assert debug["memory"]["category"] == "MARKETING"
    assert {"language_pref", "business_type", "wants_header", "wants_footer", "wants_buttons"} <= set(debug["memory"])
    assert debug["last_action"] == "ASK"


async def test_unknown_session_and_too_long_message_are_refused(database: Database) -> None:
    with pytest.raises(TemplateSessionNotFoundError):
        await _say(database, "no-such-session", "hello")
    with pytest.raises(TemplateSessionNotFoundError):
        await service.session_debug(database, session_id="no-such-session")
    session_id = await service.create_session(database)
    with pytest.raises(TemplateMessageTooLongError) as info:
        await _say(database, session_id, "x" * 4001)
    assert info.value.details == {"limit": 4000, "length": 4001}
