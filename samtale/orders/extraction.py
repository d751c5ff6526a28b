"""Rule-based extraction of order variables: order number, email, postcode and phone number.

Fast and offline (regular expressions plus a look at the words just before each number), run
on the shopper's message and then on their recent turns (DESIGN section 11, issue 4 step 1).
An order number may be written ``#1001``, ``1001``, ``000000123`` or ``CT-1001``; a number
introduced by *invoice*/*bill*, a money amount (``$160``, ``350 dollars``, *refund of…*), a
phone number or a postcode is never taken for one. Rules were tuned on
``bitext-order-numbers-train.csv`` only (including its typos such as *oredr*, *purhase*).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel

from samtale.orders.cues import Cue, cue_of, expected_from_question

EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9][\w.+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
URL = re.compile(r"https?://\S+", re.IGNORECASE)
PHONE = re.compile(r"(?<![\w+])(?P<plus>\+\d{1,3}[\s-]?)?\d(?:[\s-]?\d){6,13}(?![\w])")
POSTCODE_AFTER_CUE = re.compile(
    r"\b(?:post\s?code|postal\s+code|zip(?:\s?code)?|postnummer|postnr\.?)\b[\s:=]*(?:is\s+|er\s+)?"
    r"(?P<postcode>[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}|\d{4,5}(?:-\d{4})?)(?![\w])",
    re.IGNORECASE,
)
BARE_POSTCODE = re.compile(r"^\W*(?P<postcode>\d{4,5}|[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2})\W*$", re.IGNORECASE)
#: An order-number token: optional ``#``, optional letter prefix (``CT-``), 3–20 digits.
CANDIDATE = re.compile(
    r"(?P<hash>#\s?)?(?<![\w$€£/:.,+-])(?P<token>(?:[A-Z]{1,4}-?|[a-z]{1,4}-)?\d{3,20}(?:-\d{1,6})?)"
    r"(?![\w/:]|[.,]\d)"
)
#: An order word glued to its number, as in ``order732201349959``.
GLUED = re.compile(r"(?i)\b(?:order|purchase|ordre|bestilling)(?:#|nr\.?|no\.?)?(?P<token>\d{3,20})\b")
CURRENCY_BEFORE = re.compile(r"(?:[$€£]|\b(?:usd|eur|dkk|kr\.?|sek|nok|gbp))\s*$", re.IGNORECASE)
UNIT_AFTER = re.compile(
    r"^\s*(?:dollars?|usd|eur(?:os?)?|dkk|kr\b|kroner|bucks|sek|nok|gbp|ml|cl|l\b|kg|g\b|stk|pcs|pieces|"
    r"bottles?|flasker?|items?|x\b|%|days?|dage|hours?|timer|minutes?|minutter|years?|år)",
    re.IGNORECASE,
)
CLAUSE_BREAK = re.compile(r"[.!?;\n]")
WORD = re.compile(r"[\w#]+")
LOOKBACK_WORDS = 6
#: Without any cue, a bare number this long is taken for an order number (Danish phone numbers
#: have 8 digits, so they stay out).
UNCUED_MIN_DIGITS = 9


class ExtractedVariables(BaseModel):
    """What the rules found; ``None`` where nothing was found. Emails are lower-cased."""

    order_number: str | None = None
    email: str | None = None
    postcode: str | None = None
    phone: str | None = None

    def merged_with(self, older: ExtractedVariables) -> ExtractedVariables:
        """These values, with each missing one taken from ``older`` (an earlier turn)."""
        return ExtractedVariables(
            order_number=self.order_number or older.order_number,
            email=self.email or older.email,
            postcode=self.postcode or older.postcode,
            phone=self.phone or older.phone,
        )


@dataclass(frozen=True)
class _Found:
    token: str
    start: int
    cue: Cue | None
    explicit: bool


def _mask(text: str, spans: Iterable[tuple[int, int]]) -> str:
    chars = list(text)
    for start, end in spans:
        for index in range(start, end):
            chars[index] = " "
    return "".join(chars)


def _nearest_cue(text: str, start: int) -> Cue | None:
    """The category of the nearest cue word in the same clause, at most six words back."""
    clause = CLAUSE_BREAK.split(text[:start])[-1]
    if CURRENCY_BEFORE.search(clause):
        return Cue.AMOUNT
    for word in reversed(WORD.findall(clause)[-LOOKBACK_WORDS:]):
        cue = cue_of(word)
        if cue is not None:
            return cue
    return None


def _order_candidates(text: str) -> list[_Found]:
    found = [_Found(m.group("token"), m.start("token"), Cue.ORDER, True) for m in GLUED.finditer(text)]
    for match in CANDIDATE.finditer(text):
        token, start = match.group("token"), match.start("token")
        after = text[match.end() :]
        if UNIT_AFTER.match(after):
            continue
        cue = _nearest_cue(text, match.start())
        explicit = match.group("hash") is not None or not token[0].isdigit()
        found.append(_Found(token, start, cue, explicit))
    return sorted(found, key=lambda item: item.start)


def _has_order_word(text: str) -> bool:
    return any(cue_of(word) is Cue.ORDER for word in WORD.findall(text))


def _pick_order_number(text: str, *, expecting: Cue | None) -> str | None:
    candidates = _order_candidates(text)
    for candidate in candidates:
        if candidate.cue is Cue.ORDER:
            return candidate.token
    uncued = [candidate for candidate in candidates if candidate.cue is None]
    if not uncued:
        return None
    mentions_order = _has_order_word(text)
    short_reply = len(WORD.findall(text)) <= 4
    for candidate in uncued:
        digits = sum(char.isdigit() for char in candidate.token)
        if (
            candidate.explicit
            or expecting is Cue.ORDER
            or mentions_order
            or (short_reply and digits >= 4)
            or digits >= UNCUED_MIN_DIGITS
        ):
            return candidate.token
    return None


def _extract_one(text: str, *, expecting: Cue | None) -> ExtractedVariables:
    """Variables of one message; ``expecting`` is what the assistant asked for just before."""
    spans: list[tuple[int, int]] = [m.span() for m in URL.finditer(text)]
    email_match = EMAIL.search(_mask(text, spans))
    email = email_match.group(0).lower() if email_match else None
    spans += [m.span() for m in EMAIL.finditer(text)]

    masked = _mask(text, spans)
    postcode = None
    postcode_match = POSTCODE_AFTER_CUE.search(masked)
    if postcode_match:
        postcode = postcode_match.group("postcode").upper()
        spans.append(postcode_match.span("postcode"))
    elif expecting is Cue.POSTCODE and (bare := BARE_POSTCODE.match(masked)):
        postcode = bare.group("postcode").upper()
        spans.append(bare.span("postcode"))

    masked = _mask(text, spans)
    phone = None
    for match in PHONE.finditer(masked):
        if match.group("plus") or _nearest_cue(masked, match.start()) is Cue.PHONE or expecting is Cue.PHONE:
            phone = re.sub(r"[\s-]", "", match.group(0))
            spans.append(match.span())
            break

    order_number = _pick_order_number(_mask(text, spans), expecting=expecting)
    return ExtractedVariables(order_number=order_number, email=email, postcode=postcode, phone=phone)


def extract_order_variables(
    *, message: str, history: Sequence[tuple[str, str]] = (), max_turns: int = 6
) -> ExtractedVariables:
    """Extract the order number, email, postcode and phone from ``message``, then from history.

    Args:
        message: the shopper's new message.
        history: earlier turns, oldest first, as ``(role, content)`` with role ``user`` or
            ``assistant``. Only the shopper's turns are searched; the assistant turn just before
            a shopper turn tells what a bare answer means (``1001`` after "what is your order
            number?" is an order number, ``2100`` after "what is your postcode?" a postcode).
        max_turns: how many of the shopper's most recent earlier turns are searched.

    Returns:
        The values of the newest turn that has each one.
    """
    turns: list[tuple[str, Cue | None]] = []
    previous_assistant: str | None = None
    for role, content in history:
        if role == "assistant":
            previous_assistant = content
        elif role == "user":
            turns.append((content, expected_from_question(previous_assistant)))
            previous_assistant = None
    expecting_now = expected_from_question(previous_assistant)
    result = _extract_one(message, expecting=expecting_now)
    for content, expecting in reversed(turns[-max_turns:]):
        result = result.merged_with(_extract_one(content, expecting=expecting))
    return result


def extract_order_number(text: str) -> str | None:
    """The order number in one message on its own, or ``None`` (what the evaluation scores)."""
    return _extract_one(text, expecting=None).order_number


#: The shapes an order number may have when nothing stricter is configured: an optional letter
#: prefix (``CT-``), 3–20 digits and an optional numeric suffix (``1001-2``); no ``#``.
ORDER_NUMBER_SHAPE = re.compile(r"(?:[A-Za-z]{1,4}-?)?\d{3,20}(?:-\d{1,6})?")
POSTCODE_SHAPE = re.compile(r"\d{4,5}(?:-\d{4})?|[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}", re.IGNORECASE)
PHONE_SHAPE = re.compile(r"\+?\d{7,15}")
#: A number introduced by one of these is never an order number, whoever proposes it.
NOT_ORDER_CUES = frozenset({Cue.INVOICE, Cue.AMOUNT, Cue.PHONE, Cue.POSTCODE, Cue.TRACKING, Cue.OTHER_ID})


def shopper_texts(*, message: str, history: Sequence[tuple[str, str]] = (), max_turns: int = 6) -> list[str]:
    """The shopper's own words: ``message`` and their ``max_turns`` most recent earlier turns."""
    earlier = [content for role, content in history if role == "user"]
    return [message, *earlier[-max_turns:]] if max_turns > 0 else [message]


def _spaced(value: str, gap: str) -> str:
    """A pattern for ``value`` whose characters may be separated by ``gap`` (e.g. ``2100`` / ``21 00``)."""
    return gap.join(re.escape(char) for char in value)


def order_number_stated(token: str, texts: Sequence[str]) -> bool:
    """True when ``token`` (an order number without ``#``) stands on its own in one of ``texts``
    where an order number can stand.

    Not accepted: a token that is part of a longer number or word, glued to a currency sign,
    followed by a unit (``160 dollars``, ``3 bottles``), inside a URL or email, or introduced
    by an invoice, amount, phone, postcode, tracking or customer-number word (the same cues
    the rules use). Used to check an order number the LLM extractor proposes (issue 4: never
    an invoice number, a refund amount or a phone number).
    """
    if not ORDER_NUMBER_SHAPE.fullmatch(token):
        return False
    occurrence = re.compile(r"(?<![\w$€£/:.,+@-])" + re.escape(token) + r"(?![\w/:@]|[.,]\d)", re.IGNORECASE)
    for text in texts:
        masked = _mask(text, [m.span() for m in URL.finditer(text)] + [m.span() for m in EMAIL.finditer(text)])
        for match in occurrence.finditer(masked):
            if UNIT_AFTER.match(masked[match.end() :]):
                continue
            if _nearest_cue(masked, match.start()) in NOT_ORDER_CUES:
                continue
            return True
    return False


def email_stated(email: str, texts: Sequence[str]) -> bool:
    """True when ``email`` is a well-formed address whose every letter-and-digit run (``jane``,
    ``example``, ``com``) is a word the shopper wrote, so ``jane at example dot com`` supports
    ``jane@example.com`` but nothing supports an address the shopper never gave."""
    if not EMAIL.fullmatch(email):
        return False
    words = {word for text in texts for word in re.findall(r"[a-z0-9]+", text.casefold())}
    return all(part in words for part in re.findall(r"[a-z0-9]+", email.casefold()))


def postcode_stated(postcode: str, texts: Sequence[str]) -> bool:
    """True when ``postcode`` has a postcode's shape (``2100``, ``12345-6789``, ``SW1A 1AA``) and
    the shopper wrote it (spaces inside ignored, case-insensitive)."""
    compact = re.sub(r"\s", "", postcode)
    if not POSTCODE_SHAPE.fullmatch(postcode.strip()) or not compact:
        return False
    occurrence = re.compile(r"(?<![\w-])" + _spaced(compact, r"\s?") + r"(?![\w-])", re.IGNORECASE)
    return any(occurrence.search(text) for text in texts)


def phone_stated(phone: str, texts: Sequence[str]) -> bool:
    """True when ``phone`` is 7–15 digits (optional ``+``) that the shopper wrote, allowing
    spaces, dashes, dots and brackets between the digits."""
    compact = re.sub(r"[\s().-]", "", phone)
    if not PHONE_SHAPE.fullmatch(compact):
        return False
    digits = compact.lstrip("+")
    occurrence = re.compile(r"(?<!\d)" + _spaced(digits, r"[\s().-]?") + r"(?!\d)")
    return any(occurrence.search(text) for text in texts)


class ExtractionReport(BaseModel):
    """Exact-match rate of the order-number rules over labelled rows, and every miss."""

    exact_match: float
    total: int
    correct: int
    errors: list[dict[str, str | None]]


def evaluate_extraction(rows: Iterable[tuple[str, str]]) -> ExtractionReport:
    """Score :func:`extract_order_number` on ``(utterance, expected order number)`` rows.

    An empty expected value means "no order number"; a row counts as correct only when the
    extracted value equals the expected one exactly (both ``None`` for empty). ``exact_match``
    is correct / total (0.0 for no rows).
    """
    total = correct = 0
    errors: list[dict[str, str | None]] = []
    for utterance, expected in rows:
        total += 1
        got = extract_order_number(utterance)
        if got == (expected.strip() or None):
            correct += 1
        else:
            errors.append({"utterance": utterance, "expected": expected or None, "got": got})
    return ExtractionReport(exact_match=correct / total if total else 0.0, total=total, correct=correct, errors=errors)
