"""Refuse order-API URLs that resolve to private, loopback or link-local addresses.

A chatbot's config names the URLs samtale calls; without this check a tenant could make the
server call its own admin endpoints or a cloud metadata service (SSRF). A chatbot may allow
private addresses explicitly with ``allow_private_network: true`` in the integration's
settings (the demo does, to reach the simulator on 127.0.0.1), but that is the tenant's own word:
the connection itself still goes through the operator's outbound guard
(:mod:`samtale.http.outbound_guard`, ``SAMTALE_OUTBOUND_ALLOW``), which this check only makes
clearer and earlier. ``is_public_address`` is re-exported from there.
"""

from __future__ import annotations

import asyncio
import socket

import httpx

from samtale.http.outbound_guard import is_public_address
from samtale.orders.errors import OrderAPIConfigError

__all__ = ["HostGuard", "is_public_address"]


class HostGuard:
    """Checks, once per host, that every address a URL's host resolves to is public.

    Args:
        allow_private_network: skip the check (the chatbot config allowed it explicitly).
    """

    def __init__(self, *, allow_private_network: bool = False) -> None:
        self.allow_private_network = allow_private_network
        self._checked: set[tuple[str, int]] = set()

    async def check(self, url: httpx.URL) -> None:
        """Resolve ``url``'s host and refuse it unless every address is public.

        Raises:
            OrderAPIConfigError: the URL is not http(s), the host does not resolve, or it
                resolves to a private, loopback, link-local or reserved address.
        """
        if url.scheme not in ("http", "https"):
            raise OrderAPIConfigError(f"order API URLs must be http or https, not '{url.scheme}'")
        if self.allow_private_network:
            return
        port = url.port or (443 if url.scheme == "https" else 80)
        key = (url.host, port)
        if key in self._checked:
            return
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(url.host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise OrderAPIConfigError(f"order API host '{url.host}' does not resolve") from exc
        addresses = {str(info[4][0]) for info in infos}
        private = sorted(address for address in addresses if not is_public_address(address))
        if private:
            raise OrderAPIConfigError(
                f"order API host '{url.host}' resolves to a private or loopback address; set "
                "allow_private_network: true in the integration's settings to allow it",
                details={"host": url.host},
            )
        self._checked.add(key)
