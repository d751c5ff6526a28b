"""Cue words that tell what a number in a message is (order, invoice, amount, phone, postcode…).

English and Danish words, plus a tolerance of one typo (two for long words) on the order and
invoice words, because shoppers type *oredr*, *purhase* and *bil* (all seen in the Bitext
training file). Used by :mod:`samtale.orders.extraction`.
"""

from __future__ import annotations

from enum import Enum
from functools import lru_cache


class Cue(Enum):
    """What the word before a number says the number is."""

    ORDER = "order"
    INVOICE = "invoice"
    AMOUNT = "amount"
    PHONE = "phone"
    POSTCODE = "postcode"
    TRACKING = "tracking"
    OTHER_ID = "other_id"


EXACT: dict[Cue, frozenset[str]] = {
    Cue.ORDER: frozenset(
        {
            "order",
            "orders",
            "ordered",
            "ordernumber",
            "ordernr",
            "orderno",
            "order#",
            "purchase",
            "purchases",
            "purchased",
            "ordre",
            "ordren",
            "ordrer",
            "ordrenummer",
            "ordrenr",
            "bestilling",
            "bestillingen",
            "bestillingsnummer",
            "køb",
            "købet",
        }
    ),
    Cue.INVOICE: frozenset(
        {
            "invoice",
            "invoices",
            "bill",
            "bills",
            "receipt",
            "receipts",
            "statement",
            "faktura",
            "fakturaen",
            "fakturanummer",
            "fakturanr",
            "kvittering",
            "kvitteringen",
            "regning",
            "regningen",
        }
    ),
    Cue.AMOUNT: frozenset(
        {
            "refund",
            "refunds",
            "refunding",
            "refunded",
            "reimburse",
            "reimbursed",
            "reimbursement",
            "rebate",
            "rebating",
            "compensation",
            "compensate",
            "restitution",
            "paid",
            "pay",
            "paying",
            "payment",
            "cost",
            "costs",
            "price",
            "charged",
            "charge",
            "amount",
            "total",
            "refusion",
            "refundering",
            "betalt",
            "betaling",
            "beløb",
            "beløbet",
            "pris",
            "prisen",
            "kostede",
            "dollars",
            "dollar",
            "kroner",
        }
    ),
    Cue.PHONE: frozenset(
        {
            "phone",
            "telephone",
            "tel",
            "tlf",
            "mobile",
            "mobil",
            "cell",
            "call",
            "ring",
            "telefon",
            "telefonnummer",
            "mobilnummer",
            "whatsapp",
            "sms",
        }
    ),
    Cue.POSTCODE: frozenset({"postcode", "zip", "zipcode", "postal", "postnummer", "postnr"}),
    Cue.TRACKING: frozenset({"tracking", "trackingnummer", "pakkenummer", "sendingsnummer", "parcel", "pakke"}),
    Cue.OTHER_ID: frozenset({"customer", "kundenummer", "kundenr", "account", "konto", "sku", "item", "article"}),
}
#: Words checked with typo tolerance, and the category a near miss maps to.
FUZZY: dict[str, Cue] = {
    "order": Cue.ORDER,
    "ordered": Cue.ORDER,
    "purchase": Cue.ORDER,
    "ordre": Cue.ORDER,
    "bestilling": Cue.ORDER,
    "invoice": Cue.INVOICE,
    "bill": Cue.INVOICE,
    "receipt": Cue.INVOICE,
    "faktura": Cue.INVOICE,
    "reimburse": Cue.AMOUNT,
    "restitution": Cue.AMOUNT,
    "compensation": Cue.AMOUNT,
}
#: Common words one edit away from a cue word that must not count as one.
NOT_FUZZY = frozenset(
    {"will", "till", "still", "fill", "kill", "hill", "mill", "pill", "ball", "bell", "all", "ill", "older", "border"}
)


def _edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance (a swap of two neighbours counts as one edit), capped."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, start=1):
            cost = 0 if char_a == char_b else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


@lru_cache(maxsize=4096)
def cue_of(word: str) -> Cue | None:
    """The cue category of one word (case-insensitive), allowing typos on order/invoice words."""
    lowered = word.lower().strip("#")
    for cue, words in EXACT.items():
        if lowered in words:
            return cue
    if len(lowered) < 3 or lowered in NOT_FUZZY or not lowered.isalpha():
        return None
    for target, cue in FUZZY.items():
        limit = 1 if len(target) <= 6 else 2
        if _edit_distance(lowered, target, limit) <= limit:
            return cue
    return None


QUESTION_CUES: tuple[tuple[Cue, tuple[str, ...]], ...] = (
    (Cue.ORDER, ("order number", "ordrenummer", "ordrenr")),
    (Cue.POSTCODE, ("postcode", "post code", "postal code", "zip", "postnummer")),
    (Cue.PHONE, ("phone number", "telefonnummer")),
)


def expected_from_question(assistant_turn: str | None) -> Cue | None:
    """What the assistant's last turn asked for (order number, postcode or phone), if anything."""
    if not assistant_turn:
        return None
    lowered = assistant_turn.lower()
    for cue, phrases in QUESTION_CUES:
        if any(phrase in lowered for phrase in phrases):
            return cue
    return None
