"""The offline answerer: the default provider when no model is configured (DESIGN section 10).

It composes a grounded reply from what the turn already has, in the chatbot's language
(English or Danish), and says it is an automatic answer:

- an order summary (the keys of :meth:`samtale.orders.models.Order.to_summary`: ``order_number``,
  ``status``, ``items[{name, quantity}]``, ``shipments[{carrier, tracking_number,
  tracking_url, estimated_delivery}]``) becomes its status, items, carrier and tracking;
- catalogue chunks (CSV rows: a price column in the metadata, or ``column: value`` lines naming
  metadata keys) become a list of the products by title, with price and the first sentence of
  their description, those whose titles share most words with the question first;
- other chunks (policies, pages) give their sentences sharing most words with the question.

It never adds anything that is not in the request: no product, price or rule of its own. No
context and no order gives a reply that says nothing was found and suggests contacting the shop.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from samtale.llm.base import (
    Completion,
    GenerationRequest,
    LLMResponseError,
    StreamItem,
    TextDelta,
    Usage,
    count_words,
    word_pieces,
)
from samtale.llm.context import ContextChunk, MetadataValue
from samtale.llm.offline_text import QueryTerms, first_sentence, idf, sentences, strip_front_matter

TITLE_KEYS = ("title", "name", "product_name", "product", "product name")
PRICE_KEYS = ("price", "variant price", "variant_price", "sale_price", "pris")
CURRENCY_KEYS = ("currency", "price_currency", "valuta")
DESCRIPTION_KEYS = ("description", "body (html)", "body", "summary", "short_description", "beskrivelse")

PHRASES: dict[str, dict[str, str]] = {
    "en": {
        "label": "(Automatic answer from our catalogue and policies)",
        "label_order": "(Automatic answer from our order system)",
        "products": "These products in our catalogue match your question:",
        "policies": "From our terms and policies:",
        "closest": "This is the closest I found in our terms and policies:",
        "price": "price",
        "nothing": "I could not find anything about that in our catalogue or policies.",
        "contact": "Please contact {shop} directly, and they will be glad to help you.",
        "the_shop": "the shop",
        "order": "Order {number}: {status}.",
        "items": "Items: {items}.",
        "carrier": "Carrier: {carrier}.",
        "tracking_number": "Tracking number: {number}.",
        "tracking_url": "Track your parcel here: {url}",
        "eta": "Expected delivery: {date}.",
    },
    "da": {
        "label": "(Automatisk svar ud fra vores katalog og betingelser)",
        "label_order": "(Automatisk svar fra vores ordresystem)",
        "products": "Disse produkter i vores katalog passer til dit spørgsmål:",
        "policies": "Fra vores handelsbetingelser:",
        "closest": "Det nærmeste, jeg fandt i vores handelsbetingelser:",
        "price": "pris",
        "nothing": "Jeg kunne desværre ikke finde noget om det i vores katalog eller betingelser.",
        "contact": "Kontakt venligst {shop} direkte, så hjælper de dig gerne.",
        "the_shop": "butikken",
        "order": "Ordre {number}: {status}.",
        "items": "Varer: {items}.",
        "carrier": "Fragtfirma: {carrier}.",
        "tracking_number": "Trackingnummer: {number}.",
        "tracking_url": "Følg din pakke her: {url}",
        "eta": "Forventet levering: {date}.",
    },
}

# The status vocabulary of samtale.orders.models.ORDER_STATUSES, as a shopper reads it.
STATUS_PHRASES: dict[str, dict[str, str]] = {
    "en": {
        "pending": "received and waiting to be processed",
        "processing": "being prepared",
        "on_hold": "on hold",
        "partially_shipped": "partly shipped",
        "shipped": "shipped",
        "delivered": "delivered",
        "cancelled": "cancelled",
        "refunded": "refunded",
        "unknown": "status not known yet",
    },
    "da": {
        "pending": "modtaget og venter på behandling",
        "processing": "ved at blive gjort klar",
        "on_hold": "sat i bero",
        "partially_shipped": "delvist afsendt",
        "shipped": "afsendt",
        "delivered": "leveret",
        "cancelled": "annulleret",
        "refunded": "refunderet",
        "unknown": "status endnu ukendt",
    },
}


@dataclass(frozen=True, slots=True)
class _Product:
    key: str
    title: str
    price: str | None
    description: str
    rank: tuple[int, int, int]


class OfflineProvider:
    """Answers from the retrieved chunks and the order summary, with no model (pure Python).

    Args:
        max_products: the most catalogue products listed.
        max_sentences: the most policy sentences quoted.
        max_sentence_chars: sentences longer than this are cut at a word.
    """

    name = "offline"

    def __init__(self, *, max_products: int = 5, max_sentences: int = 3, max_sentence_chars: int = 400) -> None:
        self.max_products = max_products
        self.max_sentences = max_sentences
        self.max_sentence_chars = max_sentence_chars

    def answer(self, request: GenerationRequest) -> str:
        """The whole reply to ``request`` (see the module doc for how it is composed)."""
        language = request.language if request.language in PHRASES else "en"
        phrases = PHRASES[language]
        terms = QueryTerms(request.question, language=language)
        sections: list[str] = []
        if request.order:
            sections.append(_order_section(request.order, language))
        products: list[_Product] = []
        texts: list[ContextChunk] = []
        for position, chunk in enumerate(request.context):
            product = _product_of(chunk, terms, position, language)
            if product is not None:
                products.append(product)
            else:
                texts.append(chunk)
        if products:
            sections.append(self._products_section(products, phrases))
        if texts:
            sections.append(self._policy_section(texts, terms, language, phrases))
        if not sections:
            shop = request.chatbot_name or phrases["the_shop"]
            sections.append(f"{phrases['nothing']} {phrases['contact'].format(shop=shop)}")
        label = phrases["label_order"] if request.order and not request.context else phrases["label"]
        return "\n\n".join([label, *sections])

    def _products_section(self, products: list[_Product], phrases: Mapping[str, str]) -> str:
        seen: set[str] = set()
        lines = [phrases["products"]]
        for product in sorted(products, key=lambda p: p.rank):
            if product.key in seen:
                continue
            seen.add(product.key)
            line = f"- {product.title}"
            if product.price is not None:
                line += f" — {phrases['price']} {product.price}"
            line += "."
            if product.description:
                line += f" {product.description}"
            lines.append(line)
            if len(seen) >= self.max_products:
                break
        return "\n".join(lines)

    def _policy_section(
        self, chunks: list[ContextChunk], terms: QueryTerms, language: str, phrases: Mapping[str, str]
    ) -> str:
        candidates: list[tuple[int, int, str, set[str]]] = []
        seen: set[str] = set()
        for chunk_rank, chunk in enumerate(chunks):
            for position, sentence in enumerate(sentences(chunk.text)):
                if sentence in seen or len(sentence) < 12:
                    continue
                seen.add(sentence)
                candidates.append((chunk_rank, position, sentence, terms.matched(sentence)))
        frequency: dict[str, int] = {}
        for *_, matched in candidates:
            for term in matched:
                frequency[term] = frequency.get(term, 0) + 1
        scored = [
            (sum(idf(frequency[t], len(candidates)) for t in matched), chunk_rank, position, sentence)
            for chunk_rank, position, sentence, matched in candidates
            if matched
        ]
        if scored:
            best = sorted(scored, key=lambda s: (-s[0], s[1], s[2]))[: self.max_sentences]
            heading = phrases["policies"]
        else:
            best = [(0.0, rank, pos, sentence) for rank, pos, sentence, _ in candidates if rank == 0][:2]
            heading = phrases["closest"]
        chosen = [self._cut(sentence) for *_, sentence in sorted(best, key=lambda s: (s[1], s[2]))]
        return "\n".join([heading, *(f"- {sentence}" for sentence in chosen)]) if chosen else ""

    def _cut(self, sentence: str) -> str:
        if len(sentence) <= self.max_sentence_chars:
            return sentence
        return sentence[: self.max_sentence_chars].rsplit(" ", 1)[0] + "…"

    def _usage(self, request: GenerationRequest, reply: str) -> Usage:
        prompt = count_words(*(message.content for message in request.messages))
        return Usage(prompt_tokens=prompt, completion_tokens=count_words(reply), estimated=True)

    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamItem]:
        """Yield the reply word by word (whitespace kept), then its :class:`Usage` in words."""
        reply = self.answer(request)
        for piece in word_pieces(reply):
            yield TextDelta(piece)
        yield self._usage(request, reply)

    async def complete(self, request: GenerationRequest) -> Completion:
        """The whole reply at once.

        Raises:
            LLMResponseError: ``request.response_format`` asks for structured output, which an
                extractive answerer cannot produce (configure a model for that chatbot).
        """
        if request.response_format is not None:
            raise LLMResponseError(
                "the offline answerer cannot produce structured (JSON schema) output; configure an LLM model"
            )
        reply = self.answer(request)
        return Completion(text=reply, usage=self._usage(request, reply), model=None)


def _field(metadata: Mapping[str, MetadataValue], keys: Sequence[str]) -> MetadataValue:
    for key in keys:
        value = metadata.get(key)
        if value is not None and value != "" and not (isinstance(value, float) and math.isnan(value)):
            return value
    return None


def _price_text(value: MetadataValue, currency: MetadataValue) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        text = str(int(value)) if value.is_integer() else f"{value:.2f}"
    else:
        text = str(value).strip()
    return f"{text} {currency}" if currency else text


def _is_record(chunk: ContextChunk, metadata: Mapping[str, MetadataValue]) -> bool:
    """True for a catalogue row: a price in its metadata, or ≥ 2 ``column: value`` lines naming metadata keys."""
    if any(key in metadata for key in PRICE_KEYS):
        return True
    named = 0
    for line in strip_front_matter(chunk.text).splitlines():
        key, colon, _ = line.partition(":")
        if colon and key.strip().lower() in metadata:
            named += 1
            if named >= 2:
                return True
    return False


def _product_of(chunk: ContextChunk, terms: QueryTerms, position: int, language: str) -> _Product | None:
    metadata = {key.lower(): value for key, value in chunk.metadata.items()}
    if not metadata or not _is_record(chunk, metadata):
        return None
    title_value = _field(metadata, TITLE_KEYS) or chunk.title
    if not title_value:
        return None
    title = str(title_value).strip()
    description = _field(metadata, DESCRIPTION_KEYS)
    title_overlap = len(terms.matched(title))
    text_overlap = len(terms.matched(chunk.text))
    return _Product(
        key=chunk.document_id or title,
        title=title,
        price=_price_text(_field(metadata, PRICE_KEYS), _field(metadata, CURRENCY_KEYS)),
        description=first_sentence(str(description)) if description is not None else "",
        rank=(-title_overlap, -text_overlap, position),
    )


def _get(mapping: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = mapping.get(key)
        if value not in (None, "", []):
            return value
    return None


def _order_section(order: Mapping[str, Any], language: str) -> str:
    phrases, statuses = PHRASES[language], STATUS_PHRASES[language]
    status_value = str(_get(order, "status", "fulfillment_status") or "unknown").lower()
    status = statuses.get(status_value, status_value.replace("_", " "))
    number = _get(order, "order_number", "number", "name", "id") or "?"
    lines = [phrases["order"].format(number=number, status=status)]
    items = []
    for item in _get(order, "items", "line_items") or []:
        if isinstance(item, Mapping):
            name = _get(item, "name", "title")
            quantity = _get(item, "quantity", "qty")
            if name:
                items.append(f"{quantity} × {name}" if quantity is not None else str(name))
    if items:
        lines.append(phrases["items"].format(items=", ".join(items)))
    shipments = [s for s in _get(order, "shipments", "fulfillments") or [] if isinstance(s, Mapping)]
    if not shipments and _get(order, "carrier", "tracking_number", "tracking_url"):
        shipments = [order]
    for shipment in shipments:
        carrier = _get(shipment, "carrier", "tracking_company")
        tracking_number = _get(shipment, "tracking_number")
        tracking_url = _get(shipment, "tracking_url")
        eta = _get(shipment, "estimated_delivery")
        if carrier:
            lines.append(phrases["carrier"].format(carrier=carrier))
        if tracking_number:
            lines.append(phrases["tracking_number"].format(number=tracking_number))
        if tracking_url:
            lines.append(phrases["tracking_url"].format(url=tracking_url))
        if eta:
            lines.append(phrases["eta"].format(date=str(eta)[:10]))
    return " ".join(lines)
