"""Each of Meta's template rules, broken on purpose: the marketer sees the path, the rule and why."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from samtale.template_builder.issues import Collector
from samtale.template_builder.payload import Component
from samtale.template_builder.rules_text import check_header
from samtale.template_builder.validator import validate_template

Payload = dict[str, Any]


def _marketing() -> Payload:
    return {
        "name": "shipping_update",
        "language": "en_US",
        "category": "MARKETING",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Your parcel is coming"},
            {
                "type": "BODY",
                "text": "Hi {{1}}, your parcel arrives on {{2}}. Thank you for shopping with us.",
                "example": {"body_text": [["Anna", "Friday"]]},
            },
            {"type": "FOOTER", "text": "Lucky Shrub"},
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "QUICK_REPLY", "text": "Stop updates"},
                    {"type": "URL", "text": "Track parcel", "url": "https://shop.example/track"},
                ],
            },
        ],
    }


def _auth() -> Payload:
    return {
        "name": "login_code",
        "language": "da",
        "category": "AUTHENTICATION",
        "components": [
            {"type": "BODY", "add_security_recommendation": True},
            {"type": "FOOTER", "code_expiration_minutes": 10},
            {
                "type": "BUTTONS",
                "buttons": [
                    {
                        "type": "OTP",
                        "otp_type": "ONE_TAP",
                        "supported_apps": [{"package_name": "com.example.shop", "signature_hash": "K8a/AINcGX7"}],
                    }
                ],
            },
        ],
    }


def _body(p: Payload) -> dict[str, Any]:
    return p["components"][1]


def _buttons(p: Payload) -> list[dict[str, Any]]:
    return p["components"][3]["buttons"]


def _set_body(text: str, examples: list[str] | None) -> Callable[[Payload], None]:
    def apply(p: Payload) -> None:
        _body(p)["text"] = text
        if examples is None:
            _body(p).pop("example", None)
        else:
            _body(p)["example"] = {"body_text": [examples]}

    return apply


QR = {"type": "QUICK_REPLY", "text": "Yes"}
URL = {"type": "URL", "text": "Shop", "url": "https://shop.example"}

# (rule id, path, how to break a valid marketing payload)
MARKETING_CASES: list[tuple[str, str, Callable[[Payload], None]]] = [
    ("name.required", "name", lambda p: p.pop("name")),
    ("name.format", "name", lambda p: p.update(name="Shipping Update")),
    ("name.format", "name", lambda p: p.update(name="x" * 513)),
    ("category.required", "category", lambda p: p.pop("category")),
    ("category.invalid", "category", lambda p: p.update(category="PROMOTION")),
    ("language.required", "language", lambda p: p.pop("language")),
    ("language.unsupported", "language", lambda p: p.update(language="en-US")),
    ("language.unsupported", "language", lambda p: p.update(language="xx_XX")),
    ("parameter_format.invalid", "parameter_format", lambda p: p.update(parameter_format="MIXED")),
    ("component.type_unknown", "components[4].type", lambda p: p["components"].append({"type": "SIGNATURE"})),
    ("body.required", "components", lambda p: p["components"].pop(1)),
    ("body.count", "components[4]", lambda p: p["components"].append(dict(_body(p)))),
    ("header.count", "components[4]", lambda p: p["components"].append(dict(p["components"][0]))),
    ("footer.count", "components[4]", lambda p: p["components"].append({"type": "FOOTER", "text": "Again"})),
    ("body.text_required", "components[1].text", _set_body("   ", None)),
    ("body.max_length", "components[1].text", _set_body("Hi {{1}}. " + "a" * 1020, ["Anna"])),
    ("body.leading_variable", "components[1].text", _set_body("{{1}}, your parcel is on its way to you.", ["Anna"])),
    ("body.trailing_variable", "components[1].text", _set_body("Your parcel arrives on {{1}}", ["Friday"])),
    ("variables.invalid_name", "components[1].text", _set_body("Hi {{First Name}}, your parcel is here.", None)),
    ("variables.mixed", "components[1].text", _set_body("Hi {{1}}, parcel {{order}} is here today.", ["A", "B"])),
    ("variables.not_sequential", "components[1].text", _set_body("Hi {{1}}, it comes {{3}} at the door.", ["A", "B"])),
    ("examples.missing", "components[1].example", _set_body("Hi {{1}}, your parcel arrives today.", None)),
    ("examples.count", "components[1].example", _set_body("Hi {{1}}, it arrives {{2}} at noon.", ["Anna"])),
    ("examples.empty", "components[1].example", _set_body("Hi {{1}}, it arrives today at noon.", [" "])),
    ("header.format_invalid", "components[0].format", lambda p: p["components"][0].update(format="AUDIO")),
    ("header.text_required", "components[0].text", lambda p: p["components"][0].update(text="")),
    ("header.max_length", "components[0].text", lambda p: p["components"][0].update(text="H" * 61)),
    (
        "header.too_many_variables",
        "components[0].text",
        lambda p: p["components"][0].update(text="{{1}} and {{2}}", example={"header_text": ["a", "b"]}),
    ),
    (
        "examples.missing",
        "components[0].example",
        lambda p: p["components"][0].update(text="Sale for {{1}}"),
    ),
    (
        "header.media_example_missing",
        "components[0].example.header_handle",
        lambda p: p["components"][0].update(format="IMAGE", text=None),
    ),
    ("footer.max_length", "components[2].text", lambda p: p["components"][2].update(text="F" * 61)),
    ("footer.variable", "components[2].text", lambda p: p["components"][2].update(text="Bye {{1}}")),
    ("footer.text_required", "components[2].text", lambda p: p["components"][2].update(text="")),
    ("buttons.empty", "components[3].buttons", lambda p: p["components"][3].update(buttons=[])),
    ("buttons.max_count", "components[3].buttons", lambda p: _buttons(p).extend([QR] * 9)),
    ("buttons.url_count", "components[3].buttons", lambda p: _buttons(p).extend([URL, URL])),
    (
        "buttons.phone_count",
        "components[3].buttons",
        lambda p: _buttons(p).extend([{"type": "PHONE_NUMBER", "text": "Call", "phone_number": "4512345678"}] * 2),
    ),
    (
        "buttons.copy_code_count",
        "components[3].buttons",
        lambda p: _buttons(p).extend([{"type": "COPY_CODE", "example": "SAVE10"}] * 2),
    ),
    ("buttons.quick_reply_group", "components[3].buttons", lambda p: _buttons(p).append(QR)),
    ("button.type_unknown", "components[3].buttons[0].type", lambda p: _buttons(p)[0].update(type="LINK")),
    ("button.text_required", "components[3].buttons[0].text", lambda p: _buttons(p)[0].update(text="")),
    (
        "button.text_max_length",
        "components[3].buttons[1].text",
        lambda p: _buttons(p)[1].update(text="Track your parcel right now"),
    ),
    ("button.url_required", "components[3].buttons[1].url", lambda p: _buttons(p)[1].update(url="")),
    (
        "button.url_max_length",
        "components[3].buttons[1].url",
        lambda p: _buttons(p)[1].update(url="https://shop.example/" + "a" * 2000),
    ),
    ("button.url_scheme", "components[3].buttons[1].url", lambda p: _buttons(p)[1].update(url="shop.example")),
    (
        "button.url_variable_count",
        "components[3].buttons[1].url",
        lambda p: _buttons(p)[1].update(url="https://shop.example/{{1}}/{{2}}", example=["https://shop.example/a/b"]),
    ),
    (
        "button.url_variable_position",
        "components[3].buttons[1].url",
        lambda p: _buttons(p)[1].update(
            url="https://shop.example/{{1}}/track", example=["https://shop.example/1/track"]
        ),
    ),
    (
        "button.url_example_missing",
        "components[3].buttons[1].example",
        lambda p: _buttons(p)[1].update(url="https://shop.example/track/{{1}}"),
    ),
    (
        "button.phone_required",
        "components[3].buttons[1].phone_number",
        lambda p: _buttons(p)[1].update(type="PHONE_NUMBER", url=None),
    ),
    (
        "button.phone_max_length",
        "components[3].buttons[1].phone_number",
        lambda p: _buttons(p)[1].update(type="PHONE_NUMBER", url=None, phone_number="+" + "1" * 20),
    ),
    (
        "button.copy_code_example",
        "components[3].buttons[1].example",
        lambda p: _buttons(p)[1].update(type="COPY_CODE", url=None, text=None),
    ),
    (
        "button.copy_code_max_length",
        "components[3].buttons[1].example",
        lambda p: _buttons(p)[1].update(type="COPY_CODE", url=None, text=None, example="SUMMERSALE2024XX"),
    ),
    (
        "button.otp_category",
        "components[3].buttons[1].type",
        lambda p: _buttons(p)[1].update(type="OTP", otp_type="COPY_CODE", url=None),
    ),
    (
        "variables.format_mismatch",
        "parameter_format",
        lambda p: p.update(parameter_format="NAMED"),
    ),
    ("ttl.range", "message_send_ttl_seconds", lambda p: p.update(message_send_ttl_seconds=60)),
    (
        "schema.string_type",
        "components[1].text",
        lambda p: _body(p).update(text=42),
    ),
    ("schema.list_type", "components", lambda p: p.update(components={"type": "BODY"})),
]


@pytest.mark.parametrize(
    ("rule", "path", "breaker"),
    MARKETING_CASES,
    ids=[f"{rule}@{path}" for rule, path, _ in MARKETING_CASES],
)
def test_a_broken_marketing_rule_is_reported_with_its_path(
    rule: str, path: str, breaker: Callable[[Payload], None]
) -> None:
    payload = _marketing()
    assert validate_template(payload).valid, "the starting payload must be valid"
    breaker(payload)

    result = validate_template(payload)

    assert not result.valid
    assert (path, rule) in [(e.path, e.rule) for e in result.errors], result.errors
    assert all(e.message for e in result.errors)


def _otp(p: Payload) -> dict[str, Any]:
    return p["components"][2]["buttons"][0]


AUTH_CASES: list[tuple[str, str, Callable[[Payload], None]]] = [
    ("auth.body_text", "components[0].text", lambda p: p["components"][0].update(text="Your code is {{1}} today.")),
    (
        "auth.header",
        "components[3]",
        lambda p: p["components"].append({"type": "HEADER", "format": "TEXT", "text": "Login"}),
    ),
    (
        "auth.code_expiration",
        "components[1].code_expiration_minutes",
        lambda p: p["components"][1].update(code_expiration_minutes=91),
    ),
    (
        "auth.code_expiration",
        "components[1].code_expiration_minutes",
        lambda p: p["components"][1].update(code_expiration_minutes=0),
    ),
    ("auth.footer_text", "components[1].text", lambda p: p["components"][1].update(text="Expires soon")),
    ("auth.otp_required", "components", lambda p: p["components"].pop(2)),
    (
        "auth.button_type",
        "components[2].buttons[1].type",
        lambda p: p["components"][2]["buttons"].append({"type": "QUICK_REPLY", "text": "Help"}),
    ),
    ("otp.type_invalid", "components[2].buttons[0].otp_type", lambda p: _otp(p).update(otp_type="TWO_TAP")),
    (
        "otp.supported_apps_required",
        "components[2].buttons[0].supported_apps",
        lambda p: _otp(p).update(supported_apps=[]),
    ),
    (
        "otp.supported_apps_max",
        "components[2].buttons[0].supported_apps",
        lambda p: _otp(p).update(supported_apps=[{"package_name": "com.a.b", "signature_hash": "K8a/AINcGX7"}] * 6),
    ),
    (
        "otp.signature_hash",
        "components[2].buttons[0].supported_apps[0].signature_hash",
        lambda p: _otp(p)["supported_apps"][0].update(signature_hash="K8a/AINcGX"),
    ),
    (
        "otp.package_name",
        "components[2].buttons[0].supported_apps[0].package_name",
        lambda p: _otp(p)["supported_apps"][0].update(package_name="shop"),
    ),
    (
        "otp.zero_tap_terms",
        "components[2].buttons[0].zero_tap_terms_accepted",
        lambda p: _otp(p).update(otp_type="ZERO_TAP"),
    ),
    ("ttl.range", "message_send_ttl_seconds", lambda p: p.update(message_send_ttl_seconds=1800)),
]


@pytest.mark.parametrize(("rule", "path", "breaker"), AUTH_CASES, ids=[f"{r}@{p}" for r, p, _ in AUTH_CASES])
def test_a_broken_authentication_rule_is_reported(rule: str, path: str, breaker: Callable[[Payload], None]) -> None:
    payload = _auth()
    assert validate_template(payload).valid
    breaker(payload)

    result = validate_template(payload)

    assert (path, rule) in [(e.path, e.rule) for e in result.errors], result.errors


def test_location_header_is_refused_outside_utility_and_marketing() -> None:
    collector = Collector()

    check_header(collector, Component(type="HEADER", format="LOCATION"), "components[0]", category="AUTHENTICATION")

    assert [e.rule for e in collector.errors] == ["header.location_category"]


def test_a_hyphenated_language_gets_the_underscore_hint() -> None:
    payload = _marketing()
    payload["language"] = "en-US"

    (error,) = validate_template(payload).errors

    assert "en_US" in error.message


def test_filipino_and_dari_codes_are_accepted() -> None:
    for code in ("fil", "prs_AF", "pt_BR", "zh_CN"):
        payload = _marketing()
        payload["language"] = code
        assert validate_template(payload).valid, code


def test_a_body_that_is_mostly_placeholders_gets_a_warning_not_an_error() -> None:
    payload = _marketing()
    _set_body("Hi {{1}} {{2}} {{3}} ok.", ["a", "b", "c"])(payload)

    result = validate_template(payload)

    assert result.valid
    assert [w.rule for w in result.warnings] == ["body.variable_ratio"]


@pytest.mark.parametrize("value", [None, [], "a template", 42, [{"name": "x"}]])
def test_anything_that_is_not_an_object_gives_an_error_result(value: Any) -> None:
    result = validate_template(value)

    assert not result.valid
    assert result.errors[0].rule == "payload.not_object"


def test_named_examples_must_follow_the_order_of_the_placeholders(meta_examples: dict[str, Any]) -> None:
    payload = meta_examples["named_parameter_order_update"]
    payload["components"][0]["example"]["body_text_named_params"].reverse()

    result = validate_template(payload)

    assert [e.rule for e in result.errors] == ["examples.order"]


def _cards(p: Payload) -> list[dict[str, Any]]:
    return p["components"][1]["cards"]


CAROUSEL_CASES: list[tuple[str, str, Callable[[Payload], None]]] = [
    ("carousel.category", "components[1].type", lambda p: p.update(category="UTILITY")),
    ("carousel.card_count", "components[1].cards", lambda p: _cards(p).pop()),
    ("carousel.card_count", "components[1].cards", lambda p: _cards(p).extend([_cards(p)[0]] * 9)),
    (
        "carousel.card_header",
        "components[1].cards[0].components",
        lambda p: _cards(p)[0]["components"][0].update(format="DOCUMENT"),
    ),
    (
        "body.max_length",
        "components[1].cards[1].components[1].text",
        lambda p: _cards(p)[1]["components"][1].update(text="Fruit {{1}} " + "x" * 150 + " {{2}} ok."),
    ),
    (
        "buttons.max_count",
        "components[1].cards[0].components[2].buttons",
        lambda p: _cards(p)[0]["components"][2]["buttons"].append({"type": "QUICK_REPLY", "text": "Later"}),
    ),
    ("carousel.cards_differ", "components[1].cards", lambda p: _cards(p)[1]["components"].pop(1)),
    (
        "carousel.top_level_component",
        "components[2]",
        lambda p: p["components"].append({"type": "FOOTER", "text": "Lucky Shrub"}),
    ),
]


@pytest.mark.parametrize(("rule", "path", "breaker"), CAROUSEL_CASES, ids=[f"{r}@{p}" for r, p, _ in CAROUSEL_CASES])
def test_a_broken_carousel_rule_is_reported(
    meta_examples: dict[str, Any], rule: str, path: str, breaker: Callable[[Payload], None]
) -> None:
    payload = meta_examples["summer_carousel_promo_2023"]
    breaker(payload)

    result = validate_template(payload)

    assert (path, rule) in [(e.path, e.rule) for e in result.errors], result.errors


LTO_CASES: list[tuple[str, str, Callable[[Payload], None]]] = [
    ("lto.category", "components[1].type", lambda p: p.update(category="utility")),
    (
        "lto.footer",
        "components[4]",
        lambda p: p["components"].append({"type": "footer", "text": "Terms apply"}),
    ),
    (
        "lto.text_max_length",
        "components[1].limited_time_offer.text",
        lambda p: p["components"][1]["limited_time_offer"].update(text="Offer ends very soon!"),
    ),
    (
        "lto.text_required",
        "components[1].limited_time_offer.text",
        lambda p: p["components"][1]["limited_time_offer"].pop("text"),
    ),
    (
        "body.max_length",
        "components[2].text",
        lambda p: p["components"][2].update(text="Good news, {{1}}! Use code {{2}} now. " + "x" * 580),
    ),
    (
        "lto.copy_code_first",
        "components[1].limited_time_offer.has_expiration",
        lambda p: p["components"][3]["buttons"].reverse(),
    ),
]


@pytest.mark.parametrize(("rule", "path", "breaker"), LTO_CASES, ids=[f"{r}@{p}" for r, p, _ in LTO_CASES])
def test_a_broken_limited_time_offer_rule_is_reported(
    meta_examples: dict[str, Any], rule: str, path: str, breaker: Callable[[Payload], None]
) -> None:
    payload = meta_examples["limited_time_offer_caribbean_pkg_2023"]
    breaker(payload)

    result = validate_template(payload)

    assert (path, rule) in [(e.path, e.rule) for e in result.errors], result.errors
