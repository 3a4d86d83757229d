"""Who a browser is, across reloads and restarts, without an account: a random 128-bit identity that only this server
can mint or read, kept in the browser as a sealed token (the page stores it with ``gr.BrowserState``).

>>> ids = BrowserIdentity("a-server-secret-of-at-least-32-characters!")
>>> token = ids.mint()
>>> ids.owner(token) == ids.owner(token) and ids.owner(token).startswith("b:")
True
>>> ids.owner(token[:-2] + "AA") is None      # a token this server did not mint names nobody
True

The browser holds only the token: 16 random bytes and a MAC of them under the server's secret. The ledger files jobs
under the *owner*, a second MAC of the same bytes, which never leaves the server: so no visitor can make up a token
(no secret), turn a ledger row into a token (a one-way MAC), or read another browser's token (it lives in that
browser's storage only). ``gr.BrowserState``'s own ``secret`` is no protection here, since Gradio sends it to every
page in ``/config``; it only has to stay the same across restarts so the browser can read back what it stored.

The server's secret: ``PLAYGROUND_BROWSER_SECRET``, else a random one kept in ``PLAYGROUND_HOME/browser-secret``
(mode 0600), made on first use. It is never logged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)

SECRET_ENV = "PLAYGROUND_BROWSER_SECRET"
SECRET_FILE = "browser-secret"
STORAGE_KEY = "seedance-playground-visitor"  # the browser's localStorage key of the token: fixed, so reloads find it
MIN_SECRET_CHARS = 32
_ID_BYTES = 16   # 128 random bits per browser
_TAG_BYTES = 16
OWNER_PREFIX = "b:"


def load_secret(home: str | os.PathLike) -> str:
    """The server's secret: ``PLAYGROUND_BROWSER_SECRET``, else the one kept in ``home`` (made on first use, readable
    by this user only). A set variable shorter than :data:`MIN_SECRET_CHARS` is refused (it would be guessable)."""
    given = os.environ.get(SECRET_ENV, "").strip()
    if given:
        if len(given) < MIN_SECRET_CHARS:
            raise ValueError(f"{SECRET_ENV}: use at least {MIN_SECRET_CHARS} random characters")
        return given
    path = Path(home) / SECRET_FILE
    try:
        kept = path.read_text().strip()
    except FileNotFoundError:
        kept = ""
    if len(kept) >= MIN_SECRET_CHARS:
        return kept
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = secrets.token_urlsafe(48)
    try:  # O_EXCL: of two processes starting at once, one writes and the other reads what it wrote
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip() or fresh
    with os.fdopen(fd, "w") as fh:
        fh.write(fresh)
    log.info("made a browser-identity secret in %s (set %s to choose one)", path.parent, SECRET_ENV)
    return fresh


class BrowserIdentity:
    """Mints and reads browser tokens under one server secret (see the module docstring)."""

    def __init__(self, secret: str):
        self._key = hashlib.sha256(("seedance-playground/browser:" + secret).encode()).digest()

    def __repr__(self) -> str:
        return "BrowserIdentity(secret hidden)"

    def _mac(self, purpose: bytes, raw: bytes, size: int) -> bytes:
        return hmac.new(self._key, purpose + b"\0" + raw, hashlib.sha256).digest()[:size]

    def mint(self) -> str:
        """A new token: 128 random bits and their MAC, URL-safe base64."""
        raw = secrets.token_bytes(_ID_BYTES)
        return base64.urlsafe_b64encode(raw + self._mac(b"token", raw, _TAG_BYTES)).decode().rstrip("=")

    def owner(self, token: object) -> str | None:
        """The ledger owner of a token this server minted, else None (anything else names nobody)."""
        if not isinstance(token, str) or len(token) > 64:
            return None
        try:
            blob = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            return None
        raw, tag = blob[:_ID_BYTES], blob[_ID_BYTES:]
        if len(raw) != _ID_BYTES or not hmac.compare_digest(tag, self._mac(b"token", raw, _TAG_BYTES)):
            return None
        return OWNER_PREFIX + self._mac(b"owner", raw, 16).hex()

    def storage_secret(self) -> str:
        """The ``secret`` for ``gr.BrowserState``: stable across restarts, one-way from the server's secret, and no
        secret at all (Gradio sends it to the page)."""
        return self._mac(b"browser-state", b"", 24).hex()


__all__ = ["BrowserIdentity", "load_secret", "SECRET_ENV", "STORAGE_KEY", "OWNER_PREFIX"]
