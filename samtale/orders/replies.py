"""What the order flow says to the shopper, in English and Danish.

The not-found reply is one fixed text for both "no such order" and "the second factor does
not match" (issue 4): it never repeats the order number or the email, so two different
failures read the same, word for word.
"""

from __future__ import annotations

from typing import Literal

from samtale.orders.models import Order
from samtale.orders.trackers.base import SecondFactor

Language = Literal["en", "da"]

TEXTS: dict[str, dict[Language, str]] = {
    "ask_order_number": {
        "en": "I can look up your order. What is your order number? You can find it in your order confirmation email.",
        "da": "Jeg kan slå din ordre op. Hvad er dit ordrenummer? Du finder det i din ordrebekræftelse på e-mail.",
    },
    "ask_email": {
        "en": "Thanks. To protect your order details, please tell me the email address you used for order {number}.",
        "da": "Tak. For at beskytte dine ordreoplysninger skal jeg bruge den e-mailadresse, du brugte til "
        "ordre {number}.",
    },
    "ask_email_or_postcode": {
        "en": "Thanks. To protect your order details, please tell me the email address you used for order {number}, "
        "or the postcode of its delivery address.",
        "da": "Tak. For at beskytte dine ordreoplysninger skal jeg bruge den e-mailadresse, du brugte til ordre "
        "{number}, eller postnummeret på leveringsadressen.",
    },
    "not_found": {
        "en": "I could not find an order matching those details. Please check the order number and the email "
        "address (or postcode) and try again.",
        "da": "Jeg kunne ikke finde en ordre, der passer til de oplysninger. Tjek venligst ordrenummeret og "
        "e-mailadressen (eller postnummeret), og prøv igen.",
    },
    "locked": {
        "en": "I cannot look up more orders in this conversation. Please contact our customer service, who will "
        "be happy to help you further.",
        "da": "Jeg kan ikke slå flere ordrer op i denne samtale. Kontakt venligst vores kundeservice, som gerne "
        "hjælper dig videre.",
    },
    "unavailable": {
        "en": "Sorry, the order system is not answering right now. Please try again in a few minutes.",
        "da": "Beklager, ordresystemet svarer ikke lige nu. Prøv venligst igen om et par minutter.",
    },
    "not_configured": {
        "en": "I cannot look up orders here. Please contact our customer service about your order.",
        "da": "Jeg kan ikke slå ordrer op her. Kontakt venligst vores kundeservice om din ordre.",
    },
}

STATUS_WORDS: dict[Language, dict[str, str]] = {
    "en": {
        "pending": "received",
        "processing": "being prepared",
        "on_hold": "on hold",
        "partially_shipped": "partly shipped",
        "shipped": "shipped",
        "delivered": "delivered",
        "cancelled": "cancelled",
        "refunded": "refunded",
        "unknown": "registered",
    },
    "da": {
        "pending": "modtaget",
        "processing": "under behandling",
        "on_hold": "sat på pause",
        "partially_shipped": "delvist afsendt",
        "shipped": "afsendt",
        "delivered": "leveret",
        "cancelled": "annulleret",
        "refunded": "refunderet",
        "unknown": "registreret",
    },
}


#: The pieces of :func:`render_order`, per language.
ORDER_WORDS: dict[Language, dict[str, str]] = {
    "en": {
        "status": "Order {number} is {status}.",
        "placed": "Order {number} (placed {date}) is {status}.",
        "items": "Items: ",
        "shipped": "Shipped with {carrier}",
        "a_carrier": "a carrier",
        "tracking_number": "tracking number {number}",
        "expected": "expected {date}",
        "track_here": "Track the parcel here: {url}",
    },
    "da": {
        "status": "Ordre {number} er {status}.",
        "placed": "Ordre {number} (bestilt {date}) er {status}.",
        "items": "Varer: ",
        "shipped": "Forsendelse med {carrier}",
        "a_carrier": "fragtfirma",
        "tracking_number": "trackingnummer {number}",
        "expected": "forventet levering {date}",
        "track_here": "Følg pakken her: {url}",
    },
}


def text(key: str, language: Language, **values: str) -> str:
    """The reply ``key`` in ``language`` with ``{placeholders}`` filled in."""
    return TEXTS[key][language].format(**values)


def ask_second_factor(order_number: str, factors: tuple[SecondFactor, ...], language: Language) -> str:
    """Ask for the email, or the email or postcode where the shop accepts a postcode."""
    key = "ask_email_or_postcode" if "postcode" in factors else "ask_email"
    return text(key, language, number=order_number)


def render_order(order: Order, language: Language) -> str:
    """A short plain-text account of a verified order (status, items, tracking links)."""
    status = STATUS_WORDS[language].get(order.status, order.status)
    number = order.order_number if order.order_number.startswith("#") else f"#{order.order_number}"
    words = ORDER_WORDS[language]
    if order.placed_at:
        lines = [words["placed"].format(number=number, date=order.placed_at.date().isoformat(), status=status)]
    else:
        lines = [words["status"].format(number=number, status=status)]
    if order.items:
        lines.append(words["items"] + ", ".join(f"{item.quantity} × {item.name}" for item in order.items) + ".")
    for shipment in order.shipments:
        parts = [words["shipped"].format(carrier=shipment.carrier or words["a_carrier"])]
        if shipment.tracking_number:
            parts.append(words["tracking_number"].format(number=shipment.tracking_number))
        if shipment.estimated_delivery:
            parts.append(words["expected"].format(date=shipment.estimated_delivery.date().isoformat()))
        lines.append(", ".join(parts) + ".")
        if shipment.tracking_url:
            lines.append(words["track_here"].format(url=shipment.tracking_url))
    return "\n".join(lines)
