"""HTTP to a WaveSpeed-compatible API (the v3 contract): submit, get, wait, upload, download, balance, price.

Written from ``shared/contract/wavespeed-v3.md``, not from what the local API accepts. Rules that matter for money:

* the submit POST is sent once and never retried: a lost reply raises :class:`SubmitOutcomeUnknown` and
  :meth:`Client.reconcile` finds the task through the history endpoint;
* GETs (and the idempotent POSTs: price, history, delete, upload ticket) are retried on 429, 5xx and dropped
  connections, with exponential backoff, full jitter and ``Retry-After``, a bounded number of times;
* the key travels only in the ``Authorization`` header of requests to the API's own host: never to upload PUT URLs
  or output downloads, never into a log, a repr or an exception.

>>> client = Client(api_key="...", base_url="http://127.0.0.1:8000")   # doctest: +SKIP
>>> pred = client.submit(SPICY, {"image": url, "resolution": "480p"})    # doctest: +SKIP
>>> pred = client.wait(pred.id)                                          # doctest: +SKIP
"""

from __future__ import annotations

import io
import logging
import mimetypes
import os
import platform
import random
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import requests

from .contract import validate
from .errors import (
    AuthError,
    Cancelled,
    InsufficientCredits,
    NotFound,
    OutputExpired,
    OutputInvalid,
    RateLimited,
    ServerError,
    SubmitOutcomeUnknown,
    TaskFailed,
    TaskTimeout,
    UnsafeURL,
    ValidationError,
    WaveSpeedError,
)
from .netsafe import check_fetchable, is_link_local, is_private_host
from .pricing import Quote, quote
from .status import COMPLETED, CREATED, TERMINAL

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.wavespeed.ai"
CLIENT_NAME = "seedance-playground"
CLIENT_VERSION = "0.1.0"
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
TERMINAL_STATUSES = TERMINAL  # the statuses in which a task has ended (playground.status)
# Read timeouts by request type, as the official clients use (V); connect timeout 10 s.
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = {"get": 30.0, "submit": 60.0, "upload": 120.0}
# Outputs are a few MB to a few tens of MB; a body far larger is not a video we asked for.
DEFAULT_MAX_DOWNLOAD_BYTES = 500 * 1024 * 1024
MAX_REDIRECTS = 5
RECONCILE_MAX_PAGES = 10  # of 100 history items each
# How much earlier than our send a lost submit's task may be stamped (the API's clock against ours).
DEFAULT_CLOCK_SKEW_S = 10.0
# Content types that are never a video: an error page or an API message served in place of the output.
_NOT_VIDEO_TYPES = ("text/", "application/json", "application/xml", "application/xhtml")


