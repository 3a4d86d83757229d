"""Which URLs this process may fetch on someone's behalf: a guard against SSRF and against lying output URLs.

Talking to the real API, the client only fetches ``https`` URLs whose host resolves to public addresses: never
loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16, fe80::/10, cloud metadata),
multicast or unspecified ones. The embedded local API serves on loopback, so a client built for it passes
``allow_private=True``.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from .errors import UnsafeURL


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def check_fetchable(url: str, *, what: str, allow_private: bool = False, resolve: bool = True) -> None:
    """Raise :class:`UnsafeURL` (naming ``what``) unless ``url`` may be fetched.

    With ``allow_private`` http(s) to any host is fine; otherwise only ``https`` to a host whose every address is
    public. ``resolve=False`` checks literal IP hosts only (no DNS lookup).
    """
    if not isinstance(url, str):
        raise UnsafeURL(f"{what}: expected a URL, got {type(url).__name__}")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    allowed = ("http", "https") if allow_private else ("https",)
    if scheme not in allowed:
        raise UnsafeURL(f"{what}: only {' or '.join(allowed)} URLs are fetched, not {scheme or 'a bare path'!r}")
    host = parts.hostname
    if not host:
        raise UnsafeURL(f"{what}: the URL has no host")
    if allow_private:
        return
    try:
        addresses = {host} if _is_literal_ip(host) else (_resolve(host) if resolve else set())
    except OSError:
        raise UnsafeURL(f"{what}: the host {host!r} does not resolve") from None
    if any(not _is_public(a) for a in addresses):
        raise UnsafeURL(f"{what}: the host {host!r} is not a public address; refused")


def _is_literal_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _resolve(host: str) -> set[str]:
    return {info[4][0] for info in socket.getaddrinfo(host, None)}
