"""Structured logs: JSON lines in production, readable text in development.

Every record carries the ids bound in the current context — ``request_id``, ``chatbot_id``,
``session_id``, ``streaming_session_id`` — so one turn can be followed across the pipeline, the
generation task and the persist step. Ids live in :mod:`contextvars`: a task created after
:func:`bind_log_context` inherits them (asyncio copies the context into new tasks); binding in
a task never leaks back into its parent.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

LOG_CONTEXT_FIELDS = ("request_id", "chatbot_id", "session_id", "streaming_session_id")
_context: dict[str, ContextVar[str | None]] = {
    name: ContextVar(f"samtale_{name}", default=None) for name in LOG_CONTEXT_FIELDS
}
_HANDLER_NAME = "samtale"
_STANDARD_ATTRS = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


def bind_log_context(
    *,
    request_id: str | None = None,
    chatbot_id: str | None = None,
    session_id: str | None = None,
    streaming_session_id: str | None = None,
) -> None:
    """Attach ids to every log record written from here on in this context (None leaves one as is)."""
    values = {
        "request_id": request_id,
        "chatbot_id": chatbot_id,
        "session_id": session_id,
        "streaming_session_id": streaming_session_id,
    }
    for name, value in values.items():
        if value is not None:
            _context[name].set(value)


def clear_log_context() -> None:
    """Forget every bound id in this context (e.g. at the start of a request)."""
    for var in _context.values():
        var.set(None)


def current_log_context() -> dict[str, str]:
    """The ids bound in this context, without the unset ones."""
    return {name: value for name, var in _context.items() if (value := var.get()) is not None}


@contextmanager
def log_context(**ids: str | None) -> Iterator[None]:
    """Bind ``ids`` (names from :data:`LOG_CONTEXT_FIELDS`) for the ``with`` block, then restore."""
    unknown = set(ids) - set(LOG_CONTEXT_FIELDS)
    if unknown:
        raise ValueError(f"unknown log context field(s): {sorted(unknown)}")
    tokens = [(_context[name], _context[name].set(value)) for name, value in ids.items() if value is not None]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class ContextFilter(logging.Filter):
    """Copies the bound ids onto each record as attributes (``record.chatbot_id``…)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _context.items():
            if not hasattr(record, name):
                setattr(record, name, var.get())
        return True


_SECRET_QUERY = re.compile(
    r"([?&;](?:token|session_token|key|api_key|apikey|access_token|secret|password|signature|sig|code|auth)=)"
    r"[^&;\s\"'#]+",
    re.IGNORECASE,
)
_BEARER = re.compile(r"((?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)
SCRUBBED_LOGGERS = ("httpx", "uvicorn.access", "uvicorn.error")
"""The loggers that write request URLs themselves (a filter on a logger sees only the records
logged on that very logger, not its children's; samtale's own stderr handler scrubs every record)."""


def scrub_secrets(text: str) -> str:
    """``text`` with the values of credential-like query parameters (``?token=``, ``api_key=``,
    ``access_token=``…) and ``Bearer``/``Basic`` credentials replaced by ``***``."""
    if "=" not in text and "earer" not in text and "asic" not in text:
        return text
    return _BEARER.sub(r"\1***", _SECRET_QUERY.sub(r"\1***", text))


class SecretScrubFilter(logging.Filter):
    """Rewrites each record's message with :func:`scrub_secrets` before any handler sees it.

    Attached to samtale's stderr handler (every record of every logger) and to the loggers in
    :data:`SCRUBBED_LOGGERS` (a logger's filters run before its records propagate, so every
    handler, also a test's ``caplog`` or an operator's own, gets the scrubbed text).
    httpx, for one, logs every request's full URL, and a session token travels as ``?token=``."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = scrub_secrets(message)
        if scrubbed is not message:
            record.msg, record.args = scrubbed, None
        return True


def install_secret_scrubbing() -> None:
    """Attach :class:`SecretScrubFilter` to :data:`SCRUBBED_LOGGERS` (idempotent)."""
    for name in SCRUBBED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, SecretScrubFilter) for f in logger.filters):
            logger.addFilter(SecretScrubFilter())


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts`` (ISO 8601 UTC), ``level``, ``logger``, ``message``, bound ids,
    any ``extra=`` fields, and ``exc_info`` as text when present."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and value is not None and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """``12:00:01.123 INFO  samtale.x: message [chatbot=vinhuset session=…]`` for development."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s.%(msecs)03d %(levelname)-5s %(name)s: %(message)s", datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = " ".join(
            f"{name.removesuffix('_id')}={value}"
            for name in LOG_CONTEXT_FIELDS
            if (value := getattr(record, name, None)) is not None
        )
        if ids:
            first, sep, rest = line.partition("\n")
            line = f"{first} [{ids}]{sep}{rest}"
        return line


def configure_logging(*, level: str = "info", fmt: Literal["text", "json"] = "text") -> None:
    """Send every logger's records (uvicorn's too) to stderr in ``fmt``, at ``level`` and above.

    Idempotent: calling it again replaces samtale's handler instead of adding a second one.
    Args map to Settings ``log_level`` and ``log_format``.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(ContextFilter())
    handler.addFilter(SecretScrubFilter())
    install_secret_scrubbing()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
