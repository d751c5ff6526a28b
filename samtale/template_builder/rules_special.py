"""Rules of the special template kinds: authentication, carousel and limited-time offer.

Sources (Meta, WhatsApp Business Platform):

* "Authentication templates": preset body text (only ``add_security_recommendation`` may be
  set), no header, optional footer holding only ``code_expiration_minutes`` (1–90), exactly one
  OTP button whose ``otp_type`` is COPY_CODE, ONE_TAP or ZERO_TAP; one-tap and zero-tap buttons
  list up to 5 ``supported_apps``, each with a ``package_name`` and an 11-character
  ``signature_hash``; zero-tap needs ``zero_tap_terms_accepted: true``.
* "Media card carousel templates": MARKETING only; a message body plus 2–10 cards; each card
  has an IMAGE or VIDEO header with a handle, optional body text ≤ 160 characters and up to 2
  buttons; all cards have the same components; if one card has body text, all must.
* "Limited-time offer templates": MARKETING only; no footer; body ≤ 600 characters; offer text
  ≤ 16 characters; with ``has_expiration: true`` a COPY_CODE button is required and must be the
  first button.
* "Time-to-live" (Message templates): ``message_send_ttl_seconds`` 30–900 for authentication,
  30–43,200 for utility and 43,200–2,592,000 for marketing templates.
"""

from __future__ import annotations

import re

from samtale.template_builder.issues import Collector
from samtale.template_builder.payload import Button, Component, TemplatePayload
from samtale.template_builder.rules_buttons import check_buttons
from samtale.template_builder.rules_text import check_body, check_header

CODE_EXPIRATION_RANGE = (1, 90)
MAX_SUPPORTED_APPS = 5
SIGNATURE_HASH_LENGTH = 11
SIGNATURE_HASH = re.compile(r"^[A-Za-z0-9+/=]{11}$")
PACKAGE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$")
PACKAGE_NAME_MAX = 224
OTP_TYPES = frozenset({"COPY_CODE", "ONE_TAP", "ZERO_TAP"})
CARD_COUNT = (2, 10)
CARD_BODY_MAX = 160
CARD_BUTTONS_MAX = 2
CARD_HEADER_FORMATS = frozenset({"IMAGE", "VIDEO"})
LTO_TEXT_MAX = 16
LTO_BODY_MAX = 600
TTL_RANGES = {"AUTHENTICATION": (30, 900), "UTILITY": (30, 43_200), "MARKETING": (43_200, 2_592_000)}


def check_ttl(c: Collector, payload: TemplatePayload, category: str) -> None:
    """``message_send_ttl_seconds`` inside the category's range (source: "Time-to-live")."""
    ttl = payload.message_send_ttl_seconds
    if ttl is None or category not in TTL_RANGES or ttl == -1:
        return
    low, high = TTL_RANGES[category]
    if not low <= ttl <= high:
        c.error(
            "message_send_ttl_seconds",
            "ttl.range",
            f"For {category} templates the delivery time-to-live must be {low:,}–{high:,} seconds; it is {ttl:,}.",
        )


def check_authentication(c: Collector, components: list[Component]) -> None:
    """Every AUTHENTICATION rule (source: "Authentication templates")."""
    otp_buttons = 0
    for index, comp in enumerate(components):
        path = f"components[{index}]"
        if comp.kind == "HEADER":
            c.error(f"{path}", "auth.header", "Authentication templates cannot have a header.")
        elif comp.kind == "BODY" and comp.text:
            c.error(
                f"{path}.text",
                "auth.body_text",
                'Authentication templates use Meta\'s fixed text ("<code> is your verification code"); remove the '
                "body text and set add_security_recommendation instead if you want the security note.",
            )
        elif comp.kind == "FOOTER":
            if comp.text:
                c.error(
                    f"{path}.text",
                    "auth.footer_text",
                    "An authentication footer holds only code_expiration_minutes, not text.",
                )
            minutes = comp.code_expiration_minutes
            low, high = CODE_EXPIRATION_RANGE
            if minutes is not None and not low <= minutes <= high:
                c.error(
                    f"{path}.code_expiration_minutes",
                    "auth.code_expiration",
                    f"The code expiry must be between {low} and {high} minutes; it is {minutes}.",
                )
        elif comp.kind == "BUTTONS":
            for b_index, button in enumerate(comp.buttons or []):
                if (button.type or "").upper() == "OTP":
                    otp_buttons += 1
                    check_otp_button(c, button, f"{path}.buttons[{b_index}]")
                else:
                    c.error(
                        f"{path}.buttons[{b_index}].type",
                        "auth.button_type",
                        "Authentication templates can only have the one-time-password (OTP) button.",
                    )
    if otp_buttons != 1:
        c.error(
            "components",
            "auth.otp_required",
            f"An authentication template needs exactly one one-time-password (OTP) button; it has {otp_buttons}.",
        )


