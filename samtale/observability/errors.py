"""Categorised error logging (seed 000 §4.1): a row in ``error_logs`` with recovery and system state.

Context is scrubbed before it is stored or logged: keys that name credentials or a shopper's
personal data are dropped, and e-mail addresses, phone numbers, bearer tokens and secrets in URL
query strings are masked inside string values.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from samtale.errors import RECOVERY_SUGGESTIONS, ErrorCategory, SamtaleError
from samtale.observability import metrics
from samtale.observability.system import system_state
from samtale.storage.db import Database
from samtale.storage.models.observability import ErrorLog

log = logging.getLogger(__name__)

SENSITIVE_KEY_PARTS = frozenset(
    {
        "token", "password", "passwd", "secret", "authorization", "auth", "cookie", "credential",
        "credentials", "email", "mail", "phone", "mobile", "telephone", "address", "postcode", "zip",
        "zipcode", "postal", "firstname", "lastname", "fullname", "surname", "ssn", "cpr", "iban", "card",
    }
)  # fmt: skip
"""A context key is dropped when one of its words (split on ``_``, ``-``, ``.``, space, camelCase)
is one of these."""
SENSITIVE_KEY_JOINED = ("apikey", "secretkey", "accesskey", "privatekey", "customername", "shippingname")
"""…or when the key, lower-cased without separators, contains one of these."""

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w/])\+?\d(?:[\s\-().]?\d){7,14}(?![\w/])")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[\w\-.~+/=]+")
_QUERY_SECRET = re.compile(r"(?i)([?&](?:token|key|api_key|apikey|password|secret|signature|sig)=)[^&\s#]+")
MAX_STRING_CHARS = 2000
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
"""A whole value of this shape is an id (a stream's, a conversation's), never personal data: kept as
it is. Masked, ``088c6fdc-0262-4357-…`` would lose ``0262-4357`` to the phone pattern and the error
row its link to the stream (the shopper's erasure finds error rows by that id)."""


def _key_is_sensitive(key: str) -> bool:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", key).lower()
    words = set(re.split(r"[\s_\-.]+", spaced))
    joined = re.sub(r"[\s_\-.]+", "", key.lower())
    return bool(words & SENSITIVE_KEY_PARTS) or any(part in joined for part in SENSITIVE_KEY_JOINED)


def mask_text(text: str) -> str:
    """Mask e-mail addresses, phone-like numbers (8–15 digits, optionally grouped), bearer/basic
    credentials and secret query parameters in ``text``; truncate to ``MAX_STRING_CHARS``."""
    text = _EMAIL.sub("[email]", text)
    text = _BEARER.sub(r"\1 [redacted]", text)
    text = _QUERY_SECRET.sub(r"\1[redacted]", text)
    text = _PHONE.sub("[phone]", text)
    return text if len(text) <= MAX_STRING_CHARS else text[:MAX_STRING_CHARS] + "…"


def scrub_context(value: Any) -> Any:
    """A JSON-safe copy of ``value`` with sensitive keys dropped and strings masked (recursive);
    a string that is a whole UUID is kept (an id, see :data:`_UUID`).

    Non-JSON leaves (datetimes, exceptions…) become their masked ``str()``.
    """
    if isinstance(value, Mapping):
        return {str(k): scrub_context(v) for k, v in value.items() if not _key_is_sensitive(str(k))}
    if isinstance(value, list | tuple | set | frozenset):
        return [scrub_context(v) for v in value]
    if isinstance(value, str):
        return value if _UUID.fullmatch(value) else mask_text(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return mask_text(str(value))


async def log_error(
    *,
    db: Database,
    category: ErrorCategory,
    code: str,
    message: str,
    chatbot_id: str | None,
    context: Mapping[str, Any],
) -> None:
    """Store one categorised error in ``error_logs`` and count it in Prometheus.

    Args:
        db: the process database.
        category: one of seed 000's categories; its recovery suggestion is stored with the row.
        code: machine-readable error code (``order_api_timeout``…), at most 64 characters.
        message: what happened, for an operator (masked like context values).
        chatbot_id: the tenant, or None for process-wide errors.
        context: facts for debugging (flow, route key, URL host, attempt…); scrubbed of secrets
            and personal data before it is stored.

    Never raises: when the database itself is failing, the error is written to the log instead.
    """
    metrics.count_error(category)
    row = ErrorLog(
        chatbot_id=chatbot_id,
        category=category.value,
        code=code[:64],
        message=mask_text(message),
        recovery=RECOVERY_SUGGESTIONS.get(category),
        context=scrub_context(context),
        system_state=system_state(),
    )
    log.warning("%s error %s: %s", category.value, row.code, row.message, extra={"error_category": category.value})
    try:
        async with db.session() as session:
            session.add(row)
    except Exception:
        log.exception("could not store the %s error %s in error_logs", category.value, row.code)


async def log_exception(
    *, db: Database, error: BaseException, chatbot_id: str | None, context: Mapping[str, Any]
) -> None:
    """:func:`log_error` for an exception: a :class:`SamtaleError` gives its own category, code and
    message; any other exception is logged as ``network``/``unexpected_error`` with its type name."""
    if isinstance(error, SamtaleError):
        category, code, message = error.category, error.code, error.message
    else:
        category, code, message = ErrorCategory.NETWORK, "unexpected_error", f"{type(error).__name__}: {error}"
    await log_error(db=db, category=category, code=code, message=message, chatbot_id=chatbot_id, context=context)


async def log_turn_failure(
    *,
    db: Database,
    chatbot_id: str,
    category: ErrorCategory | str,
    message: str,
    streaming_session_id: str | None,
    flow_type: str | None,
    provider: str | None,
) -> None:
    """:func:`log_error` for a turn the recorder wrote as failed: code ``turn_<category>``, with the
    turn's stream, flow and LLM provider as context.

    Args:
        db: the process database.
        chatbot_id: the chatbot whose turn failed.
        category: the turn's error category (an :class:`~samtale.errors.ErrorCategory` or its value,
            as the turn's metrics carry it).
        message: what went wrong, for an operator (masked before it is stored).
        streaming_session_id: the turn's stream id, when it streamed.
        flow_type: the flow that handled the turn (``main``, ``apiflow``…), when known.
        provider: the LLM provider's name, when one was called.

    Raises:
        ValueError: ``category`` is not one of :class:`~samtale.errors.ErrorCategory`'s values.
        Nothing else: a failing database is written to the log instead (see :func:`log_error`).
    """
    resolved = ErrorCategory(category)
    await log_error(
        db=db,
        category=resolved,
        code=f"turn_{resolved.value}",
        message=message,
        chatbot_id=chatbot_id,
        context={"streaming_session_id": streaming_session_id, "flow_type": flow_type, "provider": provider},
    )
