"""A request's inputs, read and checked once before anything is paid: its media (images, clips, sounds, lists of
them; paths, bytes, PIL images, ``data:`` URIs or URLs), what identifies them (content hashes, not upload URLs), and
their uploads to the API. Which fields carry media comes from the model's schema, not from a fixed list."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..client import Client
from ..errors import ValidationError
from ..images import PreparedImage, check_image_url, is_local_api, is_url, prepare_image
from ..jobs import Ledger

# A clip or a sound to continue or follow: far larger is not one a model takes (the API states no limit).
MEDIA_MAX_BYTES = 200 * 1024 * 1024
# What each kind of file starts with (at offset 0, or "ftyp" at 4 for the ISO family: mp4, mov, m4a).
_SIGNATURES = {
    "video": ((0, b"\x1aE\xdf\xa3"), (4, b"ftyp"), (0, b"RIFF")),
    "audio": ((0, b"ID3"), (0, b"\xff\xfb"), (0, b"\xff\xf3"), (0, b"RIFF"), (0, b"OggS"), (0, b"fLaC"), (4, b"ftyp")),
}
_EXT = {"video": ".mp4", "audio": ".mp3"}


@dataclass(frozen=True)
class PreparedFile:
    """A clip or a sound ready to upload: its bytes, their hash, and the field it is for."""

    field: str
    data: bytes
    filename: str
    sha256: str


@dataclass(frozen=True)
class Media:
    """A request's media, read and checked once: ``sources`` to send (URLs as given, else checked bytes; a list
    field holds a list), their content ``hashes`` (what identifies the request, not the upload URLs) and the files to
    ``uploads`` (a list's items named ``field[i]``)."""

    sources: dict[str, Any]
    hashes: dict[str, str]
    uploads: tuple[PreparedImage | PreparedFile, ...]


def prepare_file(source: Any, field: str, kind: str) -> PreparedFile:
    """Read a clip or a sound (a path or bytes); a ValidationError naming ``field`` when it is not one."""
    name = kind
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if len(str(source)) > 4096 or not path.is_file():
            raise ValidationError(f"{field}: no such file: {str(source)[:80]}")
        if path.stat().st_size > MEDIA_MAX_BYTES:
            raise ValidationError(f"{field}: {path.name} is over the {MEDIA_MAX_BYTES // 2**20} MB limit")
        raw, name = path.read_bytes(), path.name
    elif isinstance(source, (bytes, bytearray, memoryview)):
        raw = bytes(source)
    else:
        raise ValidationError(f"{field}: expected a file path, bytes or a URL, got {type(source).__name__}")
    if not raw:
        raise ValidationError(f"{field}: the file is empty")
    if len(raw) > MEDIA_MAX_BYTES:
        raise ValidationError(f"{field}: the file is over the {MEDIA_MAX_BYTES // 2**20} MB limit")
    if not any(raw[at:at + len(magic)] == magic for at, magic in _SIGNATURES[kind]):
        raise ValidationError(f"{field}: {name} is not a {kind} file (mp4, mov or webm for a clip; mp3, wav, m4a, "
                              "ogg or flac for a sound)")
    filename = name if "." in name else name + _EXT[kind]
    return PreparedFile(field, raw, filename, hashlib.sha256(raw).hexdigest())


def read_media(image: Any = None, last_image: Any = None, *, media: Mapping[str, Any] | None = None,
               kinds: Mapping[str, str] | None = None, client: Client | None = None, ledger: Ledger | None = None,
               public: bool = False) -> Media:
    """Read and check a request's media; refusals name the field.

    ``media`` maps each media field to its source (a list for a list field) and ``kinds`` each field to its kind:
    "image", "video" or "audio", or "images", "videos" or "audios" for a list (image when not given); without
    ``media``, ``image`` (required) and ``last_image`` are read.
    ``data:`` URIs are decoded, checked like files and uploaded. A URL the ``ledger`` holds as an upload of ours to
    ``client``'s API is known by its content (so a request given the file and one given its uploaded URL are the same
    request) and needs no check. With a ``client``, any other http(s) image URL is asked (HEAD) whether it holds an
    image before anything is paid for: private and loopback hosts only for the local API on a private machine; a
    ``public`` host (a hosted playground) never sends a request there and refuses every unusable URL with one
    sentence (:data:`playground.images.URL_REFUSED`); it takes clips and sounds as files only.
    """
    if media is None:
        if image is None:
            raise ValidationError("image: is required")
        media = {"image": image, "last_image": last_image}
    kinds = kinds or {}
    sources: dict[str, Any] = {}
    hashes: dict[str, str] = {}
    uploads: list[PreparedImage | PreparedFile] = []
    for name, source in media.items():
        if source is None:
            continue
        kind = kinds.get(name, "image")
        if kind.endswith("s"):  # a list field (images, videos, audios): its schema says so, not the value's type
            if not isinstance(source, (list, tuple)) or not source:
                raise ValidationError(f"{name}: expected a list of {kind}, got {type(source).__name__}"
                                      if not isinstance(source, (list, tuple)) else f"{name}: the list is empty")
            items = [_read_one(item, f"{name}[{i}]", kind[:-1], client, ledger, public, uploads)
                     for i, item in enumerate(source)]
            sources[name] = [value for value, _ in items]
            hashes[name] = "list:" + ",".join(digest for _, digest in items)
        else:
            sources[name], hashes[name] = _read_one(source, name, kind, client, ledger, public, uploads)
    return Media(sources, hashes, tuple(uploads))


def _read_one(source: Any, field: str, kind: str, client: Client | None, ledger: Ledger | None, public: bool,
              uploads: list) -> tuple[Any, str]:
    """(what to send, its content hash) of one medium; a file to upload is appended to ``uploads``."""
    if is_url(source) and not source.startswith("data:"):
        known = ledger.upload_hash(source, client.base_url) if ledger is not None and client is not None else None
        if client is not None and known is None:
            private_ok = not public and is_local_api(client.base_url, client.backend_id)
            if kind == "image":
                check_image_url(source, field, uniform=public, allow_private=private_ok)
            elif public:
                raise ValidationError(f"{field}: give the {kind} as a file; this host does not fetch addresses")
        return source, known or "url:" + source
    if kind == "image":
        prep = prepare_image(source, field)
    else:
        prep = prepare_file(source, field, kind)
    uploads.append(prep)
    return prep.data, prep.sha256


def ensure_uploaded(client: Client, ledger: Ledger, prep: PreparedImage | PreparedFile) -> str:
    """The URL of ``prep`` at the API: an upload of the same bytes still fresh in the ledger, else a new one."""
    # Keyed by the server's URL, not the backend's name: each process's embedded local API is a new server.
    cached = ledger.cached_upload(prep.sha256, client.base_url)
    if cached:
        return cached
    url = client.upload(prep.data, filename=prep.filename)
    ledger.remember_upload(prep.sha256, client.base_url, url)
    return url


__all__ = ["Media", "PreparedFile", "read_media", "prepare_file", "ensure_uploaded", "MEDIA_MAX_BYTES"]
