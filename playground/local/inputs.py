"""Reading a task's input images and clips: this server's own uploads and outputs from disk, data: URIs, and fetched
http(s) URLs.

Fetching on a submitter's behalf is a server-side request forgery risk, so it is narrow: public hosts only (every
address the name resolves to is checked, and the connection goes to a checked address, so a name cannot re-resolve
to loopback in between), only when ``allow_fetch`` is on, no redirects, a time and a size limit. Loopback and private
hosts are fetched only with ``allow_private_fetch`` (tests). Every fetch failure ends the task with code 1402 and the
same text, :data:`FETCH_FAILED`, so a prober cannot tell a closed port from an open one or a refused host from a
redirect; the real reason goes to this server's log.
"""

from __future__ import annotations

import base64
import binascii
import io
import ipaddress
import logging
import socket
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from playground.contract import IMAGE_LIMITS

log = logging.getLogger(__name__)

FETCH_FAILED = ("{field}: the {what} could not be fetched. The local API reads files uploaded to it, data: URIs and "
                "(when started with allow_fetch) public http(s) URLs without redirects; upload the file and use the "
                "URL the upload returns.")
UNKNOWN_UPLOAD = ("{field}: this server holds no such upload: it was made to an earlier run of the server, never "
                  "finished, or has expired (uploads are kept {lifetime}); upload the file again.")
_USER_AGENT = "playground-local-api"
_WHAT = {"image/*": "image", "video/*": "clip"}


