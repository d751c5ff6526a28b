"""Rule-based understanding of a marketer's message, in English and Danish (the offline wizard's ears).

Extracts what plain rules can: the category from its words, language names (English and Danish)
or codes, quoted body text with its ``{{n}}`` placeholders, example values, a text header,
"footer …", "button … to https://…", quick replies, a call button, "no header" / "uden sidefod",
the template name and an authentication code's expiry.
"""

from __future__ import annotations

import re
import unicodedata

from samtale.template_builder.languages import LANGUAGE_NAMES, SUPPORTED_LANGUAGES
from samtale.template_builder.memory import ButtonSpec, Extraction

_Q = '"“”„«»'
QUOTED = re.compile(rf"[{_Q}]([^{_Q}]+)[{_Q}]")
EXPLICIT_CATEGORY = {
    "AUTHENTICATION": r"authentication|autentificering|one[- ]time (?:password|code)|otp|engangskode|"
    r"verification code|bekræftelseskode|login ?code|loginkode",
    "MARKETING": r"marketing|markedsføring",
    "UTILITY": r"utility|service message|servicebesked",
}
INFERRED_CATEGORY = {
    "MARKETING": r"sale|discount|offer|promotion|promo|campaign|newsletter|coupon|tilbud|udsalg|rabat|kampagne|"
    r"nyhedsbrev|black friday",
    "UTILITY": r"shipping|shipment|delivery|delivered|order|receipt|invoice|appointment|reminder|parcel|package|"
    r"tracking|forsendelse|levering|ordre|bestilling|kvittering|faktura|påmindelse|pakke",
}
BUSINESS_TYPES = (
    "restaurant", "webshop", "web shop", "online shop", "wine shop", "bakery", "hotel", "salon", "clinic", "gym",
    "pharmacy", "café", "cafe", "flower shop", "bookshop", "vinhandel", "bageri", "frisør", "klinik", "butik",
)  # fmt: skip
DECLINE = re.compile(
    r"\b(?:no|without|nej|ingen|uden)\s+(?:a\s+|an\s+|any\s+|en\s+|et\s+)?"
    r"(header|overskrift|footer|sidefod|bundtekst|buttons?|knap(?:per)?)\b",
    re.IGNORECASE,
)
HEADER = re.compile(rf"\b(?:header|overskrift(?:en)?|titel)\b[^{_Q}\n]{{0,20}}[{_Q}]([^{_Q}]+)[{_Q}]", re.I)
FOOTER_QUOTED = re.compile(
    rf"\b(?:footer|sidefod(?:en)?|bundtekst(?:en)?)\b[^{_Q}\n]{{0,20}}[{_Q}]([^{_Q}]+)[{_Q}]", re.I
)
FOOTER_PLAIN = re.compile(
    r"\b(?:footer|sidefod(?:en)?|bundtekst(?:en)?)\s*[:=]\s*([^\n;]+?)\s*(?:[;\n]|\.\s|\.?$)", re.I
)
BUTTON = re.compile(r"\b(?:button|knap(?:pen)?)\b(.{0,60}?)\b(?:to|til|at|på)\s+(https?://[^\s\"”]+)", re.I)
QUICK_REPLY = re.compile(rf"\b(?:quick[- ]?reply|svarknap|hurtigt svar)\b[^{_Q}\n]{{0,20}}[{_Q}]([^{_Q}]+)[{_Q}]", re.I)
CALL = re.compile(r"\b(?:call|ring)\b[^\n+\d]{0,30}(\+?\d[\d ]{5,18}\d)", re.I)
NAME = re.compile(
    rf"\b(?:named|called|kaldet|hedder|name\s*[:=]|navn(?:et)?\s*[:=])\s*[{_Q}]?([A-Za-z0-9_æøåÆØÅ -]{{2,80}}?)[{_Q}]?"
    r"(?=[,;.\n]|\s+(?:in|på|with|med|and|og)\b|$)",
    re.I,
)
EXAMPLES = re.compile(
    r"\b(?:examples?|example values|eksempler|eksempel(?:værdier)?)\s*(?::|are|er)\s*(.+?)(?:;|\n|\.\s|\.?$)", re.I
)
BODY_LABEL = re.compile(r"\b(?:body|text|tekst|besked)\s*:\s*([^\n]+)", re.I)
CODE = re.compile(r"\b(?:language|sprog)\s*[:=]?\s*([a-z]{2,3}(?:[_-][A-Z]{2})?)\b")
REGION_CODE = re.compile(r"\b([a-z]{2,3})[-_]([A-Z]{2})\b")
EXPIRY = re.compile(r"(?:expire|expires|expiry|udløber)\D{0,20}(\d{1,3})\s*(?:min|minutes|minutter)", re.I)
DANISH_WORDS = frozenset(
    "jeg vil gerne en et og til vores kunder hej nej ja skal med ikke på af der som har hvor tak din dit "
    "kunde skabelon besked knap".split()
)
URL_TAIL = ".,;:)!?"


