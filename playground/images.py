"""Input images: read a path, bytes, PIL image or ``data:`` URI, check it against the model's limits, and make
upload bytes; ask an image URL's server whether it holds an image.

Everything here runs before any paid request is sent, so a bad file or a dead link costs nothing. Messages name the
field.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import logging
import os
import re
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes, urljoin, urlsplit

from PIL import Image, ImageOps, UnidentifiedImageError

from .contract import IMAGE_LIMITS, ImageLimits, show
from .errors import ValidationError
from .netsafe import Answer, Resolver, is_loopback_host, open_checked

log = logging.getLogger(__name__)

# Pillow's names for the formats the API accepts (V); HEIC needs a plugin Pillow lacks, so it is sent as PNG.
_SEND_AS_IS = {"JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF"}
_FORMATS_HINT = "use a JPEG, PNG, WebP, BMP, TIFF or GIF"

# Pillow's decompression-bomb guard, at the contract's largest image (6000x6000): it warns above this many pixels
# and refuses twice as many; prepare_image refuses anything over it from the header, before decoding.
if Image.MAX_IMAGE_PIXELS is None or Image.MAX_IMAGE_PIXELS > IMAGE_LIMITS.max_pixels:
    Image.MAX_IMAGE_PIXELS = IMAGE_LIMITS.max_pixels

_WARNINGS_LOCK = threading.Lock()
# A path longer than this is not a path: it is text (a prompt, a base64 blob) passed where the image goes.
_MAX_PATH_CHARS = 4096
URL_CHECK_TIMEOUT_S = 5.0
URL_MAX_REDIRECTS = 2
# Servers that do not name the type of what they hold; the API fetches and checks it itself.
_UNTYPED = {"", "application/octet-stream", "binary/octet-stream", "application/binary"}


@dataclass(frozen=True)
class PreparedImage:
    """An image ready to upload: its bytes, their hash, and what it is."""

    field: str
    data: bytes
    filename: str
    width: int
    height: int
    sha256: str

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    def pil(self) -> Image.Image:
        return Image.open(io.BytesIO(self.data))


def is_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://", "data:"))


def prepare_image(source: Any, field: str = "image", limits: ImageLimits = IMAGE_LIMITS) -> PreparedImage:
    """Read and check an image; EXIF orientation is applied so the video is the right way up.

    ``source`` is a path, bytes, a PIL image or a ``data:`` URI. Refused with a ValidationError naming ``field``:
    non-images, empty, truncated or undecodable files, images whose header claims more than 6000x6000 px
    (decompression bombs: never decoded), sides outside 300-6000 px, width/height outside 0.4-2.5, files over 30 MB.
    """
    name = "image"
    if isinstance(source, str) and source.startswith("data:"):
        source = decode_data_uri(source, field, limits)
    if isinstance(source, (str, os.PathLike)):
        path = _existing_file(source, field)
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise ValidationError(f"{field}: {path.name} is {size / 2**20:.1f} MB; the limit is "
                                  f"{limits.max_bytes // 2**20} MB per image")
        raw = path.read_bytes()
        name = path.name
    elif isinstance(source, (bytes, bytearray, memoryview)):
        raw = bytes(source)
    elif isinstance(source, Image.Image):
        raw = None
    else:
        raise ValidationError(f"{field}: expected a file path, bytes, a PIL image or a URL, got "
                              f"{type(source).__name__}")

    label = name if isinstance(source, (str, os.PathLike)) else "the file"
    if raw is not None:
        if not raw:
            raise ValidationError(f"{field}: the file is empty")
        if len(raw) > limits.max_bytes:
            raise ValidationError(f"{field}: the image is {len(raw) / 2**20:.1f} MB; the limit is "
                                  f"{limits.max_bytes // 2**20} MB per image")
        img, fmt, turned = _decode(raw, field, label, limits)
    else:
        img, fmt, turned = source, "", False

    oriented = _upright(img, field, label) if turned else img
    w, h = oriented.size
    _check_sides(field, w, h, limits)
    ratio = w / h
    if not limits.min_ratio <= ratio <= limits.max_ratio:
        raise ValidationError(f"{field}: width/height is {ratio:.2f} ({w}x{h}); allowed {limits.min_ratio} to "
                              f"{limits.max_ratio}")

    if raw is not None and fmt in _SEND_AS_IS and not turned:
        data = raw
        filename = name if "." in name else f"{name}.{'jpg' if fmt == 'JPEG' else fmt.lower()}"
    else:
        buf = io.BytesIO()
        try:
            oriented.convert("RGBA" if oriented.mode in ("RGBA", "LA", "P") else "RGB").save(buf, format="PNG")
        except Exception:  # an exotic mode or a half-broken PIL image a caller built
            raise ValidationError(f"{field}: {label} could not be converted to PNG; {_FORMATS_HINT}") from None
        data = buf.getvalue()
        filename = Path(name).stem + ".png"
    if len(data) > limits.max_bytes:
        raise ValidationError(f"{field}: the image is {len(data) / 2**20:.1f} MB once prepared; the limit is "
                              f"{limits.max_bytes // 2**20} MB")
    return PreparedImage(field, data, filename, w, h, hashlib.sha256(data).hexdigest())


def _existing_file(source: str | os.PathLike, field: str) -> Path:
    text = os.fspath(source)
    if isinstance(text, bytes) or len(text) > _MAX_PATH_CHARS or "\x00" in text:
        raise ValidationError(f"{field}: expected a file path or an image URL, got {show(text)}")
    path = Path(text)
    try:
        exists = path.is_file()
    except (OSError, ValueError):  # a name too long for the file system, say
        exists = False
    if not exists:
        raise ValidationError(f"{field}: file {show(text)} does not exist")
    return path


def _check_sides(field: str, w: int, h: int, limits: ImageLimits) -> None:
    if min(w, h) < limits.min_side or max(w, h) > limits.max_side:
        raise ValidationError(f"{field}: {w}x{h} px is outside the allowed {limits.min_side} to {limits.max_side} "
                              "px per side")


def _decode(raw: bytes, field: str, label: str, limits: ImageLimits) -> tuple[Image.Image, str, bool]:
    """Open ``raw``, refuse it from its header when it is too large, then decode it; (image, format, needs turning).

    Pillow's decoders raise many types on hostile bytes (OSError, SyntaxError, struct.error, IndexError, ...): any of
    them means the file cannot be read, so each becomes one message naming the field.
    """
    try:
        # The bomb warning becomes an error here, so no stray warning reaches the user. catch_warnings swaps the
        # process's filters, so concurrent calls (batches run in threads) take turns; opening reads only the header.
        with _WARNINGS_LOCK, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(raw))
    except UnidentifiedImageError:
        raise ValidationError(f"{field}: {label} is not an image; {_FORMATS_HINT}") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValidationError(f"{field}: {label} claims more than {limits.max_pixels:,} pixels; the limit is "
                              f"{limits.max_side}x{limits.max_side} px (refused without decoding it)") from None
    except Exception:
        raise ValidationError(f"{field}: {label} is damaged or truncated; {_FORMATS_HINT}") from None
    fmt = img.format or ""
    _check_sides(field, *img.size, limits)  # from the header: a bomb is refused before its pixels are decoded
    try:
        img.load()
        # Only an EXIF orientation other than 1 changes the picture; then the bytes must be re-encoded upright.
        turned = img.getexif().get(0x0112, 1) not in (1, None)
    except Exception:
        raise ValidationError(f"{field}: {label} is damaged or truncated; {_FORMATS_HINT}") from None
    return img, fmt, turned


def _upright(img: Image.Image, field: str, label: str) -> Image.Image:
    try:
        return ImageOps.exif_transpose(img)
    except Exception:  # a malformed EXIF block
        raise ValidationError(f"{field}: {label} has unreadable orientation data; save it again without EXIF") \
            from None


_DATA_URI = re.compile(r"data:(?P<type>[^,;]*)(?P<params>(?:;[^,;]*)*),(?P<data>.*)", re.DOTALL)


def decode_data_uri(uri: str, field: str = "image", limits: ImageLimits = IMAGE_LIMITS) -> bytes:
    """The bytes of a ``data:`` URI, refused (naming ``field``) when malformed, not an image type or too large."""
    match = _DATA_URI.fullmatch(uri)
    if match is None:
        raise ValidationError(f"{field}: the data: URI is malformed (expected data:image/...;base64,...)")
    media_type = match["type"].strip().lower()
    if media_type and not media_type.startswith("image/"):
        raise ValidationError(f"{field}: the data: URI holds {show(media_type)}, not an image; {_FORMATS_HINT}")
    payload = match["data"]
    if len(payload) * 3 // 4 > limits.max_bytes:
        raise ValidationError(f"{field}: the data: URI holds about {len(payload) * 3 / 4 / 2**20:.1f} MB; the limit "
                              f"is {limits.max_bytes // 2**20} MB per image")
    try:
        if "base64" in (p.strip().lower() for p in match["params"].split(";")):
            return base64.b64decode(unquote_to_bytes(payload), validate=True)
        return unquote_to_bytes(payload)
    except (binascii.Error, ValueError):
        raise ValidationError(f"{field}: the data: URI's base64 is malformed") from None


def is_local_api(base_url: str, backend_id: str = "") -> bool:
    """Whether a client talks to the embedded local API (or one on this machine), whose own media URLs are on
    loopback: only then, and only on a private machine, may image URLs point at private or loopback hosts."""
    return backend_id == "local" or is_loopback_host(urlsplit(base_url).hostname or "")


# What a public host answers for every image URL it will not or could not use: one sentence, so the answer tells a
# stranger nothing about which addresses exist, answer, or refuse on the host's network.
URL_REFUSED = "{field}: this address cannot be used; give a public https:// link to an image, or upload the file"


def check_image_url(url: str, field: str = "image", *, allow_private: bool = False, uniform: bool = False,
                    timeout: float = URL_CHECK_TIMEOUT_S, limits: ImageLimits = IMAGE_LIMITS,
                    resolver: Resolver | None = None) -> None:
    """Ask ``url``'s server, without downloading it, whether it holds an image; raise a ValidationError naming
    ``field`` when not.

    A HEAD request, else a one-byte ranged GET (servers that refuse HEAD); at most ``URL_MAX_REDIRECTS`` redirects,
    each target checked by :func:`playground.netsafe.check_fetchable` before anything is sent to it, and asked over a
    connection to the address the check approved (``allow_private`` only for the local API on a private machine).
    Refused: hosts netsafe refuses, no answer, a non-2xx answer, a type that is not an image, a size over the limit.
    With ``uniform`` (a public host) every refusal is the one sentence :data:`URL_REFUSED`. No key is ever sent.
    """
    try:
        _check_image_url(url, field, allow_private, timeout, limits, resolver)
    except ValidationError as exc:
        if not uniform:
            raise
        log.info("%s refused: %s", field, exc)
        raise ValidationError(URL_REFUSED.format(field=field)) from None


def _check_image_url(url: str, field: str, allow_private: bool, timeout: float, limits: ImageLimits,
                     resolver: Resolver | None) -> None:
    current = url
    for _ in range(URL_MAX_REDIRECTS + 1):
        response = _ask(current, field, allow_private, timeout, resolver)
        if response.is_redirect:
            current = urljoin(current, response.headers["location"])
            continue
        break
    else:
        raise ValidationError(f"{field}: the URL redirects more than {URL_MAX_REDIRECTS} times; give the image's "
                              "own address, or upload the file instead")
    status = response.status
    if not 200 <= status < 300:
        raise ValidationError(f"{field}: the URL could not be fetched (HTTP {status}); check the address, or upload "
                              "the file instead")
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in _UNTYPED and not content_type.startswith("image/"):
        raise ValidationError(f"{field}: the URL is not an image (its server says {show(content_type)}); give an "
                              "image's address, or upload the file instead")
    size = _total_size(response)
    if size is not None and size > limits.max_bytes:
        raise ValidationError(f"{field}: the image at the URL is {size / 2**20:.1f} MB; the limit is "
                              f"{limits.max_bytes // 2**20} MB per image")


def _ask(url: str, field: str, allow_private: bool, timeout: float, resolver: Resolver | None) -> Answer:
    """HEAD, else a ranged GET whose body is never read; redirects are left to the caller to check."""
    import urllib3

    try:
        response = open_checked("HEAD", url, what=field, allow_private=allow_private, timeout=timeout,
                                resolver=resolver)
        if response.is_redirect or 200 <= response.status < 300:
            return response
        log.debug("HEAD %s answered %s; trying a ranged GET", url, response.status)
        return open_checked("GET", url, what=field, allow_private=allow_private, timeout=timeout,
                            headers={"Range": "bytes=0-0"}, resolver=resolver)
    except (OSError, urllib3.exceptions.HTTPError) as exc:
        timed_out = isinstance(exc, (TimeoutError, urllib3.exceptions.TimeoutError)) and \
            not isinstance(exc, urllib3.exceptions.NewConnectionError)  # urllib3 files a refusal under timeouts
        why = "timed out" if timed_out else "no connection"
        raise ValidationError(f"{field}: the URL could not be fetched ({why}); check the address and the network, "
                              "or upload the file instead") from None


def _total_size(response: Answer) -> int | None:
    if response.status == 206:  # Content-Range: bytes 0-0/12345
        total = response.headers.get("content-range", "").rpartition("/")[2]
        return int(total) if total.isdigit() else None
    length = response.headers.get("content-length", "")
    return int(length) if length.isdigit() else None
