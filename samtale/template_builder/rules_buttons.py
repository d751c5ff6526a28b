"""Rules for the BUTTONS component and each button in it.

Sources (Meta, WhatsApp Business Platform, "Template components" → Buttons, and
"Authentication templates" for OTP buttons):

* at most 10 buttons; at most 2 URL buttons, 1 PHONE_NUMBER button and 1 COPY_CODE button;
* button labels ≤ 25 characters;
* URL ≤ 2,000 characters, at most one parameter, appended to the end, with an example URL;
* phone number ≤ 20 characters;
* COPY_CODE example (the offer code) ≤ 15 characters;
* quick-reply buttons are grouped together: they may not be split by other buttons;
* OTP buttons only in AUTHENTICATION templates.
"""

from __future__ import annotations

from samtale.template_builder.issues import Collector
from samtale.template_builder.payload import Button, Component
from samtale.template_builder.variables import find_variables

MAX_BUTTONS = 10
MAX_URL_BUTTONS = 2
MAX_PHONE_BUTTONS = 1
MAX_COPY_CODE_BUTTONS = 1
LABEL_MAX = 25
URL_MAX = 2000
PHONE_MAX = 20
COPY_CODE_MAX = 15
BUTTON_TYPES = frozenset(
    {"QUICK_REPLY", "URL", "PHONE_NUMBER", "COPY_CODE", "OTP", "FLOW", "MPM", "CATALOG", "SPM", "VOICE_CALL", "APP"}
)
# Buttons whose label Meta fills in itself when it is left out.
LABEL_OPTIONAL = frozenset({"COPY_CODE", "OTP", "MPM", "CATALOG", "SPM"})


def check_buttons(c: Collector, comp: Component, path: str, *, category: str, max_buttons: int = MAX_BUTTONS) -> None:
    """Run every BUTTONS rule on ``comp``; ``max_buttons`` is 2 inside a carousel card."""
    buttons = comp.buttons or []
    if not buttons:
        c.error(f"{path}.buttons", "buttons.empty", "The buttons component has no buttons: add one or remove it.")
        return
    if len(buttons) > max_buttons:
        c.error(
            f"{path}.buttons",
            "buttons.max_count",
            f"There are {len(buttons)} buttons; at most {max_buttons} are allowed here.",
        )
    kinds = [(button.type or "").upper() for button in buttons]
    for kind, limit, rule, label in (
        ("URL", MAX_URL_BUTTONS, "buttons.url_count", "website (URL)"),
        ("PHONE_NUMBER", MAX_PHONE_BUTTONS, "buttons.phone_count", "call (PHONE_NUMBER)"),
        ("COPY_CODE", MAX_COPY_CODE_BUTTONS, "buttons.copy_code_count", "copy-code"),
    ):
        if kinds.count(kind) > limit:
            c.error(
                f"{path}.buttons",
                rule,
                f"At most {limit} {label} button(s) are allowed; there are {kinds.count(kind)}.",
            )
    quick = [index for index, kind in enumerate(kinds) if kind == "QUICK_REPLY"]
    if quick and quick[-1] - quick[0] + 1 != len(quick):
        c.error(
            f"{path}.buttons",
            "buttons.quick_reply_group",
            "Quick-reply buttons must be next to each other; move the other buttons before or after them.",
        )
    for index, (button, kind) in enumerate(zip(buttons, kinds, strict=True)):
        check_button(c, button, kind, f"{path}.buttons[{index}]", category=category)


def check_button(c: Collector, button: Button, kind: str, path: str, *, category: str) -> None:
    """One button: a known type, its label, and the fields of its type."""
    if kind not in BUTTON_TYPES:
        c.error(
            f"{path}.type",
            "button.type_unknown",
            f"'{button.type or ''}' is not a button type; use one of {', '.join(sorted(BUTTON_TYPES))}.",
        )
        return
    if kind == "OTP" and category != "AUTHENTICATION":
        c.error(
            f"{path}.type", "button.otp_category", "One-time-password buttons are only for AUTHENTICATION templates."
        )
    if button.text is None or not button.text.strip():
        if kind not in LABEL_OPTIONAL:
            c.error(f"{path}.text", "button.text_required", "Give the button a label.")
    elif len(button.text) > LABEL_MAX:
        c.error(
            f"{path}.text",
            "button.text_max_length",
            f"The label '{button.text}' is {len(button.text)} characters; button labels may have at most {LABEL_MAX}.",
        )
    if kind == "URL":
        _check_url(c, button, path)
    elif kind == "PHONE_NUMBER":
        phone = button.phone_number or ""
        if not phone.strip():
            c.error(f"{path}.phone_number", "button.phone_required", "A call button needs the phone number to call.")
        elif len(phone) > PHONE_MAX:
            c.error(
                f"{path}.phone_number",
                "button.phone_max_length",
                f"The phone number is {len(phone)} characters; the limit is {PHONE_MAX}.",
            )
    elif kind == "COPY_CODE":
        code = button.example if isinstance(button.example, str) else None
        if not code:
            c.error(f"{path}.example", "button.copy_code_example", "A copy-code button needs an example offer code.")
        elif len(code) > COPY_CODE_MAX:
            c.error(
                f"{path}.example",
                "button.copy_code_max_length",
                f"The offer code '{code}' is {len(code)} characters; the limit is {COPY_CODE_MAX}.",
            )


def _check_url(c: Collector, button: Button, path: str) -> None:
    """URL button: the address, its length, at most one trailing variable with an example URL."""
    url = button.url or ""
    if not url.strip():
        c.error(f"{path}.url", "button.url_required", "A website button needs the web address to open.")
        return
    if len(url) > URL_MAX:
        c.error(
            f"{path}.url",
            "button.url_max_length",
            f"The web address is {len(url)} characters; the limit is {URL_MAX:,}.",
        )
    if not url.lower().startswith(("https://", "http://")):
        c.error(f"{path}.url", "button.url_scheme", "The web address must start with https:// (or http://).")
    found = find_variables(url)
    total = found.count + len(found.invalid)
    if total > 1:
        c.error(f"{path}.url", "button.url_variable_count", "A web address can hold only one placeholder.")
    if total and not url.rstrip().endswith("}}"):
        c.error(
            f"{path}.url",
            "button.url_variable_position",
            "The placeholder of a web address must be at its very end (e.g. https://shop.example/track/{{1}}).",
        )
    if total:
        examples = button.example if isinstance(button.example, list) else []
        if not examples or not examples[0].strip():
            c.error(
                f"{path}.example",
                "button.url_example_missing",
                "Give an example of the full web address with the placeholder filled in.",
            )
