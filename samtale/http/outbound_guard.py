"""The outbound guard: no request to a private, loopback, link-local or metadata address unless
the operator allowed it.

A chatbot's admin can set URLs samtale calls (order APIs, Flowise, an OpenAI-compatible base URL,
Pinecone and Qdrant hosts, webhooks), so those URLs are tenant input: without this guard a tenant
could make the server call its own admin endpoints, a database on the private network or a cloud
metadata service (SSRF). The guard sits where the connection is made, not where the URL is read:

* host names are resolved by :class:`GuardedResolver`, the resolver of every pool's aiohttp
  connector, which hands the connector only the allowed addresses, so the address checked is the
  address connected to (re-resolving to a private address, DNS rebinding, gains nothing);
* an IP literal (``http://169.254.169.254/``) never reaches a resolver, so
  :meth:`OutboundPolicy.check_literal` refuses it in the transport before it connects;
* a redirect is a new request through the same transport, so every hop is checked.

Allowed are public (global unicast) addresses; the networks and host names in
``SAMTALE_OUTBOUND_ALLOW``; in development mode loopback too (the demo shop's simulator runs on
the same host); and the exact ``host:port`` of each URL in the process settings
(``SAMTALE_OPENAI_BASE_URL``, ``SAMTALE_FLOWISE_BASE_URL``, ``SAMTALE_EMBEDDING_BASE_URL``), which are
the operator's own. Flowise's own guard was bypassed by redirects and by resolving again
(GHSA advisories of 2025); this design closes both.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Iterable

import httpx
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


class OutboundBlockedError(OSError):
    """A request to an address the outbound guard does not allow (no connection was made).

    An ``OSError`` with ``errno.EACCES`` and the message as ``strerror``, so aiohttp, which wraps a
    resolver's ``OSError`` in its connection error, keeps the sentence."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.EACCES, message)


def is_public_address(address: str) -> bool:
    """True when ``address`` (an IPv4 or IPv6 literal) is a global unicast address: not private,
    loopback, link-local (169.254.0.0/16, where cloud metadata services answer), multicast,
    reserved or unspecified; an IPv4-mapped IPv6 address is judged as its IPv4 address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def _endpoint(url: str) -> tuple[str, int] | None:
    parsed = httpx.URL(url)
    if not parsed.host:
        return None
    return parsed.host.lower(), parsed.port or (443 if parsed.scheme == "https" else 80)


class OutboundPolicy:
    """What the guard lets through.

    Args:
        allow: networks (``10.0.0.0/8``), addresses (``10.1.2.3``) or host names
            (``shop.internal``) the operator allows although they are not public.
        trusted_urls: the operator's own URLs; exactly their ``host:port`` is allowed.
        allow_loopback: allow 127.0.0.0/8 and ::1 (development mode).

    Raises:
        ValueError: never for host names; an entry that looks like a network but is malformed
            is taken as a host name and so allows nothing else.
    """

    def __init__(self, *, allow: Iterable[str] = (), trusted_urls: Iterable[str] = (), allow_loopback: bool = False):
        networks: list[IPNetwork] = list(LOOPBACK) if allow_loopback else []
        hosts: set[str] = set()
        for entry in (value.strip() for value in allow):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        self.networks = tuple(networks)
        self.hosts = frozenset(hosts)
        self.endpoints = frozenset(e for url in trusted_urls if url and (e := _endpoint(url)) is not None)

    def allows_address(self, address: str) -> bool:
        """True when a connection to ``address`` (an IP literal) is allowed."""
        if is_public_address(address):
            return True
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        return any(ip in network for network in self.networks)

    def allows_name(self, host: str, port: int) -> bool:
        """True when ``host`` itself is allowed whatever it resolves to (an allowed host name, or a
        trusted URL's ``host:port``)."""
        host = host.lower().rstrip(".")
        return host in self.hosts or (host, port) in self.endpoints

    def check_literal(self, url: httpx.URL) -> None:
        """Refuse ``url`` when its host is an IP literal the policy does not allow (names are
        checked by :class:`GuardedResolver` when the connection is made).

        Raises:
            OutboundBlockedError: the address is not allowed.
        """
        host = url.host
        try:
            ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return
        port = url.port or (443 if url.scheme == "https" else 80)
        if not self.allows_name(host, port) and not self.allows_address(host):
            raise OutboundBlockedError(_blocked(host, [host]))


class GuardedResolver(AbstractResolver):
    """An aiohttp resolver that returns only the addresses the policy allows.

    Args:
        policy: the :class:`OutboundPolicy`.
        inner: the resolver asked first (aiohttp's default, a thread-pool ``getaddrinfo``).
    """

    def __init__(self, policy: OutboundPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self.inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The allowed addresses of ``host``.

        Raises:
            OutboundBlockedError: every address ``host`` resolves to is refused.
        """
        results = await self.inner.resolve(host, port, family)
        if self.policy.allows_name(host, port):
            return results
        allowed = [result for result in results if self.policy.allows_address(result["host"])]
        if not allowed:
            raise OutboundBlockedError(_blocked(host, [result["host"] for result in results]))
        return allowed

    async def close(self) -> None:
        """Close the inner resolver."""
        await self.inner.close()


def _blocked(host: str, addresses: list[str]) -> str:
    shown = ", ".join(sorted(set(addresses))[:4])
    return (
        f"outbound request to '{host}' refused: it resolves to a private, loopback or link-local address "
        f"({shown}); the operator can allow it with SAMTALE_OUTBOUND_ALLOW"
    )
