"""ASGI middleware: times every HTTP request by route template and binds a request id to the logs."""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from samtale.observability.logging import bind_log_context, clear_log_context
from samtale.observability.metrics import observe_request

REQUEST_ID_HEADER = b"x-request-id"
WORKER_HEADER = b"x-samtale-worker"


class RequestMetricsMiddleware:
    """Records ``samtale_http_request_duration_seconds`` and binds ``request_id`` for the request's logs.

    The route label is the matched route's template (``/api/stream/{streaming_session_id}``), or
    ``unmatched`` for 404s, so raw ids never become label values. A caller's ``X-Request-ID``
    (at most 64 characters) is reused, else a new one is made; it is echoed in the response.
    For a streamed response the duration runs to the end of the stream.

    With ``worker_header`` every response names the worker process that answered it in
    ``X-Samtale-Worker`` (its pid), for operators and tests checking how requests spread over
    ``--workers N`` (Settings ``expose_worker_pid``; off by default).

    Usage: ``app.add_middleware(RequestMetricsMiddleware, worker_header=False)``.
    """

    def __init__(self, app: ASGIApp, *, worker_header: bool = False) -> None:
        self.app = app
        self._extra = [(WORKER_HEADER, str(os.getpid()).encode())] if worker_header else []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = next((v.decode("latin-1") for k, v in scope["headers"] if k == REQUEST_ID_HEADER), "")[:64]
        request_id = request_id or uuid.uuid4().hex
        clear_log_context()
        bind_log_context(request_id=request_id)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER, request_id.encode("latin-1")),
                    *self._extra,
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            observe_request(
                method=scope["method"],
                route=_route_template(scope),
                status=status,
                duration_s=time.perf_counter() - started,
            )


def _route_template(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"