def conversation_language(text: str) -> str | None:
    """``"da"`` when the message reads as Danish, ``"en"`` when it reads as English, else None."""
    words = re.findall(r"[a-zæøå]+", text.lower())
    if not words:
        return None
    danish = sum(word in DANISH_WORDS for word in words) + 2 * sum(ch in "æøå" for ch in text.lower())
    return "da" if danish >= 2 or (danish and len(words) <= 3) else "en"


def slugify(text: str) -> str:
    """A template name from free text: ``"Shipping Update!"`` → ``shipping_update`` (æøå → ae, oe, aa)."""
    text = text.lower().replace("æ", "ae").replace("ø", "oe").replace("å", "aa")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")[:512]


def find_category(text: str, *, explicit_only: bool = False) -> str | None:
    """The category stated (``marketing``) or, unless ``explicit_only``, implied (``shipping`` → UTILITY)."""
    for table in (EXPLICIT_CATEGORY,) if explicit_only else (EXPLICIT_CATEGORY, INFERRED_CATEGORY):
        for category, pattern in table.items():
            if re.search(rf"\b(?:{pattern})", text, re.I):
                return category
    return None


def find_language(text: str) -> str | None:
    """A Meta language code named in ``text``: ``Danish``/``dansk`` → ``da``, ``en-US`` → ``en_US``."""
    for match in REGION_CODE.finditer(text):
        code = f"{match.group(1)}_{match.group(2)}"
        if code in SUPPORTED_LANGUAGES:
            return code
    stated = CODE.search(text)
    if stated and stated.group(1).replace("-", "_") in SUPPORTED_LANGUAGES:
        return stated.group(1).replace("-", "_")
    lowered = text.lower()
    for name in sorted(LANGUAGE_NAMES, key=len, reverse=True):
        if re.search(rf"\b{re.escape(name)}\b", lowered):
            return LANGUAGE_NAMES[name]
    return None


def split_values(text: str) -> list[str]:
    """``"Anna, Friday and 25OFF"`` → ``["Anna", "Friday", "25OFF"]`` (commas, "and", "og", "/")."""
    parts = re.split(r"\s*(?:,|/|\band\b|\bog\b)\s*", text.strip().rstrip("."))
    return [part.strip().strip(_Q + "'") for part in parts if part.strip().strip(_Q + "'")]


def default_button_label(language: str) -> str:
    """The label of a website button whose label was not given."""
    return "Åbn hjemmesiden" if language == "da" else "Visit website"


def extract(text: str, *, language: str = "en") -> Extraction:
    """Everything the rules can read from one message (``language`` only picks default labels)."""
    claimed: list[tuple[int, int]] = []
    found = Extraction()
    found.category = find_category(text)
    found.language = find_language(text)
    lowered = text.lower()
    found.business_type = next((b for b in BUSINESS_TYPES if re.search(rf"\b{re.escape(b)}\b", lowered)), None)
    for match in DECLINE.finditer(text):
        part = match.group(1).lower()
        if part.startswith(("header", "overskrift")):
            found.wants_header = False
        elif part.startswith(("footer", "sidefod", "bundtekst")):
            found.wants_footer = False
        else:
            found.wants_buttons = False
    if hit1 := HEADER.search(text):
        found.header_text = hit1.group(1).strip()
        claimed.append(hit1.span())
    if hit2 := FOOTER_QUOTED.search(text) or FOOTER_PLAIN.search(text):
        found.footer_text = hit2.group(1).strip()
        claimed.append(hit2.span())
    buttons: list[ButtonSpec] = []
    for match in BUTTON.finditer(text):
        label = match.group(1).strip().strip(_Q).strip()
        label = re.sub(r"^(?:to|til|that|der|which|saying|with the (?:text|label))\s+", "", label, flags=re.I)
        label = label.strip().strip(_Q).strip()
        buttons.append(
            ButtonSpec(
                type="URL",
                text=(label[:1].upper() + label[1:])[:25] if label else default_button_label(language),
                url=match.group(2).rstrip(URL_TAIL),
            )
        )
        claimed.append(match.span())
    for match in QUICK_REPLY.finditer(text):
        buttons.append(ButtonSpec(type="QUICK_REPLY", text=match.group(1).strip()))
        claimed.append(match.span())
    if hit3 := CALL.search(text):
        label = "Ring til os" if language == "da" else "Call us"
        buttons.append(ButtonSpec(type="PHONE_NUMBER", text=label, phone_number=hit3.group(1).replace(" ", "")))
    if buttons:
        found.buttons = buttons
    if hit4 := NAME.search(text):
        found.name = slugify(hit4.group(1)) or None
        claimed.append(hit4.span())
    if hit5 := EXAMPLES.search(text):
        found.body_examples = split_values(hit5.group(1)) or None
        claimed.append(hit5.span())
    if hit6 := EXPIRY.search(text):
        found.code_expiration_minutes = int(hit6.group(1))
    for match in QUOTED.finditer(text):
        if not any(start <= match.start() < end for start, end in claimed):
            found.body = match.group(1).strip()
            break
    if found.body is None and (hit7 := BODY_LABEL.search(text)):
        found.body = hit7.group(1).strip().strip(_Q)
    return found
