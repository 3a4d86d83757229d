"""The transport to a WaveSpeed-compatible API (the v3 contract): one session, the key, retries and typed errors.

Rules that matter for money and secrets:

* requests that are safe to repeat (GETs, and the idempotent POSTs: price, history, delete, upload ticket) are
  retried on 429, 5xx and dropped connections, with exponential backoff, full jitter and ``Retry-After``, a bounded
  number of times (:class:`RetryPolicy`, the one retry policy of the package); the submit POST never is;
* the key travels only in the ``Authorization`` header of requests to the API's own host: never to upload PUT URLs
  or output downloads, never into a log, a repr or an exception.
"""

from __future__ import annotations

import logging
import os
import platform
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests

from ..errors import (
    AuthError,
    InsufficientCredits,
    NotFound,
    RateLimited,
    ServerError,
    ValidationError,
    WaveSpeedError,
)
from ..netsafe import is_private_host
from .polling import PollSchedule

log = logging.getLogger("playground.client")

DEFAULT_BASE_URL = "https://api.wavespeed.ai"
CLIENT_NAME = "seedance-playground"
CLIENT_VERSION = "0.1.0"
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
# Read timeouts by request type, as the official clients use (V); connect timeout 10 s.
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = {"get": 30.0, "submit": 60.0, "upload": 120.0}
# Outputs are a few MB to a few tens of MB; a body far larger is not a video we asked for.
DEFAULT_MAX_DOWNLOAD_BYTES = 500 * 1024 * 1024
# How much earlier than our send a lost submit's task may be stamped (the API's clock against ours).
DEFAULT_CLOCK_SKEW_S = 10.0


class _BearerAuth(requests.auth.AuthBase):
    """Adds the key to requests for the API's own host only; its repr never shows the key."""

    def __init__(self, key: str):
        self._key = key

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self._key}"
        return r

    def __repr__(self) -> str:
        return "_BearerAuth(***)"


@dataclass
class RetryPolicy:
    """Bounded exponential backoff with full jitter for idempotent requests."""

    attempts: int = 6          # tries in all, the first included
    base_delay: float = 0.5
    max_delay: float = 10.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), 60.0)
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** attempt))


T = TypeVar("T")
_Self = TypeVar("_Self", bound="Transport")
DROPPED = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


class Transient(Exception):
    """Raised inside an attempt of :meth:`Client._retrying`: ``error`` may pass if the request is tried again."""

    def __init__(self, error: WaveSpeedError, retry_after: float | None = None):
        super().__init__(str(error))
        self.error, self.retry_after = error, retry_after


