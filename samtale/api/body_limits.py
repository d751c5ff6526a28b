"""Bounds on request bodies, enforced before anything parses them.

* A body over ``SAMTALE_MAX_REQUEST_BODY_BYTES`` (1 MiB) is 413: at once when ``Content-Length``
  says so (nothing is read), else as soon as the bytes counted while it streams in pass the bound
  (a chunked body cannot slip by). ``POST /api/process-message`` may carry an image inline
  (issue 14): its bound is :func:`process_message_bound`. Uploads have their own, larger limits
  and are exempt: knowledge documents (``SAMTALE_KNOWLEDGE_MAX_FILE_BYTES`` per file) and
  ``/api/upload-image`` (bounded by its route, per content type).
* A JSON body nested deeper than ``SAMTALE_MAX_JSON_DEPTH`` (32) is 422 before it is decoded:
  Python's decoder recurses per level, and no samtale body needs more than a handful.

Both answer with the usual ``{"error": {code, message}}`` body (``payload_too_large``,
``invalid_input``). Usage: ``app.add_middleware(BodyLimitMiddleware, max_bytes=…, max_json_depth=…)``.
"""

from __future__ import annotations

import re

import orjson
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from samtale.settings import Settings

EXEMPT_PATHS = (
    re.compile(r"^/api/admin/chatbots/[^/]+/knowledge/indexes/[^/]+/documents$"),
    re.compile(r"^/api/upload-image$"),
)
"""Routes that bound their own uploads (larger than the general limit, counted per file)."""

_BODYLESS = frozenset({"GET", "HEAD", "OPTIONS"})
HISTORY_ITEMS = 100
"""``conversation_history`` items a process-message body may carry (its schema's ``max_length``)."""


def process_message_bound(settings: Settings) -> int:
    """The most bytes a process-message body may have: the image in base64
    (``SAMTALE_IMAGE_MAX_BYTES`` × 4/3), the message and the history at 6 bytes a character
    (JSON's ``\\uXXXX`` escapes), and 64 KiB for the rest; the image itself is then checked
    against the chatbot's own limit."""
    image = (settings.image_max_bytes + 2) // 3 * 4
    return image + 6 * settings.max_message_chars * (HISTORY_ITEMS + 1) + 64 * 1024


def path_limits(settings: Settings) -> dict[str, int]:
    """The routes whose bound is not ``SAMTALE_MAX_REQUEST_BODY_BYTES``, with theirs (bytes)."""
    return {"/api/process-message": max(settings.max_request_body_bytes, process_message_bound(settings))}


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_too_deep(body: bytes, *, max_depth: int) -> bool:
    """True when the JSON text ``body`` nests arrays/objects deeper than ``max_depth``.

    Brackets inside strings do not count. Linear in ``len(body)``; a body with at most
    ``max_depth`` opening brackets is answered without scanning."""
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return False
    depth = 0
    for byte in _STRING.sub(b"", body).translate(None, _NOT_BRACKETS):
        if byte in (0x5B, 0x7B):
            depth += 1
            if depth > max_depth:
                return True
        else:
            depth -= 1
    return False


class BodyLimitMiddleware:
    """The ASGI middleware applying the bounds of the module docstring.

    Args:
        app: the wrapped application.
        max_bytes: the largest body, in bytes.
        max_json_depth: the deepest nesting of a JSON body.
        limits_by_path: a larger (or smaller) bound for some exact paths (:func:`path_limits`).
    """

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, max_json_depth: int, limits_by_path: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_json_depth = max_json_depth
        self.limits_by_path = limits_by_path or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] in _BODYLESS
            or any(pattern.match(scope["path"]) for pattern in EXEMPT_PATHS)
        ):
            await self.app(scope, receive, send)
            return
        limit = self.limits_by_path.get(scope["path"], self.max_bytes)
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _refuse(send, 413, "payload_too_large", _too_large(int(declared), limit))
            return
        is_json = b"json" in headers.get(b"content-type", b"")
        received = 0
        chunks: list[bytes] = []

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] != "http.request":
                return message
            body: bytes = message.get("body", b"")
            received += len(body)
            if received > limit:
                raise HTTPException(413, _too_large(received, limit, counted=True))
            if is_json:
                chunks.append(body)
                if not message.get("more_body", False) and json_too_deep(
                    b"".join(chunks), max_depth=self.max_json_depth
                ):
                    raise HTTPException(422, f"the JSON body is nested deeper than {self.max_json_depth} levels")
            return message

        await self.app(scope, counted, send)


def _too_large(size: int, limit: int, *, counted: bool = False) -> str:
    what = f"over {size:,}" if counted else f"{size:,}"
    return f"the request body is {what} bytes; the limit is {limit:,} bytes"


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    body = orjson.dumps({"error": {"code": code, "message": message}})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
