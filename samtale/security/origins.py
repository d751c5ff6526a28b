"""Which web pages may call a chatbot's public endpoints: its ``allowed_origins``.

A browser names the page that makes a request in the ``Origin`` header, and a page cannot forge
it. So a request with an ``Origin`` that the chatbot does not list is refused (403
``origin_not_allowed``): another site cannot embed a shop's chatbot and spend its LLM budget
from its visitors' browsers. A request without ``Origin`` comes from a server (or a tool); it is
not a browser's, so origins do not apply to it and the rate limits do. A page served by samtale
itself (the chat page) is same-origin and always allowed.

CORS follows the same lists: a preflight (``OPTIONS`` with ``Access-Control-Request-Method``)
carries no body, so it cannot name its chatbot; it is answered for an origin that any chatbot
lists (or ``SAMTALE_CORS_ORIGINS`` lists for the whole deployment), and the request itself is
then held to its own chatbot's list.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping

from samtale.errors import PermissionDeniedError

ORIGIN_CACHE_TTL_S = 30.0
"""How long a worker keeps the union of every chatbot's origins before reading it again (seconds);
a chatbot saved through this worker is seen at once (:meth:`OriginRegistry.invalidate`)."""


class OriginNotAllowedError(PermissionDeniedError):
    """A browser request from a page the chatbot does not list (HTTP 403)."""

    code = "origin_not_allowed"


def normalize_origin(value: str) -> str:
    """``scheme://host[:port]`` lowercased, without a trailing slash; ``*`` stays ``*``.

    Raises:
        ValueError: ``value`` is not an origin (it has a path, no scheme, or no host).
    """
    text = value.strip().rstrip("/").lower()
    if text == "*":
        return text
    scheme, sep, rest = text.partition("://")
    if not sep or scheme not in ("http", "https") or not rest or "/" in rest or "?" in rest or "#" in rest:
        raise ValueError(f"'{value}' is not an origin such as https://shop.example (scheme and host, no path)")
    return text


def same_origin(origin: str, host_header: str | None) -> bool:
    """True when ``origin`` names the host the request was sent to (samtale's own pages)."""
    if not host_header:
        return False
    return origin.partition("://")[2] == host_header.strip().lower()


class OriginRegistry:
    """Every chatbot's allowed origins, as one worker knows them.

    Args:
        load: reads ``{chatbot_id: [origin, …]}`` from the store.
        deployment_origins: ``SAMTALE_CORS_ORIGINS``: allowed for every chatbot.
    """

    def __init__(
        self, *, load: Callable[[], Awaitable[Mapping[str, list[str]]]], deployment_origins: Iterable[str] = ()
    ) -> None:
        self._load = load
        self.deployment = frozenset(normalize_origin(o) for o in deployment_origins)
        self._by_chatbot: dict[str, frozenset[str]] = {}
        self._union: frozenset[str] = frozenset()
        self._loaded_at: float | None = None

    async def _fresh(self) -> None:
        if self._loaded_at is not None and time.monotonic() - self._loaded_at < ORIGIN_CACHE_TTL_S:
            return
        loaded = await self._load()
        self._by_chatbot = {cid: frozenset(normalize_origin(o) for o in origins) for cid, origins in loaded.items()}
        self._union = frozenset().union(*self._by_chatbot.values()) if self._by_chatbot else frozenset()
        self._loaded_at = time.monotonic()

    def invalidate(self) -> None:
        """Read the origins again at the next request (after a chatbot was saved)."""
        self._loaded_at = None

    async def allows(self, *, chatbot_id: str, origin: str) -> bool:
        """True when ``chatbot_id`` (or the deployment) lists ``origin``, or lists ``*``."""
        await self._fresh()
        listed = self._by_chatbot.get(chatbot_id, frozenset()) | self.deployment
        return "*" in listed or origin.lower() in listed

    async def any_allows(self, origin: str) -> bool:
        """True when some chatbot or the deployment lists ``origin`` (for CORS preflights)."""
        await self._fresh()
        listed = self._union | self.deployment
        return "*" in listed or origin.lower() in listed

    async def check(self, *, chatbot_id: str, origin: str | None, host: str | None) -> None:
        """Refuse a browser request from a page ``chatbot_id`` does not list.

        Args:
            origin: the request's ``Origin`` header (None: not a browser's request).
            host: the request's ``Host`` header, to let samtale's own pages through.

        Raises:
            OriginNotAllowedError: ``origin`` is set, not same-origin and not listed.
        """
        if origin is None:
            return
        if same_origin(origin.lower(), host) or await self.allows(chatbot_id=chatbot_id, origin=origin):
            return
        raise OriginNotAllowedError(
            f"this chatbot does not accept requests from the page at {origin[:200]}; "
            "add it to the chatbot's allowed_origins"
        )