def check_otp_button(c: Collector, button: Button, path: str) -> None:
    """An OTP button: its ``otp_type`` and, for one-tap and zero-tap, the Android apps and terms."""
    otp_type = (button.otp_type or "").upper()
    if otp_type not in OTP_TYPES:
        c.error(
            f"{path}.otp_type",
            "otp.type_invalid",
            f"otp_type must be one of {', '.join(sorted(OTP_TYPES))}; it is '{button.otp_type or ''}'.",
        )
        return
    if otp_type == "COPY_CODE":
        return
    apps = button.supported_apps or []
    # Older payloads put one app's package_name and signature_hash on the button itself.
    legacy = button.package_name is not None or button.signature_hash is not None
    app_count = len(apps) + (1 if legacy else 0)
    if app_count == 0:
        c.error(
            f"{path}.supported_apps",
            "otp.supported_apps_required",
            "One-tap and zero-tap buttons need the Android app (package name and signature hash) to autofill.",
        )
    if app_count > MAX_SUPPORTED_APPS:
        c.error(
            f"{path}.supported_apps",
            "otp.supported_apps_max",
            f"At most {MAX_SUPPORTED_APPS} apps can be listed; there are {app_count}.",
        )
    for a_index, app in enumerate(apps):
        _check_app(c, app.package_name, app.signature_hash, f"{path}.supported_apps[{a_index}]")
    if legacy:
        _check_app(c, button.package_name, button.signature_hash, path)
    if otp_type == "ZERO_TAP" and button.zero_tap_terms_accepted is not True:
        c.error(
            f"{path}.zero_tap_terms_accepted",
            "otp.zero_tap_terms",
            "Zero-tap buttons require zero_tap_terms_accepted: true (you accept Meta's zero-tap terms).",
        )


def _check_app(c: Collector, package: str | None, signature: str | None, path: str) -> None:
    if not package or len(package) > PACKAGE_NAME_MAX or not PACKAGE_NAME.match(package):
        c.error(
            f"{path}.package_name",
            "otp.package_name",
            "The Android package name must look like com.example.app (dot-separated parts starting with a letter, "
            f"at most {PACKAGE_NAME_MAX} characters).",
        )
    if not signature or not SIGNATURE_HASH.match(signature):
        c.error(
            f"{path}.signature_hash",
            "otp.signature_hash",
            f"The app signature hash must be exactly {SIGNATURE_HASH_LENGTH} characters (letters, digits, + / =).",
        )


def check_carousel(c: Collector, comp: Component, path: str, *, category: str) -> None:
    """A CAROUSEL component and its cards (source: "Media card carousel templates")."""
    if category != "MARKETING":
        c.error(f"{path}.type", "carousel.category", "Carousel templates are only for MARKETING templates.")
    cards = comp.cards or []
    low, high = CARD_COUNT
    if not low <= len(cards) <= high:
        c.error(f"{path}.cards", "carousel.card_count", f"A carousel needs {low}–{high} cards; it has {len(cards)}.")
    shapes: list[tuple[str, ...]] = []
    for c_index, card in enumerate(cards):
        card_path = f"{path}.cards[{c_index}]"
        shape: list[str] = []
        headers = [(i, x) for i, x in enumerate(card.components) if x.kind == "HEADER"]
        if len(headers) != 1 or (headers[0][1].format or "").upper() not in CARD_HEADER_FORMATS:
            c.error(f"{card_path}.components", "carousel.card_header", "Each card needs one IMAGE or VIDEO header.")
        for i, sub in enumerate(card.components):
            sub_path = f"{card_path}.components[{i}]"
            if sub.kind == "HEADER":
                check_header(c, sub, sub_path, category=category)
                shape.append(f"HEADER:{(sub.format or '').upper()}")
            elif sub.kind == "BODY":
                check_body(c, sub, sub_path, max_length=CARD_BODY_MAX)
                shape.append("BODY")
            elif sub.kind == "BUTTONS":
                check_buttons(c, sub, sub_path, category=category, max_buttons=CARD_BUTTONS_MAX)
                shape.extend(f"BUTTON:{(b.type or '').upper()}" for b in sub.buttons or [])
            else:
                c.error(
                    f"{sub_path}.type", "carousel.card_component", "A card holds only a header, a body and buttons."
                )
        shapes.append(tuple(shape))
    if len(set(shapes)) > 1:
        c.error(
            f"{path}.cards",
            "carousel.cards_differ",
            "All cards must have the same parts: the same header format, body or no body, and the same buttons.",
        )


def check_limited_time_offer(c: Collector, components: list[Component], category: str) -> None:
    """A LIMITED_TIME_OFFER template (source: "Limited-time offer templates")."""
    for index, comp in enumerate(components):
        path = f"components[{index}]"
        if comp.kind == "LIMITED_TIME_OFFER":
            if category != "MARKETING":
                c.error(f"{path}.type", "lto.category", "Limited-time offers are only for MARKETING templates.")
            offer = comp.limited_time_offer
            text = offer.text if offer else None
            if not text:
                c.error(f"{path}.limited_time_offer.text", "lto.text_required", "Write the offer's short label.")
            elif len(text) > LTO_TEXT_MAX:
                c.error(
                    f"{path}.limited_time_offer.text",
                    "lto.text_max_length",
                    f"The offer label is {len(text)} characters; the limit is {LTO_TEXT_MAX}.",
                )
            if offer and offer.has_expiration:
                first = _first_button(components)
                if first is None or (first.type or "").upper() != "COPY_CODE":
                    c.error(
                        f"{path}.limited_time_offer.has_expiration",
                        "lto.copy_code_first",
                        "An offer with an expiry countdown needs a copy-code button, placed first.",
                    )
        elif comp.kind == "FOOTER":
            c.error(path, "lto.footer", "Limited-time offer templates cannot have a footer.")


def _first_button(components: list[Component]) -> Button | None:
    for comp in components:
        if comp.kind == "BUTTONS" and comp.buttons:
            return comp.buttons[0]
    return None