class InputError(Exception):
    """A task input could not be used; ``code`` is the API's task error code (1401 invalid, 1402 unreachable)."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


class _FetchFailed(Exception):
    """Why a fetch failed: logged on this server, never shown to the submitter."""


@dataclass(frozen=True)
class FetchPolicy:
    """What :func:`load_image` may fetch over the network."""

    allow_public: bool = False
    allow_private: bool = False
    timeout: float = 30.0
    upload_lifetime: str = "7 days"  # for messages


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast address (not loopback, private, link-local, multicast, reserved...)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def load_image(url: str, *, field: str, own_netlocs: set[str], own_port: int,
               local_file: Callable[[str], Path | None], policy: FetchPolicy, decode: bool = True) -> Image.Image:
    """The image at ``url`` decoded and checked against the contract's limits; InputError names ``field``.

    With ``decode=False`` only the header is read (size and format are still checked): cheap, for protocol mode.
    """
    data, fetched = _read_bytes(url, field=field, own_netlocs=own_netlocs, own_port=own_port, local_file=local_file,
                                policy=policy)
    if len(data) > IMAGE_LIMITS.max_bytes:
        raise InputError(1401, f"{field}: the file has {len(data)} bytes; at most {IMAGE_LIMITS.max_bytes} allowed")
    try:
        image = Image.open(io.BytesIO(data))
        if decode:
            image.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        if fetched:  # what a fetched URL served is nobody's business but this server's log
            log.info("%s: the fetched file is not an image (%s)", field, type(exc).__name__)
            raise InputError(1402, FETCH_FAILED.format(field=field, what="image")) from None
        raise InputError(1401, f"{field}: could not be read as an image ({exc})") from None
    width, height = image.size
    limits = IMAGE_LIMITS
    if not (limits.min_side <= width <= limits.max_side and limits.min_side <= height <= limits.max_side):
        raise InputError(1401, f"{field}: {width}x{height} px is not allowed; each side must be "
                               f"{limits.min_side} to {limits.max_side} px")
    ratio = width / height
    if not limits.min_ratio <= ratio <= limits.max_ratio:
        raise InputError(1401, f"{field}: width/height {ratio:.2f} is not allowed; it must be "
                               f"{limits.min_ratio} to {limits.max_ratio}")
    return image


def load_video(url: str, *, field: str, own_netlocs: set[str], own_port: int,
               local_file: Callable[[str], Path | None], policy: FetchPolicy) -> bytes:
    """The bytes of the clip at ``url``, fetched under the same rules as images; InputError names ``field``.

    Only the container is checked here (MP4/MOV, WebM/MKV or AVI, by signature, so a picture is not taken for a
    one-frame clip); decoding is the renderer's job (an undecodable clip fails the task there, with 1401).
    """
    data, _ = _read_bytes(url, field=field, own_netlocs=own_netlocs, own_port=own_port, local_file=local_file,
                          policy=policy, accept="video/*")
    if len(data) > IMAGE_LIMITS.max_bytes:
        raise InputError(1401, f"{field}: the file has {len(data)} bytes; at most {IMAGE_LIMITS.max_bytes} allowed")
    if not is_video(data):
        raise InputError(1401, f"{field}: is not a video file; MP4, MOV, WebM, MKV and AVI are read")
    return data


def is_video(data: bytes) -> bool:
    """True when ``data`` starts like an MP4/MOV (ftyp), WebM/MKV (EBML) or AVI file."""
    return data[4:8] == b"ftyp" or data[:4] == b"\x1a\x45\xdf\xa3" or (data[:4] == b"RIFF" and data[8:12] == b"AVI ")


def _read_bytes(url: str, *, field: str, own_netlocs: set[str], own_port: int,
                local_file: Callable[[str], Path | None], policy: FetchPolicy,
                accept: str = "image/*") -> tuple[bytes, bool]:
    """(bytes, whether they were fetched over the network)."""
    if not isinstance(url, str) or not url.strip():
        raise InputError(1401, f"{field}: expected a URL")
    if url.startswith("data:"):
        return _decode_data_uri(url, field), False
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:  # a malformed netloc or port
        log.info("%s: refused to fetch a malformed URL", field)
        raise InputError(1402, FETCH_FAILED.format(field=field, what=_WHAT[accept])) from None
    scheme = parts.scheme.lower()
    if scheme in ("http", "https") and parts.hostname:
        own = parts.netloc.lower() in own_netlocs or (is_loopback(parts.hostname) and port == own_port)
        if own:  # this server's own file: read from disk, never over HTTP
            path = local_file(urllib.parse.unquote(parts.path))
            if path is None:
                raise InputError(1402, UNKNOWN_UPLOAD.format(field=field, lifetime=policy.upload_lifetime))
            return path.read_bytes(), False
    try:
        return _fetch(parts, policy, accept), True
    except _FetchFailed as exc:
        log.info("%s: fetch from host %r failed: %s", field, parts.hostname, exc)
        raise InputError(1402, FETCH_FAILED.format(field=field, what=_WHAT[accept])) from None


def _fetch(parts: urllib.parse.SplitResult, policy: FetchPolicy, accept: str) -> bytes:
    """GET one URL without redirects, connecting only to an address the policy allows."""
    import certifi
    import urllib3

    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in ("http", "https") or not host:
        raise _FetchFailed(f"scheme {scheme or 'none'!r} is not fetched")
    if not (policy.allow_public or policy.allow_private):
        raise _FetchFailed("fetching is off (allow_fetch)")
    port = parts.port or (443 if scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise _FetchFailed(f"the host does not resolve ({type(exc).__name__})") from None
    addresses = [info[4][0] for info in infos]
    public = [is_public_address(a) for a in addresses]
    if not addresses:
        raise _FetchFailed("the host has no address")
    if not all(public) and not policy.allow_private:
        raise _FetchFailed("the host has a non-public address (allow_private_fetch is off)")
    if all(public) and not policy.allow_public:
        raise _FetchFailed("the host is public and allow_fetch is off")
    address = addresses[0]
    host_header = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
    target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
    deadline = time.monotonic() + policy.timeout
    timeout = urllib3.Timeout(connect=policy.timeout, read=policy.timeout)
    # Connect to the checked address; the name is kept for the Host header and, over https, SNI and the certificate.
    if scheme == "https":
        pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
            address, port, timeout=timeout, retries=False, maxsize=1, cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(), server_hostname=host, assert_hostname=host)
    else:
        pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False, maxsize=1)
    try:
        with pool:
            response = pool.urlopen("GET", target, headers={"Host": host_header, "User-Agent": _USER_AGENT,
                                                            "Accept": accept},
                                    redirect=False, retries=False, preload_content=False, assert_same_host=False)
            try:
                return _read_reply(response, deadline)
            finally:
                response.release_conn()
    except urllib3.exceptions.HTTPError as exc:
        raise _FetchFailed(type(exc).__name__) from None
    except OSError as exc:
        raise _FetchFailed(type(exc).__name__) from None


def _read_reply(response, deadline: float) -> bytes:
    if response.status != 200:
        raise _FetchFailed(f"HTTP {response.status}")  # redirects included: they are never followed
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > IMAGE_LIMITS.max_bytes:
        raise _FetchFailed(f"Content-Length {length} is over the image limit")
    chunks, total = [], 0
    for chunk in response.stream(1 << 16):
        total += len(chunk)
        if total > IMAGE_LIMITS.max_bytes:
            raise _FetchFailed("the body is over the image limit")
        if time.monotonic() > deadline:
            raise _FetchFailed("the fetch took too long")
        chunks.append(chunk)
    return b"".join(chunks)


def _decode_data_uri(uri: str, field: str) -> bytes:
    header, sep, payload = uri.partition(",")
    if not sep:
        raise InputError(1401, f"{field}: a data: URI needs a comma before its data")
    try:
        if header.endswith(";base64"):
            return base64.b64decode(payload, validate=False)
        return urllib.parse.unquote_to_bytes(payload)
    except (binascii.Error, ValueError) as exc:
        raise InputError(1401, f"{field}: the data: URI is not valid base64 ({exc})") from None
