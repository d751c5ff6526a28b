"""The order flow of one conversation turn: extract, ask for what is missing, verify, answer.

The conversation pipeline calls :func:`handle_order_turn` for a message routed to the order
flow, persists ``result.state`` with the conversation, streams ``result.summary`` as the
``order`` SSE event when there is one, and either shows ``result.reply`` as it is or gives it
(with the summary) to the LLM to word. Order details are only ever produced after the order
number AND a second factor matched the order, inside the tracker (DESIGN section 11).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from samtale.chatbots.schema import OrderFlowSettings
from samtale.llm.base import LLMProvider
from samtale.orders.errors import OrderAPIError
from samtale.orders.extraction import ExtractedVariables, extract_order_variables
from samtale.orders.llm_extraction import LLMExtraction, LLMOrderExtractor, fits_order_format
from samtale.orders.models import Order
from samtale.orders.replies import Language, ask_second_factor, render_order, text
from samtale.orders.trackers.base import Tracker, normalise_order_number

logger = logging.getLogger("samtale.orders.flow")

OrderTurnKind = Literal["ask_order_number", "ask_second_factor", "order", "not_found", "locked", "unavailable"]
DEFAULT_MAX_FAILED_ATTEMPTS = 5


@dataclass(frozen=True)
class OrderTurnResult:
    """What the order flow decided for one turn.

    Attributes:
        kind: ``ask_order_number`` / ``ask_second_factor`` (a question), ``order`` (verified),
            ``not_found`` (no such order OR wrong second factor: one reply for both), ``locked``
            (too many failed attempts: points to human support), ``unavailable`` (the order API
            failed, or no order integration is configured).
        reply: the text for the shopper, in the chatbot's language.
        extracted: the order number, email, postcode and phone found in the message and history.
        state: the conversation's order state to persist (counts, no personal data).
        order: the verified order, only when ``kind == "order"``.
        error: the order API error behind ``unavailable`` (category ``order_api``), if any.
        llm_extraction: what the LLM extractor did, when it was asked (see
            :mod:`samtale.orders.llm_extraction`); None when it is off or was not needed.
    """

    kind: OrderTurnKind
    reply: str
    extracted: ExtractedVariables
    state: dict[str, Any] = field(default_factory=dict)
    order: Order | None = None
    error: OrderAPIError | None = None
    llm_extraction: LLMExtraction | None = None

    @property
    def summary(self) -> dict[str, Any] | None:
        """The order summary for the prompt and the ``order`` SSE event (no personal data)."""
        return self.order.to_summary() if self.order is not None else None


def _attempt_key(order_number: str, email: str | None, postcode: str | None) -> str:
    """A short one-way fingerprint of one lookup, so a repeated failed lookup is not re-sent."""
    material = f"{order_number.casefold()}|{(email or '').casefold()}|{(postcode or '').replace(' ', '').upper()}"
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:16]


async def handle_order_turn(
    *,
    message: str,
    history: Sequence[tuple[str, str]],
    state: dict[str, Any],
    tracker: Tracker | None,
    language: Language,
    max_failed_attempts: int = DEFAULT_MAX_FAILED_ATTEMPTS,
    settings: OrderFlowSettings | None = None,
    llm: LLMProvider | None = None,
) -> OrderTurnResult:
    """Run the order flow for one shopper message.

    Args:
        message: the shopper's new message.
        history: earlier turns, oldest first, as ``(role, content)`` (``user``/``assistant``).
        state: this conversation's order state from the previous turn (``{}`` at first); not
            modified, the updated copy is in the result.
        tracker: the chatbot's order tracker, or None when no order integration is configured.
        language: the chatbot's language (``en`` or ``da``).
        max_failed_attempts: failed lookups (not found or mismatch) allowed per conversation
            before the flow stops looking up and points to human support (issue 4: 5); the
            process default, replaced by ``settings.max_failed_attempts`` when given.
        settings: the apiflow's ``orders:`` block (lockout limit, LLM extraction, the shop's
            order-number format), or None for the defaults.
        llm: the flow's LLM provider, asked for the variables the rules missed when
            ``settings.llm_extraction`` is on (otherwise unused).

    Extraction: the rules run first; a rule-found order number that does not fit
    ``settings.order_number_pattern`` is dropped. Only when the flow still lacks the order
    number or a second factor is the LLM asked (when enabled); its validated values fill the
    gaps and never replace what the rules found. Order number precedence: rules, then LLM,
    then the number remembered from an earlier turn.

    Returns:
        The decision, the reply, what was extracted and the new state. Never raises for an
        order-API failure: that is ``kind="unavailable"`` with ``error`` set.
    """
    limit = settings.max_failed_attempts if settings is not None else max_failed_attempts
    pattern = settings.order_number_pattern if settings is not None else None
    extracted = extract_order_variables(message=message, history=history)
    if extracted.order_number:
        found = normalise_order_number(extracted.order_number)
        if found is None or not fits_order_format(found, pattern):
            extracted = extracted.model_copy(update={"order_number": None})
    llm_extraction: LLMExtraction | None = None
    new_state: dict[str, Any] = {
        "failed_attempts": int(state.get("failed_attempts", 0)),
        "tried": list(state.get("tried", [])),
    }
    if state.get("order_number"):
        new_state["order_number"] = state["order_number"]

    def result(kind: OrderTurnKind, reply: str, **extra: Any) -> OrderTurnResult:
        return OrderTurnResult(
            kind=kind, reply=reply, extracted=extracted, state=new_state, llm_extraction=llm_extraction, **extra
        )

    if new_state["failed_attempts"] >= limit:
        logger.info("order turn: locked after %d failed attempts", new_state["failed_attempts"])
        return result("locked", text("locked", language))
    if tracker is None:
        return result("unavailable", text("not_configured", language))

    allows_postcode = "postcode" in tracker.second_factors
    rules_number = normalise_order_number(extracted.order_number) if extracted.order_number else None
    lacks_factor = not extracted.email and not (allows_postcode and extracted.postcode)
    if settings is not None and settings.llm_extraction and llm is not None:
        if (not rules_number and not new_state.get("order_number")) or lacks_factor:
            extractor = LLMOrderExtractor(
                provider=llm, timeout_s=settings.llm_timeout_s, order_number_pattern=settings.order_number_pattern
            )
            llm_extraction = await extractor.extract(message=message, history=history)
            extracted = extracted.merged_with(llm_extraction.variables)
    number = normalise_order_number(extracted.order_number) if extracted.order_number else None
    number = number or new_state.get("order_number")
    if not number:
        return result("ask_order_number", text("ask_order_number", language))
    new_state["order_number"] = number

    postcode = extracted.postcode if allows_postcode else None
    if not extracted.email and not postcode:
        return result("ask_second_factor", ask_second_factor(number, tracker.second_factors, language))

    key = _attempt_key(number, extracted.email, postcode)
    if key in new_state["tried"]:
        # The same details failed before: same reply, no new lookup, no new count.
        return result("not_found", text("not_found", language))
    try:
        order = await tracker.find_order(order_number=number, email=extracted.email, postcode=postcode)
    except OrderAPIError as exc:
        logger.warning("order turn: order API unavailable (tracker=%s, error=%s)", tracker.kind, exc.code)
        return result("unavailable", text("unavailable", language), error=exc)
    if order is None:
        new_state["failed_attempts"] += 1
        new_state["tried"] = [*new_state["tried"], key][-limit:]
        # Counts only: never the order number, email or postcode (personal data).
        logger.info("order turn: no order matches (failed attempt %d of %d)", new_state["failed_attempts"], limit)
        if new_state["failed_attempts"] >= limit:
            return result("locked", text("locked", language))
        return result("not_found", text("not_found", language))
    return result("order", render_order(order, language), order=order)
