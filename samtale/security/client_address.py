"""The client's address, from the socket unless the request came through a trusted proxy.

A shopper must not pick their own rate-limit bucket by sending ``X-Forwarded-For``: the header
is believed only when the connection comes from an address in ``SAMTALE_TRUSTED_PROXIES`` (for
nginx in front of samtale: ``127.0.0.1/32``). Then the client is the right-most address in the
header that is not itself a trusted proxy (each proxy appends the address it saw), as
nginx's ``real_ip_recursive on`` and Werkzeug's ``ProxyFix`` read it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Sequence[str]) -> tuple[IPNetwork, ...]:
    """``["10.0.0.0/8", "127.0.0.1"]`` as networks (a bare address is a /32 or /128).

    Raises:
        ValueError: a value is not an address or network.
    """
    return tuple(ipaddress.ip_network(value.strip(), strict=False) for value in values if value.strip())


def _trusted(address: str, proxies: tuple[IPNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_address(*, peer: str | None, forwarded_for: str | None, trusted_proxies: tuple[IPNetwork, ...]) -> str:
    """The address to count a request against.

    Args:
        peer: the socket's remote address (None when the server does not know it).
        forwarded_for: the ``X-Forwarded-For`` header, if any.
        trusted_proxies: networks whose ``X-Forwarded-For`` is believed.
    """
    address = peer or "unknown"
    if not forwarded_for or not _trusted(address, trusted_proxies):
        return address
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted_proxies):
            return hop
    return hops[0] if hops else address
