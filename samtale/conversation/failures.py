"""What the shopper is told when a turn fails, and the errors only a turn raises.

The operator's message (error log, ``error`` event ``message``) says what broke; the shopper's
sentence (``shopper_message``, and the stored assistant message) says what it means for them,
in the chatbot's language, and never names a system or leaks a detail.
"""

from __future__ import annotations

from samtale.errors import ErrorCategory, SamtaleError

FAILURE_MESSAGES: dict[str, dict[ErrorCategory, str]] = {
    "en": {
        ErrorCategory.LLM: "Sorry, our assistant is not answering right now. Please try again in a moment.",
        ErrorCategory.TEMPLATE: "Sorry, this chatbot is misconfigured right now. The shop has been notified.",
        ErrorCategory.VECTOR_STORE: "Sorry, I cannot search the shop's information right now. Please try again.",
        ErrorCategory.ORDER_API: "Sorry, the order system is not answering right now. Please try again later.",
    },
    "da": {
        ErrorCategory.LLM: "Beklager, vores assistent svarer ikke lige nu. Prøv igen om et øjeblik.",
        ErrorCategory.TEMPLATE: "Beklager, denne chatbot er fejlkonfigureret lige nu. Butikken er underrettet.",
        ErrorCategory.VECTOR_STORE: "Beklager, jeg kan ikke søge i butikkens oplysninger lige nu. Prøv igen.",
        ErrorCategory.ORDER_API: "Beklager, ordresystemet svarer ikke lige nu. Prøv igen senere.",
    },
}
"""The shopper's sentence for a failure, by chatbot language and error category."""

GENERIC_FAILURE: dict[str, str] = {
    "en": "Sorry, something went wrong while answering. Please try again.",
    "da": "Beklager, noget gik galt under svaret. Prøv igen.",
}
"""The shopper's sentence for a failure no category phrase covers."""


def shopper_failure_message(*, category: ErrorCategory, language: str) -> str:
    """The sentence shown to the shopper for a failure of ``category`` in ``language``
    (``en``/``da``; an unknown language gets English)."""
    language = language if language in GENERIC_FAILURE else "en"
    return FAILURE_MESSAGES[language].get(category, GENERIC_FAILURE[language])


class TurnStoppedError(SamtaleError):
    """The client asked to stop this answer (``POST /api/stream/{id}/stop``)."""

    code = "stopped"
    category = ErrorCategory.STREAMING


class OrderSystemUnavailableError(SamtaleError):
    """The shop's order API failed or no order integration is configured.

    Args:
        message: what broke, for the operator (e.g. ``order API timeout (shopify)``).
        shopper_message: the order flow's reply to the shopper, in the chatbot's language.
    """

    code = "order_api_unavailable"
    category = ErrorCategory.ORDER_API

    def __init__(self, message: str, *, shopper_message: str) -> None:
        super().__init__(message)
        self.shopper_message = shopper_message
