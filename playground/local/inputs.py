"""Fetching a task's input images: this server's own uploads from disk, loopback URLs, data: URIs.

Any other URL is unreachable for an offline server (code 1402) unless fetching was allowed.
"""

from __future__ import annotations

import base64
import binascii
import io
import ipaddress
import logging
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from playground.contract import IMAGE_LIMITS

log = logging.getLogger(__name__)

FETCH_TIMEOUT = (5.0, 30.0)


class InputError(Exception):
    """A task input could not be used; ``code`` is the API's task error code (1401 invalid, 1402 unreachable)."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def load_image(url: str, *, field: str, own_netlocs: set[str], own_port: int,
               local_file: Callable[[str], Path | None], allow_fetch: bool) -> Image.Image:
    """The image at ``url`` decoded and checked against the contract's limits; InputError names ``field``."""
    data = _read_bytes(url, field=field, own_netlocs=own_netlocs, own_port=own_port, local_file=local_file,
                       allow_fetch=allow_fetch)
    if len(data) > IMAGE_LIMITS.max_bytes:
        raise InputError(1401, f"{field}: the file has {len(data)} bytes; at most {IMAGE_LIMITS.max_bytes} allowed")
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
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


def _read_bytes(url: str, *, field: str, own_netlocs: set[str], own_port: int,
                local_file: Callable[[str], Path | None], allow_fetch: bool) -> bytes:
    if not isinstance(url, str) or not url.strip():
        raise InputError(1401, f"{field}: expected a URL")
    if url.startswith("data:"):
        return _decode_data_uri(url, field)
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(1401, f"{field}: {url[:200]!r} is not an http(s) URL or a data: URI")
    own = parts.netloc.lower() in own_netlocs or (is_loopback(parts.hostname) and parts.port == own_port)
    if own:
        path = local_file(urllib.parse.unquote(parts.path))
        if path is None:
            raise InputError(1402, f"{field}: {url} is not a file this server holds (upload it first)")
        return path.read_bytes()
    if not (is_loopback(parts.hostname) or allow_fetch):
        raise InputError(1402, f"{field}: {url} is unreachable from the local API, which only reads its own "
                               "uploads, loopback URLs and data: URIs (start it with allow_fetch=True to fetch others)")
    return _fetch(url, field)


def _fetch(url: str, field: str) -> bytes:
    import requests

    try:
        with requests.get(url, timeout=FETCH_TIMEOUT, stream=True) as response:
            if response.status_code != 200:
                raise InputError(1402, f"{field}: fetching {url} answered HTTP {response.status_code}")
            chunks, total = [], 0
            for chunk in response.iter_content(1 << 16):
                total += len(chunk)
                if total > IMAGE_LIMITS.max_bytes:
                    raise InputError(1401, f"{field}: the file is over {IMAGE_LIMITS.max_bytes} bytes")
                chunks.append(chunk)
            return b"".join(chunks)
    except requests.RequestException as exc:
        raise InputError(1402, f"{field}: fetching {url} failed ({type(exc).__name__})") from None


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