class Transport:
    """One ``requests.Session`` to a WaveSpeed-compatible API: the key (for its own host only), the one retry loop
    of every request that is safe to repeat, the envelope and the typed errors. :class:`playground.client.Client`
    is this transport with the endpoints of the other rooms of the package.

    ``api_key`` defaults to ``WAVESPEED_API_KEY``; ``base_url`` to ``WAVESPEED_BASE_URL`` or the real API.
    """

    def __init__(self, api_key: str | None = None, base_url: str | None = None, *,
                 retry: RetryPolicy | None = None, poll: PollSchedule | None = None,
                 session: requests.Session | None = None, backend_id: str | None = None,
                 max_download_bytes: int | None = None, allow_private_outputs: bool | None = None,
                 clock_skew: float = DEFAULT_CLOCK_SKEW_S):
        """``max_download_bytes`` caps an output download (default ``PLAYGROUND_MAX_DOWNLOAD_MB`` or 500 MB).
        ``allow_private_outputs`` lets outputs come from loopback/private hosts and plain http: by default only
        when ``base_url`` itself is such a host (the embedded local API). ``clock_skew`` is how many seconds before
        our send a lost submit's task may be stamped and still be ours."""
        key = api_key if api_key is not None else os.environ.get("WAVESPEED_API_KEY", "")
        self.base_url = (base_url or os.environ.get("WAVESPEED_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self._auth = _BearerAuth(key.strip()) if key and key.strip() else None
        # What the ledger files jobs under: the base URL, or a stable name such as "local" for the embedded API.
        self.backend_id = backend_id or self.base_url
        self.retry = retry or RetryPolicy()
        self.poll = poll or PollSchedule()
        self._session = session or requests.Session()
        self._session.headers.update({
            "X-Client-Name": CLIENT_NAME,
            "X-Client-Version": CLIENT_VERSION,
            "X-Client-OS": platform.system().lower() or "unknown",
        })
        self._lock = threading.Lock()
        self.requests_sent: dict[str, int] = {}
        self.max_download_bytes = max_download_bytes if max_download_bytes is not None else _env_download_cap()
        self.allow_private_outputs = (is_private_host(urlsplit(self.base_url).hostname or "")
                                      if allow_private_outputs is None else bool(allow_private_outputs))
        self.clock_skew = float(clock_skew)

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r}, key={'set' if self._auth else 'missing'})"

    @property
    def has_key(self) -> bool:
        return self._auth is not None

    def close(self) -> None:
        self._session.close()

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def _count(self, kind: str) -> None:
        with self._lock:
            self.requests_sent[kind] = self.requests_sent.get(kind, 0) + 1

    def _require_key(self) -> _BearerAuth:
        if self._auth is None:
            raise AuthError("No API key: set WAVESPEED_API_KEY or pass api_key=..., or use the local preview backend.")
        return self._auth

    def _send(self, method: str, path: str, *, kind: str, timeout: float, connect_timeout: float = CONNECT_TIMEOUT,
              **kw) -> requests.Response:
        auth = self._require_key()
        self._count(kind)
        return self._session.request(method, self._url(path), auth=auth, timeout=(connect_timeout, timeout), **kw)

    def _retrying(self, what: str, attempt: Callable[[], T], dropped: Callable[[Exception], WaveSpeedError], *,
                  attempts: int | None = None) -> T:
        """The one retry loop, for requests that are safe to repeat (never the submit POST): ``attempt`` returns the
        answer or raises :class:`Transient` (429, 5xx, a bad body); a dropped connection becomes ``dropped(exc)``.
        Bounded exponential backoff with full jitter, or the server's ``Retry-After``; the last error is raised.
        ``attempts`` (default the policy's) bounds the tries of a read that must not keep anyone waiting."""
        last: WaveSpeedError | None = None
        tries = self.retry.attempts if attempts is None else max(1, attempts)
        for n in range(tries):
            retry_after = None
            try:
                return attempt()
            except Transient as transient:
                last, retry_after = transient.error, transient.retry_after
            except DROPPED as exc:
                last = dropped(exc)
            if n + 1 < tries:
                pause = self.retry.delay(n, retry_after)
                log.info("%s failed (%s); retry %d in %.1fs", what, last, n + 1, pause)
                time.sleep(pause)
        assert last is not None
        raise last

    def _call(self, method: str, path: str, *, kind: str, timeout: float = READ_TIMEOUT["get"],
              task_id: str | None = None, attempts: int | None = None, connect_timeout: float = CONNECT_TIMEOUT,
              **kw) -> Any:
        """An idempotent request, retried on 429/5xx/dropped connections (at most ``attempts`` tries, default the
        policy's); returns the envelope's ``data``."""
        def attempt() -> Any:
            response = self._send(method, path, kind=kind, timeout=timeout, connect_timeout=connect_timeout, **kw)
            if response.status_code in RETRYABLE_STATUS:
                raise Transient(self._http_error(response, task_id=task_id), retry_after_of(response))
            return self._unwrap(response, task_id=task_id)

        return self._retrying(f"{method} {path}", attempt, lambda exc: ServerError(
            f"{method} {path}: the connection failed ({type(exc).__name__}); check the network or the API's status",
            task_id=task_id), attempts=attempts)

    def _unwrap(self, response: requests.Response, *, task_id: str | None = None) -> Any:
        if response.status_code != 200:
            raise self._http_error(response, task_id=task_id)
        body = json_of(response)
        if not isinstance(body, dict):
            raise ServerError(f"The API answered HTTP 200 with a body that is not JSON: {response.text[:200]!r}",
                              task_id=task_id)
        code = body.get("code", 200)
        if code != 200:
            raise self._api_error(code, str(body.get("message") or ""), 200, task_id=task_id)
        return body.get("data")

    def _http_error(self, response: requests.Response, *, task_id: str | None = None) -> WaveSpeedError:
        body = json_of(response)
        message = ""
        code = response.status_code
        if isinstance(body, dict):
            message = str(body.get("message") or body.get("error") or "")
            if isinstance(body.get("code"), int):
                code = body["code"]
        if not message:
            message = response.text[:300].strip() or response.reason or ""
        return self._api_error(code, message, response.status_code, task_id=task_id,
                               retry_after=retry_after_of(response))

    @staticmethod
    def _api_error(code: int, message: str, http: int, *, task_id: str | None = None,
                   retry_after: float | None = None) -> WaveSpeedError:
        where = f" (task {task_id})" if task_id else ""
        if http in (401, 403) or code in (401, 403):
            return AuthError(f"The API refused the key (HTTP {http}{where}): {message or 'Unauthorized'}. "
                             "Check the key, or use the local preview.", task_id=task_id, code=code, status=http)
        if code == 1407 or "insufficient" in message.lower():
            return InsufficientCredits(f"Insufficient credits{where}: {message}. Top up the account; nothing was "
                                       "charged.", task_id=task_id, code=code, status=http)
        if http == 429 or code == 429:
            return RateLimited(f"Rate limited by the API (HTTP 429{where}): {message or 'too many requests'}. "
                               "Wait a moment or lower the concurrency.", task_id=task_id, code=code, status=http,
                               retry_after=retry_after)
        if http == 404 or "not found" in message.lower():
            return NotFound(f"Not found{where}: {message or 'HTTP 404'}.", task_id=task_id, code=code, status=http)
        if http == 400:
            return ValidationError(message or "the API refused the request (HTTP 400)", task_id=task_id,
                                   code=code, status=http)
        return ServerError(f"The API answered HTTP {http}{where}: {message}. Try again later.", task_id=task_id,
                           code=code, status=http)


def _env_download_cap() -> int:
    value = os.environ.get("PLAYGROUND_MAX_DOWNLOAD_MB", "").strip()
    if not value:
        return DEFAULT_MAX_DOWNLOAD_BYTES
    try:
        megabytes = float(value)
    except ValueError:
        raise ValidationError(f"PLAYGROUND_MAX_DOWNLOAD_MB: expected a number of megabytes, got {value!r}") from None
    if megabytes <= 0:
        raise ValidationError(f"PLAYGROUND_MAX_DOWNLOAD_MB: {value} must be greater than 0")
    return int(megabytes * 1024 * 1024)


def json_of(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def retry_after_of(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return None


__all__ = ["Transport", "RetryPolicy", "DEFAULT_BASE_URL", "RETRYABLE_STATUS", "CONNECT_TIMEOUT", "READ_TIMEOUT"]
