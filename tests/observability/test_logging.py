"""Log lines carry the request, chatbot, session and streaming ids of the turn they belong to."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from samtale.observability.logging import (
    bind_log_context,
    clear_log_context,
    configure_logging,
    current_log_context,
    log_context,
)


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Configure logging, then point samtale's handler at a buffer; restore the root logger after."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    buffer = io.StringIO()
    yield buffer
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    clear_log_context()


def use(buffer: io.StringIO, fmt: str) -> None:
    configure_logging(level="info", fmt=fmt)  # type: ignore[arg-type]
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "samtale")
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)


async def test_json_lines_carry_the_ids_into_the_generation_task(captured: io.StringIO) -> None:
    use(captured, "json")
    clear_log_context()
    bind_log_context(request_id="req-1", chatbot_id="vinhuset", session_id="sess-9")

    async def generate() -> None:
        bind_log_context(streaming_session_id="stream-3")
        logging.getLogger("samtale.conversation").info("first token after %d ms", 48, extra={"flow": "flow3"})

    await asyncio.create_task(generate())
    logging.getLogger("samtale.api").warning("turn stored")

    first, second = (json.loads(line) for line in captured.getvalue().splitlines())
    assert first["message"] == "first token after 48 ms"
    assert (first["chatbot_id"], first["session_id"], first["streaming_session_id"]) == (
        "vinhuset",
        "sess-9",
        "stream-3",
    )
    assert first["flow"] == "flow3"
    assert first["level"] == "info" and first["logger"] == "samtale.conversation"
    # The task's streaming id did not leak back into the request.
    assert "streaming_session_id" not in second
    assert second["request_id"] == "req-1"


def test_text_lines_are_readable_and_idempotent(captured: io.StringIO) -> None:
    configure_logging(level="info", fmt="text")
    use(captured, "text")  # a second configure replaces the handler instead of doubling lines
    with log_context(chatbot_id="hundeshop", session_id="s-1"):
        logging.getLogger("samtale.routing").info("routed to flow3")
    logging.getLogger("samtale.routing").debug("not shown at info")
    [line] = captured.getvalue().splitlines()
    assert line.endswith("INFO  samtale.routing: routed to flow3 [chatbot=hundeshop session=s-1]")
    assert current_log_context() == {}


def test_unknown_context_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="shopper_email"), log_context(shopper_email="x@y.z"):
        pass
