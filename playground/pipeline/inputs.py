"""A request's inputs, read and checked once before anything is paid: its images (paths, bytes, PIL images,
``data:`` URIs or URLs), what identifies them (content hashes, not upload URLs), and their uploads to the API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..client import Client
from ..errors import ValidationError
from ..images import PreparedImage, check_image_url, is_local_api, is_url, prepare_image
from ..jobs import Ledger


@dataclass(frozen=True)
class Media:
    """A request's images, read and checked once: ``sources`` to send (URLs as given, else checked bytes), their
    content ``hashes`` (what identifies the request, not the upload URLs) and the ones to ``uploads``."""

    sources: dict[str, Any]
    hashes: dict[str, str]
    uploads: tuple[PreparedImage, ...]


def read_media(image: Any, last_image: Any = None, *, client: Client | None = None, ledger: Ledger | None = None,
               public: bool = False) -> Media:
    """Read and check ``image`` and ``last_image`` (paths, bytes, PIL images, ``data:`` URIs or URLs); refusals name
    the field.

    ``data:`` URIs are decoded, checked like files and uploaded. A URL the ``ledger`` holds as an upload of ours to
    ``client``'s API is known by its content (so a request given the file and one given its uploaded URL are the same
    request) and needs no check. With a ``client``, any other http(s) URL is asked (HEAD) whether it holds an image
    before anything is paid for: private and loopback hosts only for the local API on a private machine; a
    ``public`` host (a hosted playground) never sends a request there and refuses every unusable URL with one
    sentence (:data:`playground.images.URL_REFUSED`).
    """
    if image is None:
        raise ValidationError("image: is required")
    sources: dict[str, Any] = {}
    hashes: dict[str, str] = {}
    uploads = []
    for name, source in (("image", image), ("last_image", last_image)):
        if source is None:
            continue
        if is_url(source) and not source.startswith("data:"):
            known = ledger.upload_hash(source, client.base_url) if ledger is not None and client is not None else None
            if client is not None and known is None:
                check_image_url(source, name, uniform=public,
                                allow_private=not public and is_local_api(client.base_url, client.backend_id))
            sources[name], hashes[name] = source, known or "url:" + source
        else:
            prep = prepare_image(source, name)
            sources[name], hashes[name] = prep.data, prep.sha256
            uploads.append(prep)
    return Media(sources, hashes, tuple(uploads))


def ensure_uploaded(client: Client, ledger: Ledger, prep: PreparedImage) -> str:
    """The URL of ``prep`` at the API: an upload of the same bytes still fresh in the ledger, else a new one."""
    # Keyed by the server's URL, not the backend's name: each process's embedded local API is a new server.
    cached = ledger.cached_upload(prep.sha256, client.base_url)
    if cached:
        return cached
    url = client.upload(prep.data, filename=prep.filename)
    ledger.remember_upload(prep.sha256, client.base_url, url)
    return url


__all__ = ["Media", "read_media", "ensure_uploaded"]