@dataclass(frozen=True)
class Prediction:
    """A task at the API, as the result endpoint describes it."""

    id: str
    model: str = ""
    status: str = CREATED
    outputs: tuple[str, ...] = ()
    has_nsfw_contents: tuple[bool, ...] = ()
    error: str = ""
    code: int | None = None
    inference_ms: int | None = None
    created_at: str = ""
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def done(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def nsfw(self) -> bool:
        return any(self.has_nsfw_contents)

    @property
    def created_ts(self) -> float | None:
        """``created_at`` as a Unix timestamp, or None when the API gave none."""
        if not self.created_at:
            return None
        try:
            return datetime.fromisoformat(self.created_at.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None

    @classmethod
    def from_api(cls, data: dict) -> Prediction:
        timings = data.get("timings") or {}
        inference = timings.get("inference") if isinstance(timings, dict) else None
        code = data.get("code")
        return cls(
            id=str(data.get("id") or ""),
            model=str(data.get("model") or ""),
            status=str(data.get("status") or CREATED),
            outputs=tuple(data.get("outputs") or ()),
            has_nsfw_contents=tuple(bool(x) for x in (data.get("has_nsfw_contents") or ())),
            error=str(data.get("error") or ""),
            code=int(code) if isinstance(code, int | float) and not isinstance(code, bool) else None,
            inference_ms=int(inference) if isinstance(inference, int | float) else None,
            created_at=str(data.get("created_at") or ""),
            raw=data,
        )


@dataclass(frozen=True)
class Reconciled:
    """What :meth:`Client.reconcile` found for a submit whose reply was lost.

    ``claimed`` is the task proven ours (None when none could be); ``candidates`` are the tasks that may be ours
    when several could, for a person to choose from (empty when claimed, and when no task was created at all).
    """

    claimed: Prediction | None = None
    candidates: tuple[Prediction, ...] = ()

    @property
    def ambiguous(self) -> bool:
        return self.claimed is None and bool(self.candidates)

    @property
    def nothing(self) -> bool:
        """No task at all could be ours: the submit created none, so nothing was charged."""
        return self.claimed is None and not self.candidates

    @property
    def candidate_ids(self) -> list[str]:
        return [p.id for p in self.candidates]


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


@dataclass
class PollSchedule:
    """When to ask for a task's result: sparse before the expected finish, dense around it, never below a floor.

    ``expected`` is the inference time in seconds and ``spread`` its uncertainty: from the ledger's past runs of the
    same model, resolution and duration (median and median absolute deviation), else the contract's typical time
    with ``spread=None``. Polls are spaced so that:

    * before ``expected - 2 * spread`` they are sparse: one poll lands there. Without history (``spread`` None),
      the schedule probes at doubling gaps from ``probe`` seconds (1.5, 3, 6, ...) up to a third of the estimate,
      which also catches tasks that fail or finish early;
    * from there to ``expected + 2 * spread`` (the window it most likely finishes in) they are dense: every
      ``spread / 4`` seconds, at least ``floor`` and at most ``ceiling``;
    * after the window each gap is ``growth`` times the last, up to ``ceiling``, so a wrong estimate does not
      hammer the API; no gap is longer than ``max_gap`` or shorter than ``floor``.

    The clock starts when the task starts processing: while it is queued (``created``) the finish moves with it.
    With history, the lag between the task finishing and the client knowing is about ``floor / 2`` (the official SDK,
    polling every second, has about 0.5 s) with a handful of requests per job instead of one per second.
    """

    floor: float = 0.5
    growth: float = 1.25
    ceiling: float = 5.0
    max_gap: float = 30.0
    probe: float = 1.5
    # With a webhook: no poll until the window's end plus this margin; then polling takes over (a lost delivery
    # costs latency, never the job).
    webhook_margin: float = 15.0

    def webhook_patience(self, expected: float | None, spread: float | None) -> float:
        """Seconds after the start to wait for a webhook delivery before polling."""
        return self.window(expected, spread)[1] + self.webhook_margin if expected else 4 * self.webhook_margin

    def window(self, expected: float | None, spread: float | None) -> tuple[float, float]:
        """Seconds after the start between which polls are dense."""
        if not expected:
            return 0.0, 0.0
        spread = spread if spread is not None else expected / 3
        return max(0.0, expected - 2 * spread), expected + 2 * spread

    def next_delay(self, elapsed: float, expected: float | None, spread: float | None, late_polls: int,
                   polls: int) -> float:
        """The gap before the next poll, ``elapsed`` seconds after the task started, after ``polls`` polls of which
        ``late_polls`` came after the window."""
        early, late = self.window(expected, spread)
        if elapsed + self.floor < early:
            gap = early - elapsed
            if spread is None:
                gap = min(gap, self.probe * 2 ** polls)
            return min(self.max_gap, max(self.floor, gap))
        dense = min(self.ceiling, max(self.floor, (late - early) / 16))
        if elapsed < late:
            return dense
        return min(self.ceiling, self.max_gap, dense * self.growth ** late_polls)


UpdateHook = Callable[[Prediction], None]
T = TypeVar("T")
_DROPPED = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


class _Transient(Exception):
    """Raised inside an attempt of :meth:`Client._retrying`: ``error`` may pass if the request is tried again."""

    def __init__(self, error: WaveSpeedError, retry_after: float | None = None):
        super().__init__(str(error))
        self.error, self.retry_after = error, retry_after


class Client:
    """A WaveSpeed-compatible API client on one ``requests.Session``.

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

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- transport -------------------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def _count(self, kind: str) -> None:
        with self._lock:
            self.requests_sent[kind] = self.requests_sent.get(kind, 0) + 1

    def _require_key(self) -> _BearerAuth:
        if self._auth is None:
            raise AuthError("No API key: set WAVESPEED_API_KEY or pass api_key=..., or use the local preview backend.")
        return self._auth

    def _send(self, method: str, path: str, *, kind: str, timeout: float, **kw) -> requests.Response:
        auth = self._require_key()
        self._count(kind)
        return self._session.request(method, self._url(path), auth=auth, timeout=(CONNECT_TIMEOUT, timeout), **kw)

    def _retrying(self, what: str, attempt: Callable[[], T], dropped: Callable[[Exception], WaveSpeedError]) -> T:
        """The one retry loop, for requests that are safe to repeat (never the submit POST): ``attempt`` returns the
        answer or raises :class:`_Transient` (429, 5xx, a bad body); a dropped connection becomes ``dropped(exc)``.
        Bounded exponential backoff with full jitter, or the server's ``Retry-After``; the last error is raised."""
        last: WaveSpeedError | None = None
        for n in range(self.retry.attempts):
            retry_after = None
            try:
                return attempt()
            except _Transient as transient:
                last, retry_after = transient.error, transient.retry_after
            except _DROPPED as exc:
                last = dropped(exc)
            if n + 1 < self.retry.attempts:
                pause = self.retry.delay(n, retry_after)
                log.info("%s failed (%s); retry %d in %.1fs", what, last, n + 1, pause)
                time.sleep(pause)
        assert last is not None
        raise last

    def _call(self, method: str, path: str, *, kind: str, timeout: float = READ_TIMEOUT["get"],
              task_id: str | None = None, **kw) -> Any:
        """An idempotent request, retried on 429/5xx/dropped connections; returns the envelope's ``data``."""
        def attempt() -> Any:
            response = self._send(method, path, kind=kind, timeout=timeout, **kw)
            if response.status_code in RETRYABLE_STATUS:
                raise _Transient(self._http_error(response, task_id=task_id), _retry_after(response))
            return self._unwrap(response, task_id=task_id)

        return self._retrying(f"{method} {path}", attempt, lambda exc: ServerError(
            f"{method} {path}: the connection failed ({type(exc).__name__}); check the network or the API's status",
            task_id=task_id))

    def _unwrap(self, response: requests.Response, *, task_id: str | None = None) -> Any:
        if response.status_code != 200:
            raise self._http_error(response, task_id=task_id)
        body = _json(response)
        if not isinstance(body, dict):
            raise ServerError(f"The API answered HTTP 200 with a body that is not JSON: {response.text[:200]!r}",
                              task_id=task_id)
        code = body.get("code", 200)
        if code != 200:
            raise self._api_error(code, str(body.get("message") or ""), 200, task_id=task_id)
        return body.get("data")

    def _http_error(self, response: requests.Response, *, task_id: str | None = None) -> WaveSpeedError:
        body = _json(response)
        message = ""
        code = response.status_code
        if isinstance(body, dict):
            message = str(body.get("message") or body.get("error") or "")
            if isinstance(body.get("code"), int):
                code = body["code"]
        if not message:
            message = response.text[:300].strip() or response.reason or ""
        return self._api_error(code, message, response.status_code, task_id=task_id,
                               retry_after=_retry_after(response))

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

    # ---- the endpoints ---------------------------------------------------------------------------------------

    def submit(self, model: str, params: dict[str, Any], *, webhook: str | None = None,
               validate_first: bool = True) -> Prediction:
        """POST the task once. Never retried: a lost reply raises SubmitOutcomeUnknown (see :meth:`reconcile`)."""
        if validate_first:
            problems = validate(model, params)
            if problems:
                raise ValidationError(problems)
        path = f"/api/v3/{model}"
        kw: dict[str, Any] = {"json": params}
        if webhook:
            kw["params"] = {"webhook": webhook}
        try:
            response = self._send("POST", path, kind="submit", timeout=READ_TIMEOUT["submit"], **kw)
            data = self._unwrap(response) if response.status_code < 500 else None
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            raise SubmitOutcomeUnknown(
                f"The submit reached the API but its reply was lost ({type(exc).__name__}): the task may exist and "
                "be charged. It was not re-sent; run resume or Client.reconcile() to find it.") from None
        if data is None:
            raise SubmitOutcomeUnknown(
                f"The API answered the submit with HTTP {response.status_code}: the task may or may not exist. It was "
                "not re-sent; run resume or Client.reconcile() to find it.", status=response.status_code)
        if not isinstance(data, dict) or not data.get("id"):
            raise SubmitOutcomeUnknown("The submit reply had no task id: it was not re-sent; run resume to look "
                                       "for the task.")
        pred = Prediction.from_api(data)
        log.info("submitted %s as task %s", model, pred.id)
        return pred

    def get(self, task_id: str) -> Prediction:
        """The task's current state (retried on transient failures)."""
        data = self._call("GET", f"/api/v3/predictions/{task_id}/result", kind="result", task_id=task_id)
        return Prediction.from_api(data or {})

    def wait(self, task_id: str, *, on_update: UpdateHook | None = None, timeout: float | None = None,
             expected: float | None = None, spread: float | None = None,
             cancel: threading.Event | None = None, raise_on_failure: bool = True) -> Prediction:
        """Poll until the task ends (see :class:`PollSchedule`). ``on_update`` sees every poll's Prediction.

        ``timeout`` stops waiting (TaskTimeout) and ``cancel`` stops it at once (Cancelled); in both cases the task
        goes on at the API and can be resumed by id.
        """
        start = time.monotonic()
        started = start          # when the task is believed to have started processing
        polls = late = 0
        last_poll, last_status = start, None
        while True:
            now = time.monotonic()
            delay = self.poll.next_delay(now - started, expected, spread, late, polls)
            if now - started >= self.poll.window(expected, spread)[1]:
                late += 1
            wake = now + delay
            if timeout is not None:
                wake = min(wake, start + timeout)
            _sleep_until(wake, cancel)
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"Stopped waiting for task {task_id}; it may still finish at the API. Resume it "
                                "from the history to collect the video.", task_id=task_id)
            if timeout is not None and time.monotonic() - start >= timeout:
                raise TaskTimeout(f"Task {task_id} is not finished after {timeout:.0f} s of waiting; it goes on at "
                                  "the API. Resume it later to collect the video.", task_id=task_id)
            pred = self.get(task_id)
            polls += 1
            if on_update is not None:
                on_update(pred)
            if pred.done:
                if raise_on_failure and pred.status != COMPLETED:
                    raise task_failed(pred)
                return pred
            now = time.monotonic()
            if pred.status == CREATED:
                # Still queued behind the account's concurrency: the expected finish moves with it.
                started, late = now, 0
            elif last_status == CREATED:
                started, late = (now + last_poll) / 2, 0  # it started somewhere in the last gap
            last_poll, last_status = now, pred.status

    def upload(self, source: str | os.PathLike | bytes | Any, *, filename: str | None = None) -> str:
        """Upload a file, bytes or PIL image; return its download URL (valid 7 days).

        Uses the ticket endpoint (POST ticket, then PUT the bytes without the key); falls back to the legacy
        multipart endpoint when the ticket endpoint does not exist (404/405).
        """
        data, filename, content_type = _read_upload(source, filename)
        try:
            ticket = self._call("POST", "/api/v3/media/uploads", kind="upload", timeout=READ_TIMEOUT["upload"],
                                json={"filename": filename, "size": len(data), "content_type": content_type})
        except NotFound:
            ticket = None
        except ServerError as exc:
            if exc.status != 405:
                raise
            ticket = None
        if ticket is None:
            log.info("ticket upload unavailable; using the legacy multipart endpoint")
            data_ = self._call("POST", "/api/v3/media/upload/binary", kind="upload", timeout=READ_TIMEOUT["upload"],
                               files={"file": (filename, data, content_type)})
            url = (data_ or {}).get("download_url")
            if not url:
                raise ServerError("The legacy upload answered without a download_url; try again.")
            return url
        instruction = (ticket or {}).get("upload") or {}
        if str(instruction.get("method", "")).upper() != "PUT" or not instruction.get("url"):
            raise ServerError("The upload ticket had no PUT instruction; try again or report the API change.")
        headers = {str(k): str(v) for k, v in (instruction.get("headers") or {}).items()}

        def put() -> None:
            self._count("upload_put")
            # A pre-signed URL: exactly the ticket's headers, and never our key.
            answer = requests.put(instruction["url"], data=data, headers=headers,
                                  timeout=(CONNECT_TIMEOUT, READ_TIMEOUT["upload"]))
            if not 200 <= answer.status_code < 300:
                error = ServerError(f"The upload PUT answered HTTP {answer.status_code}; try again.")
                if answer.status_code not in RETRYABLE_STATUS:
                    raise error
                raise _Transient(error, _retry_after(answer))

        self._retrying("upload PUT", put,
                       lambda exc: ServerError(f"The upload PUT failed ({type(exc).__name__}); try again."))
        url = ticket.get("download_url")
        if not url:
            raise ServerError("The upload ticket had no download_url; try again.")
        return url

    def download(self, url: str, dest: str | os.PathLike, *, task_id: str | None = None,
                 check: Callable[[Path], Any] | None = None) -> Path:
        """Fetch an output to ``dest`` only if it is what we paid for: a playable video, not too large, from an
        allowed host.

        Every URL, and every redirect hop, passes :func:`playground.netsafe.check_fetchable` (``https`` and public
        hosts only, unless ``allow_private_outputs``). The body streams to a temporary file beside ``dest`` and stops
        as soon as it passes ``max_download_bytes``; the file is checked (``check``, default :func:`check_video`)
        before it is moved into place. Refusals raise :class:`UnsafeURL` or :class:`OutputInvalid`, an answer that
        is gone :class:`OutputExpired`, transport trouble (after retries) :class:`ServerError`; no partial file is
        left behind.
        """
        dest = Path(dest)
        what = f"the output of task {task_id or '?'}"
        self._check_output_url(url, what)
        dest.parent.mkdir(parents=True, exist_ok=True)

        def fetch() -> Path:
            self._count("download")
            try:
                with self._open_output(url, what, task_id) as r:
                    if r.status_code in (403, 404, 410):
                        raise OutputExpired(
                            f"The output of task {task_id or '?'} no longer answers (HTTP {r.status_code}): outputs "
                            "are kept 7 days. The ledger keeps the task id; run the request again to get a new "
                            "video.", task_id=task_id, status=r.status_code)
                    if r.status_code in RETRYABLE_STATUS:
                        raise _Transient(ServerError(f"Downloading the output answered HTTP {r.status_code}",
                                                     task_id=task_id), _retry_after(r))
                    if r.status_code != 200:
                        raise ServerError(f"Downloading the output answered HTTP {r.status_code}; try again.",
                                          task_id=task_id, status=r.status_code)
                    self._save_output(r, dest, what, task_id, check or check_video)
                    return dest
            except ServerError as exc:
                if exc.status is None or exc.status in RETRYABLE_STATUS:  # truncated, empty, a bad redirect: again
                    raise _Transient(exc) from None
                raise
            except _DROPPED:
                raise
            except requests.RequestException as exc:  # a URL requests cannot use at all: retrying will not help
                raise ServerError(f"Downloading {what} failed ({type(exc).__name__}); the API gave an output URL "
                                  "this client cannot fetch.", task_id=task_id) from None

        return self._retrying(f"downloading {what}", fetch, lambda exc: ServerError(
            f"Downloading {what} failed ({type(exc).__name__}); try again.", task_id=task_id))

    def _check_output_url(self, url: str, what: str) -> None:
        check_fetchable(url, what=what, allow_private=self.allow_private_outputs)
        host = urlsplit(url).hostname or ""
        # Even for the embedded API, link-local hosts (cloud metadata at 169.254.169.254) are never an output.
        if is_link_local(host):
            raise UnsafeURL(f"{what}: the host {host!r} is link-local (cloud metadata); refused")

    def _open_output(self, url: str, what: str, task_id: str | None) -> requests.Response:
        """GET ``url`` following at most MAX_REDIRECTS redirects by hand, each hop checked before it is fetched."""
        for _ in range(MAX_REDIRECTS + 1):
            # Output URLs live on a CDN: no key goes there (a plain requests.get, not our session).
            r = requests.get(url, stream=True, allow_redirects=False,
                             timeout=(CONNECT_TIMEOUT, READ_TIMEOUT["upload"]))
            if r.status_code not in (301, 302, 303, 307, 308):
                return r
            location = r.headers.get("Location")
            r.close()
            if not location:
                raise ServerError(f"Downloading {what} answered a redirect without a Location; try again.",
                                  task_id=task_id, status=502)
            url = urljoin(url, location)
            self._check_output_url(url, f"{what} (redirected)")
        raise ServerError(f"Downloading {what} was redirected more than {MAX_REDIRECTS} times; refused.",
                          task_id=task_id, status=508)

    def _save_output(self, r: requests.Response, dest: Path, what: str, task_id: str | None,
                     check: Callable[[Path], Any]) -> None:
        cap = self.max_download_bytes
        kind = (r.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if kind.startswith(_NOT_VIDEO_TYPES):
            raise OutputInvalid(f"{what.capitalize()} answered {kind!r}, not a video; nothing was saved. Resume "
                                "later to try again.", task_id=task_id)
        expected = r.headers.get("Content-Length")
        expected_n = int(expected) if expected and expected.isdigit() else None
        if expected_n is not None and expected_n > cap:
            raise OutputInvalid(f"{what.capitalize()} is {expected_n} bytes, over the {cap}-byte download cap "
                                "(max_download_bytes / PLAYGROUND_MAX_DOWNLOAD_MB); nothing was saved.",
                                task_id=task_id)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        written = 0
        try:
            with os.fdopen(fd, "wb") as fh:
                for chunk in r.iter_content(1 << 16):
                    written += len(chunk)
                    if written > cap:
                        raise OutputInvalid(f"{what.capitalize()} passed the {cap}-byte download cap "
                                            "(max_download_bytes / PLAYGROUND_MAX_DOWNLOAD_MB); stopped, nothing "
                                            "was saved.", task_id=task_id)
                    fh.write(chunk)
            if expected_n is not None and expected_n != written:
                raise ServerError(f"The download of task {task_id or '?'} stopped at {written} of "
                                  f"{expected_n} bytes", task_id=task_id)
            if written == 0:
                raise ServerError(f"The output of task {task_id or '?'} was empty", task_id=task_id)
            try:
                check(Path(tmp))
            except OutputInvalid as exc:
                raise OutputInvalid(f"{what.capitalize()} is not a playable video ({exc}); nothing was saved. "
                                    "Resume later to try again.", task_id=task_id) from None
            os.replace(tmp, dest)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def balance(self) -> float:
        """The account's balance in USD."""
        data = self._call("GET", "/api/v3/balance", kind="balance")
        return float((data or {}).get("balance", 0.0))

    def webhook_secret(self) -> str:
        """The secret this key's webhook deliveries are signed with (``GET /api/v3/webhook/secret``; the reply may be
        enveloped or a bare ``{"secret": ...}``). This client never logs or stores it."""
        def attempt() -> str:
            response = self._send("GET", "/api/v3/webhook/secret", kind="webhook_secret", timeout=READ_TIMEOUT["get"])
            if response.status_code in RETRYABLE_STATUS:
                raise _Transient(self._http_error(response), _retry_after(response))
            body = _json(response) if response.status_code == 200 else None
            data = body if isinstance(body, dict) and "secret" in body else self._unwrap(response)
            secret = data.get("secret") if isinstance(data, dict) else None
            if not isinstance(secret, str) or not secret:
                raise ServerError("The API's webhook secret reply carried no secret.")
            return secret

        return self._retrying("GET /api/v3/webhook/secret", attempt, lambda exc: ServerError(
            f"Fetching the webhook secret failed ({type(exc).__name__}); check the network or the API's status"))

    def price(self, model: str, params: dict[str, Any], *, live: bool = True) -> Quote:
        """The cost of a request: the API's own price when it answers, else the pricing table marked as estimate."""
        table = quote(model, params)
        if not live or not self.has_key:
            return table
        try:
            data = self._call("POST", "/api/v3/model/price", kind="price", json={"model_id": model, "inputs": params})
            value = data.get("discounted_price", data.get("price")) if isinstance(data, dict) else None
            if value is None:
                raise ServerError("no price in the reply")
            return Quote(float(value), True, "live price from the API")
        except (AuthError, ValidationError):
            raise
        except WaveSpeedError as exc:
            log.info("live price unavailable (%s); using the pricing table", exc)
            return Quote(table.usd, False, "estimate from the pricing table (the API did not answer)")

    def delete(self, ids: list[str] | str) -> None:
        """Cancel unfinished tasks or delete finished ones (generation may not stop at once)."""
        ids = [ids] if isinstance(ids, str) else list(ids)
        self._call("POST", "/api/v3/predictions/delete", kind="delete", json={"ids": ids})

    def history(self, *, page: int = 1, page_size: int = 50, created_after: float | None = None,
                created_before: float | None = None, model: str | None = None,
                status: str | None = None) -> tuple[list[Prediction], int]:
        """One page of the account's predictions, newest first, and the total count."""
        body: dict[str, Any] = {"page": page, "page_size": page_size}
        if created_after is not None:
            body["created_after"] = _iso(created_after)
        if created_before is not None:
            body["created_before"] = _iso(created_before)
        if model:
            body["model"] = model
        if status:
            body["status"] = status
        data = self._call("POST", "/api/v3/predictions", kind="history", json=body) or {}
        items = [Prediction.from_api(item) for item in data.get("items") or []]
        return items, int(data.get("total") or len(items))

    def reconcile(self, model: str, *, sent_at: float, params: dict[str, Any] | None = None,
                  exclude: set[str] | frozenset[str] | Callable[[], set[str]] = frozenset(),
                  window: float = 300.0, skew: float | None = None) -> Reconciled:
        """Find the task a submit whose reply was lost created, claiming only a task that is provably ours.

        Candidates are the tasks of ``model`` created from ``sent_at - skew`` (default ``clock_skew``) to
        ``sent_at + window``, minus ``exclude`` (ids the ledger already holds, under any backend; a callable is asked
        after the history is read, so a task another client recorded meanwhile is left out too). A candidate whose
        history item carries an ``input`` that differs from ``params`` in any field is someone else's; one whose
        input holds every field of ``params`` with the same values (image URLs included) is proven ours. The task is
        claimed when exactly one proven candidate remains and no unproven one, or, when no item carries inputs,
        when exactly one candidate remains. Otherwise nothing is claimed and the candidates are returned for a person
        to choose (:func:`playground.pipeline.claim`). No candidate at all means no task was created.
        """
        skew = self.clock_skew if skew is None else float(skew)
        start, end = sent_at - skew, sent_at + window
        items: list[Prediction] = []
        for page in range(1, RECONCILE_MAX_PAGES + 1):
            batch, total = self.history(page=page, page_size=100, created_after=start, created_before=end,
                                        model=model)
            items.extend(batch)
            if not batch or len(items) >= total:
                break
        else:
            log.warning("reconcile: more than %d tasks in the window; looked at the newest only", len(items))
        if callable(exclude):
            exclude = exclude()
        seen: set[str] = set()
        proven: list[Prediction] = []
        unproven: list[Prediction] = []
        for pred in items:
            if not pred.id or pred.id in seen or pred.id in exclude or (pred.model and pred.model != model):
                continue
            seen.add(pred.id)
            ts = pred.created_ts
            if ts is not None and not start <= ts <= end:  # in case the API ignored the time filter
                continue
            verdict = _input_verdict(pred.raw.get("input"), params)
            if verdict is False:
                continue
            (proven if verdict else unproven).append(pred)
        if len(proven) == 1 and not unproven:
            return Reconciled(proven[0])
        if not proven and len(unproven) == 1:
            return Reconciled(unproven[0])
        everyone = sorted(proven + unproven, key=lambda p: (p.created_ts or sent_at, p.id))
        return Reconciled(None, tuple(everyone))


def task_failed(pred: Prediction) -> TaskFailed:
    """The error for a task that ended without a video, with a readable reason."""
    from .errors import TASK_ERROR_CODES

    reason = TASK_ERROR_CODES.get(pred.code or 0, "")
    detail = pred.error or reason or "no reason given"
    hint = {
        1200: "Change the image or prompt.",
        1402: "Upload the image again (uploads last 7 days) or check its URL.",
    }.get(pred.code or 0, "Try again or change the inputs.")
    hint += " Failed runs are refunded."
    code = f" code {pred.code}" if pred.code else ""
    return TaskFailed(f"Task {pred.id} {pred.status}{code}: {detail}. {hint}", task_id=pred.id, code=pred.code)


def check_video(path: str | os.PathLike) -> None:
    """Raise :class:`OutputInvalid` unless ``path`` is a video container (MP4/MOV or WebM/Matroska) from which at
    least one frame decodes. Cheap: reads the header and decodes a single frame."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            head = fh.read(12)
    except OSError as exc:
        raise OutputInvalid(f"{p.name}: cannot be read ({type(exc).__name__})") from None
    if not (head[4:8] == b"ftyp" or head[:4] == b"\x1a\x45\xdf\xa3"):
        raise OutputInvalid(f"{p.name}: not an MP4 or WebM file")
    import imageio_ffmpeg  # only here: the client needs ffmpeg for this one check

    frames = None
    try:
        frames = imageio_ffmpeg.read_frames(str(p))
        meta = next(frames)
        if not meta.get("size"):
            raise OutputInvalid(f"{p.name}: has no video stream")
        next(frames)
    except StopIteration:
        raise OutputInvalid(f"{p.name}: no frame decodes") from None
    except (OSError, RuntimeError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise OutputInvalid(f"{p.name}: ffmpeg cannot read it ({reason})") from None
    finally:
        if frames is not None:
            frames.close()


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


def _sleep_until(deadline: float, cancel: threading.Event | None) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return
    if cancel is not None:
        cancel.wait(remaining)
    else:
        time.sleep(remaining)


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _input_verdict(recorded: Any, params: dict[str, Any] | None) -> bool | None:
    """True when ``recorded`` holds every field of ``params`` with the same value, False when any field it holds
    differs, None when it cannot tell (no input recorded, or fields missing)."""
    if params is None or not isinstance(recorded, dict):
        return None
    complete = True
    for key, value in params.items():
        if key not in recorded:
            complete = False
        elif not _same_value(recorded[key], value):
            return False
    return True if complete else None


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool) \
            and not isinstance(b, bool):
        return float(a) == float(b)
    return a == b


def _read_upload(source: Any, filename: str | None) -> tuple[bytes, str, str]:
    """Bytes, a filename and a content type for a path, bytes or PIL image."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        data = path.read_bytes()
        filename = filename or path.name
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        filename = filename or "upload.bin"
    elif hasattr(source, "save") and hasattr(source, "size"):
        buf = io.BytesIO()
        source.save(buf, format="PNG")
        data = buf.getvalue()
        filename = filename or "image.png"
    else:
        raise ValidationError(f"upload: expected a path, bytes or a PIL image, got {type(source).__name__}")
    content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    return data, filename, content_type


__all__ = ["Client", "Prediction", "PollSchedule", "Reconciled", "RetryPolicy", "TERMINAL_STATUSES", "check_video",
           "task_failed"]
