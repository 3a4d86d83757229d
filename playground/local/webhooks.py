"""Webhooks of the local API, as the service sends them: signed per key, retried, with faults to test every path.

A submit with ``?webhook=<url>`` (loopback URLs only: anything else would let a submitter make this server call out)
gets one POST of the final prediction when its task ends. As WaveSpeed documents it: the body is the prediction
object itself (what ``GET .../result`` carries in ``data``); the headers are ``webhook-id`` (one per event, the same on
every retry of it), ``webhook-timestamp`` (Unix seconds of each attempt) and ``webhook-signature: v3,<hex>``, the
hex HMAC-SHA256 of ``"{id}.{timestamp}.{body}"`` keyed with the account's secret minus ``whsec_``
(:func:`playground.webhooks.sign`). Each account's secret (``GET /api/v3/webhook/secret``) is made on first use and
kept for the server's life, or fixed per key with ``LocalConfig.webhook_secrets``.

A delivery answered with anything but 2xx, or failing to connect, is tried again after ``webhook_backoff`` seconds,
doubling, up to ``webhook_attempts`` attempts. Faults (``PLAYGROUND_LOCAL_FAULTS``): ``webhook:drop`` (never sent),
``webhook:delay:S`` (sent S seconds late), ``webhook:duplicate`` (sent twice with the same id),
``webhook:bad_signature`` (signed with another secret).
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from playground.webhooks import SECRET_PREFIX, sign

from .accounts import account_id
from .faults import FaultPlan
from .inputs import is_loopback

log = logging.getLogger(__name__)

WEBHOOK_TIMEOUT = (5.0, 10.0)


def webhook_allowed(url: str) -> bool:
    """Only loopback http(s) URLs: anything else would let a submitter make this server call out."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and is_loopback(parts.hostname)


def new_secret() -> str:
    """``whsec_`` and 32 random bytes in standard base64 (so ``+``, ``/`` and ``=`` occur, as in the service's)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


class WebhookSecrets:
    """One secret per account, made on first use; ``fixed`` maps API keys to the secrets they must have."""

    def __init__(self, fixed: Mapping[str, str] | None = None):
        self._lock = threading.Lock()
        self._by_account = {account_id(key): secret for key, secret in (fixed or {}).items()}

    def of(self, account: str) -> str:
        with self._lock:
            if account not in self._by_account:
                self._by_account[account] = new_secret()
            return self._by_account[account]


@dataclass(frozen=True)
class Delivery:
    """What one attempt sent and how it went (for tests and the polling benchmark)."""

    task_id: str
    webhook_id: str
    attempt: int
    sent_at: float      # time.time() when the POST was sent
    status: int | None  # the receiver's HTTP status; None when the connection failed


class WebhookSender:
    """Signs and posts deliveries from a small pool, so a slow receiver never holds up the service."""

    def __init__(self, secrets_: WebhookSecrets, faults: FaultPlan, *, attempts: int = 5, backoff: float = 0.5,
                 workers: int = 4):
        self.secrets, self.faults = secrets_, faults
        self.attempts, self.backoff = max(1, int(attempts)), float(backoff)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="playground-local-webhook")
        self._lock = threading.Lock()
        self._log: list[Delivery] = []
        self._stopping = threading.Event()

    def send(self, url: str, account: str, prediction: dict[str, Any]) -> None:
        """Deliver ``prediction`` to ``url`` signed with ``account`` 's secret, applying the webhook faults."""
        task_id = prediction["id"]
        if self.faults.take("webhook", ("drop",), task_id=task_id) is not None:
            log.info("webhook for task %s dropped (fault)", task_id)
            return
        delay = self.faults.take_delay("webhook", "delay", task_id=task_id)
        copies = 2 if self.faults.take("webhook", ("duplicate",), task_id=task_id) is not None else 1
        forged = self.faults.take("webhook", ("bad_signature",), task_id=task_id) is not None
        secret = new_secret() if forged else self.secrets.of(account)
        body = json.dumps(prediction, separators=(",", ":")).encode()
        webhook_id = f"msg_{uuid.uuid4().hex}"
        for _ in range(copies):
            try:
                self._pool.submit(self._deliver, url, secret, webhook_id, task_id, body, delay)
            except RuntimeError:  # shutting down
                return

    def _deliver(self, url: str, secret: str, webhook_id: str, task_id: str, body: bytes, delay: float) -> None:
        import requests

        if delay and self._stopping.wait(delay):
            return
        pause = self.backoff
        for attempt in range(1, self.attempts + 1):
            timestamp = int(time.time())
            headers = {"content-type": "application/json", "webhook-id": webhook_id,
                       "webhook-timestamp": str(timestamp),
                       "webhook-signature": sign(secret, webhook_id, timestamp, body)}
            sent_at, status = time.time(), None
            try:
                status = requests.post(url, data=body, headers=headers, timeout=WEBHOOK_TIMEOUT).status_code
            except requests.RequestException as exc:
                log.warning("webhook for task %s, attempt %d: %s", task_id, attempt, type(exc).__name__)
            with self._lock:
                self._log.append(Delivery(task_id, webhook_id, attempt, sent_at, status))
            if status is not None and 200 <= status < 300:
                return
            if status is not None:
                log.warning("webhook for task %s, attempt %d: the receiver answered %d", task_id, attempt, status)
            if attempt == self.attempts or self._stopping.wait(pause):
                break
            pause *= 2
        log.warning("webhook for task %s given up after %d attempts", task_id, attempt)

    def deliveries(self, task_id: str | None = None) -> list[Delivery]:
        """Every attempt so far (of one task when given), oldest first."""
        with self._lock:
            return [d for d in self._log if task_id is None or d.task_id == task_id]

    def stop(self) -> None:
        self._stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
