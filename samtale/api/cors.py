"""CORS from the chatbots' ``allowed_origins`` (and ``SAMTALE_CORS_ORIGINS`` for every chatbot).

Replaces Starlette's ``CORSMiddleware``, whose list is fixed when the app starts: here a chatbot's
origins come from its document and change when it is saved (:mod:`samtale.security.origins`).
A preflight is answered for any listed origin (it cannot name its chatbot); an ordinary response
gets ``Access-Control-Allow-Origin`` for a listed origin, and the route itself refuses an origin
its chatbot does not list. Requests without ``Origin`` pass untouched.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from samtale.security.origins import OriginRegistry, same_origin

ALLOW_METHODS = b"GET, POST, PUT, PATCH, DELETE"
EXPOSE_HEADERS = b"X-Session-Id, X-Streaming-Session-Id, X-Session-Token, Retry-After, Location"
PREFLIGHT_MAX_AGE_S = b"600"


class ChatbotCORSMiddleware:
    """The ASGI middleware of the module docstring; the origins are ``app.state.services.origins``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        raw_origin = headers.get(b"origin")
        if raw_origin is None:
            await self.app(scope, receive, send)
            return
        origin = raw_origin.decode("latin-1")
        host = headers.get(b"host", b"").decode("latin-1")
        services = getattr(scope["app"].state, "services", None)
        registry: OriginRegistry | None = getattr(services, "origins", None)
        allowed = same_origin(origin.lower(), host) or (registry is not None and await registry.any_allows(origin))
        if scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
            await _preflight(
                send, origin=raw_origin, allowed=allowed, requested=headers.get(b"access-control-request-headers")
            )
            return
        if not allowed:
            await self.app(scope, receive, send)
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"access-control-allow-origin", raw_origin),
                    (b"access-control-expose-headers", EXPOSE_HEADERS),
                    (b"vary", b"Origin"),
                ]
            await send(message)

        await self.app(scope, receive, with_cors)


async def _preflight(send: Send, *, origin: bytes, allowed: bool, requested: bytes | None) -> None:
    if allowed:
        response_headers = [
            (b"access-control-allow-origin", origin),
            (b"access-control-allow-methods", ALLOW_METHODS),
            (b"access-control-allow-headers", requested or b"content-type"),
            (b"access-control-max-age", PREFLIGHT_MAX_AGE_S),
            (b"vary", b"Origin"),
            (b"content-length", b"0"),
        ]
        await send({"type": "http.response.start", "status": 204, "headers": response_headers})
        await send({"type": "http.response.body", "body": b""})
        return
    body = orjson.dumps(
        {"error": {"code": "origin_not_allowed", "message": "no chatbot here accepts requests from this page"}}
    )
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"vary", b"Origin"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
