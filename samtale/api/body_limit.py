"""A bound on the body of ``POST /api/process-message``, which may carry an image inline (issue 14).

FastAPI reads a JSON body whole before the route runs, so the bound is an ASGI middleware: a
``Content-Length`` over it is answered 413 at once, unread; a body without one is counted while
it streams in and answered 413 as soon as it passes the bound (the route then sees a
disconnected client and its own answer is dropped). The bound is the image limit in base64
(``SAMTALE_IMAGE_MAX_BYTES`` × 4/3) plus the largest text fields (the message and a full
``conversation_history``); the image itself is then checked against the chatbot's own limit.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from samtale.api.errors import error_body
from samtale.settings import Settings

PATHS = frozenset({"/api/process-message"})
"""The routes whose body is bounded here (``/api/upload-image`` bounds its own, per content type)."""

HISTORY_ITEMS = 100
"""``conversation_history`` items a process-message body may carry (its schema's ``max_length``)."""


def process_message_bound(settings: Settings) -> int:
    """The most bytes a process-message body may have: the image in base64, the message and the
    history at 6 bytes a character (JSON's ``\\uXXXX`` escapes), and 64 KiB for the rest."""
    image = (settings.image_max_bytes + 2) // 3 * 4
    return image + 6 * settings.max_message_chars * (HISTORY_ITEMS + 1) + 64 * 1024


class BodyLimitMiddleware:
    """Answers 413 ``payload_too_large`` for a body over ``limit`` bytes on :data:`PATHS`.

    Args:
        app: the ASGI app.
        limit: the bound, bytes (:func:`process_message_bound`).
    """

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, bounded (module docstring)."""
        if scope["type"] != "http" or scope["path"] not in PATHS:
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await self._refuse(send)
                return
        seen = 0
        refused = False

        async def bounded_receive() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    refused = True
                    await self._refuse(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, bounded_receive, guarded_send)

    async def _refuse(self, send: Send) -> None:
        body = orjson.dumps(
            error_body(
                "payload_too_large",
                f"the request body is larger than {self.limit:,} bytes",
                {"limit_bytes": self.limit},
            )
        )
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": [*headers, (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
