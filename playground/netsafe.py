"""Which URLs this process may fetch on someone's behalf: a guard against SSRF and against lying output URLs.

One rule for every outgoing request a URL decides (a visitor's image URL, an output the API names): only http(s); and
unless private hosts are allowed (the embedded local API on a private machine), only ``https`` to a host whose every
address is public: never loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16,
fe80::/10, cloud metadata), multicast, reserved or unspecified ones. :func:`open_checked` connects to the very
address the check approved (no second DNS lookup a rebinding name could answer differently) and follows no redirect:
the caller checks each hop again.

>>> check_fetchable("https://10.0.0.1/cat.png", what="image_url")
Traceback (most recent call last):
playground.errors.UnsafeURL: image_url: the host '10.0.0.1' is not a public address; refused
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import UnsafeURL

Resolver = Callable[[str], Iterable[str]]


def _resolve(host: str) -> set[str]:
    return {info[4][0] for info in socket.getaddrinfo(host, None)}


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def is_public(address: str) -> bool:
    """Whether an IP address is on the public internet (not loopback, private, link-local, reserved, ...)."""
    ip = _address(address)
    return ip is not None and ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def is_private_host(host: str) -> bool:
    """True for ``localhost`` and literal loopback, private or link-local addresses (no DNS lookup): a base URL on
    this machine or its network, such as the embedded local API's."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    ip = _address(host)
    return ip is not None and (ip.is_loopback or ip.is_private or ip.is_link_local)


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and literal loopback addresses (no DNS lookup): this machine itself."""
    host = host.lower().rstrip(".")
    ip = _address(host)
    return host == "localhost" or host.endswith(".localhost") or (ip is not None and ip.is_loopback)


def is_link_local(host: str) -> bool:
    """True for literal link-local addresses (169.254/16, fe80::/10: cloud metadata lives there)."""
    ip = _address(host)
    return ip is not None and ip.is_link_local


@dataclass(frozen=True)
class Target:
    """A URL that passed :func:`check_fetchable`, and the address to connect to."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


def check_fetchable(url: str, *, what: str, allow_private: bool = False, resolve: bool = True,
                    resolver: Resolver | None = None) -> Target:
    """Raise :class:`UnsafeURL` (naming ``what``) unless ``url`` may be fetched; return where to connect.

    With ``allow_private`` http(s) to any host is fine; otherwise only ``https`` to a host whose every address is
    public. ``resolve=False`` checks literal IP hosts only (no DNS lookup); ``resolver(host)`` answers the lookup
    (default: the system's), so a test can give the answer a rebinding name would.
    """
    if not isinstance(url, str):
        raise UnsafeURL(f"{what}: expected a URL, got {type(url).__name__}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeURL(f"{what}: the URL is malformed") from None
    scheme = parts.scheme.lower()
    allowed = ("http", "https") if allow_private else ("https",)
    if scheme not in allowed:
        raise UnsafeURL(f"{what}: only {' or '.join(allowed)} URLs are fetched, not {scheme or 'a bare path'!r}")
    host = parts.hostname
    if not host:
        raise UnsafeURL(f"{what}: the URL has no host")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    port = port or (443 if scheme == "https" else 80)
    literal = _address(host)
    try:
        if literal is not None:
            addresses = [str(literal)]
        elif resolve:
            addresses = sorted((resolver or _resolve)(host))
        else:
            addresses = []
    except OSError:
        raise UnsafeURL(f"{what}: the host {host!r} does not resolve") from None
    if resolve and not addresses:
        raise UnsafeURL(f"{what}: the host {host!r} does not resolve")
    if not allow_private and any(not is_public(a) for a in addresses):
        raise UnsafeURL(f"{what}: the host {host!r} is not a public address; refused")
    return Target(scheme, host, port, path, addresses[0] if addresses else host)


@dataclass(frozen=True)
class Answer:
    """What a server said to :func:`open_checked`: the status and the headers (lower-case names); no body."""

    status: int
    headers: Mapping[str, str]

    @property
    def is_redirect(self) -> bool:
        return self.status in (301, 302, 303, 307, 308) and bool(self.headers.get("location"))


def open_checked(method: str, url: str, *, what: str, allow_private: bool, timeout: float,
                 headers: Mapping[str, str] | None = None, resolver: Resolver | None = None) -> Answer:
    """Send ``method`` to ``url`` after :func:`check_fetchable`, over a connection to the address it approved, and
    return the status and headers without reading the body. No redirect is followed and no key is sent.
    ``OSError``/urllib3 errors mean the server could not be asked."""
    import urllib3

    target = check_fetchable(url, what=what, allow_private=allow_private, resolver=resolver)
    common = {"timeout": urllib3.Timeout(connect=timeout, read=timeout), "retries": False, "maxsize": 1}
    if target.scheme == "https":
        import certifi

        pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
            target.address, target.port, server_hostname=target.host, assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED", ca_certs=certifi.where(), **common)
    else:
        pool = urllib3.HTTPConnectionPool(target.address, target.port, **common)
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
    if ":" in target.host and not target.host.startswith("["):
        host_header = f"[{target.host}]" if target.port == default_port else f"[{target.host}]:{target.port}"
    try:
        response = pool.urlopen(method, target.path, headers={"Host": host_header, **(headers or {})},
                                redirect=False, preload_content=False, assert_same_host=False)
        try:
            return Answer(response.status, {k.lower(): v for k, v in response.headers.items()})
        finally:
            response.release_conn()
            response.close()
    finally:
        pool.close()


__all__ = ["Answer", "Target", "check_fetchable", "is_link_local", "is_loopback_host", "is_private_host", "is_public",
           "open_checked"]
