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

Signed-in visitors (optional, switched on by the host: ``hf_oauth: true`` in a Space's README front matter, which
sets ``OAUTH_CLIENT_ID``, or ``PLAYGROUND_LOGIN=1``): the page shows "Sign in with Hugging Face", and a visitor who
signed in is ``hf:<username>`` (:func:`signed_in_owner`), read from Gradio's signed session cookie on every event, so
their history, caps and private outputs follow the Hugging Face account across reloads, browsers and restarts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import re
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SECRET_ENV = "PLAYGROUND_BROWSER_SECRET"
SECRET_FILE = "browser-secret"
STORAGE_KEY = "seedance-playground-visitor"  # the browser's localStorage key of the token: fixed, so reloads find it
MIN_SECRET_CHARS = 32
_ID_BYTES = 16   # 128 random bits per browser
_TAG_BYTES = 16
OWNER_PREFIX = "b:"
SIGNED_IN_PREFIX = "hf:"
LOGIN_ENV = "PLAYGROUND_LOGIN"
REQUIRE_LOGIN_ENV = "PLAYGROUND_REQUIRE_LOGIN"
# A Hugging Face user name: letters, digits, "-", "_" and "." (at most 96 here, far above what the Hub allows).
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")


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


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def login_required(env: Mapping[str, str] | None = None) -> bool:
    """``PLAYGROUND_REQUIRE_LOGIN=1``: only visitors signed in with Hugging Face may spend the host's key."""
    return _flag(os.environ if env is None else env, REQUIRE_LOGIN_ENV)


def login_enabled(env: Mapping[str, str] | None = None) -> bool:
    """Whether the page offers "Sign in with Hugging Face": on a Space with ``hf_oauth: true`` (Hugging Face then
    sets ``OAUTH_CLIENT_ID``), with ``PLAYGROUND_LOGIN=1`` (outside a Space Gradio signs in the account of the
    machine's Hugging Face token: for trying it out), or when the host requires sign-in."""
    env = os.environ if env is None else env
    return bool(env.get("OAUTH_CLIENT_ID", "").strip()) or _flag(env, LOGIN_ENV) or login_required(env)


def signed_in_owner(request: Any) -> str | None:
    """``hf:<username>`` for an event (a ``gr.Request``) of a visitor signed in with Hugging Face, else None.

    Read from the session cookie Gradio signs when the page has a login button (its ``SessionMiddleware``): a
    visitor cannot write it, and without a login button there is no session at all, so nobody is signed in. An
    expired sign-in names nobody, as Gradio itself treats it."""
    underlying = getattr(request, "request", None) or request
    scope = getattr(underlying, "scope", None)
    # Starlette keeps the session in the scope (reading ``.session`` without the middleware raises); a request that
    # Gradio rebuilt for its queue may carry a plain ``session`` instead.
    session = scope.get("session") if isinstance(scope, dict) else getattr(underlying, "session", None)
    info = session.get("oauth_info") if isinstance(session, Mapping) else None
    if not isinstance(info, Mapping):
        return None
    expires = info.get("expires_at")
    if isinstance(expires, (int, float)) and expires < time.time():
        return None
    user = info.get("userinfo")
    name = user.get("preferred_username") if isinstance(user, Mapping) else None
    if not isinstance(name, str) or not _USERNAME.fullmatch(name):
        return None
    return SIGNED_IN_PREFIX + name


__all__ = ["BrowserIdentity", "load_secret", "login_enabled", "login_required", "signed_in_owner", "SECRET_ENV",
           "STORAGE_KEY", "OWNER_PREFIX", "SIGNED_IN_PREFIX"]
