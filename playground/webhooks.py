"""Verifying WaveSpeed webhook deliveries: anyone's FastAPI or Flask app can use :func:`verify`.

A submit with ``?webhook=<url>`` makes the service POST the prediction to that URL when the task ends, signed with
the secret of the API key that submitted it (``GET /api/v3/webhook/secret``). The signature, as the vendor documents
it: hex HMAC-SHA256 over ``"{webhook-id}.{webhook-timestamp}.{raw body}"``, keyed with the secret **without** its
``whsec_`` prefix and **not** base64-decoded, sent as ``webhook-signature: v3,<hex>``.

>>> payload = verify(secret, request.headers, await request.body())   # doctest: +SKIP
>>> payload["id"], payload["status"], payload["outputs"]                # doctest: +SKIP

A refused delivery raises :class:`WebhookRejected` with the HTTP status to answer (400 or 401). Deliveries may be
repeated: handle them idempotently by the task id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from .errors import WaveSpeedError

log = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v3"
TOLERANCE_S = 300
MAX_BODY_BYTES = 1 << 20  # a prediction is a few KB; anything near a megabyte is not one


class WebhookRejected(WaveSpeedError):
    """A delivery that is not a genuine, fresh, well-formed webhook. ``status`` is what to answer (400 or 401)."""


def _key(secret: str) -> bytes:
    return (secret[len(SECRET_PREFIX):] if secret.startswith(SECRET_PREFIX) else secret).encode()


def sign(secret: str, webhook_id: str, timestamp: int | str, body: bytes) -> str:
    """The ``webhook-signature`` header value for ``body`` (what the service sends; for tests and local servers)."""
    message = f"{webhook_id}.{timestamp}.".encode() + body
    return f"{SIGNATURE_VERSION},{hmac.new(_key(secret), message, hashlib.sha256).hexdigest()}"


def verify(secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None,
           tolerance: float = TOLERANCE_S, max_bytes: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """Check a delivery and return its prediction object; raise :class:`WebhookRejected` otherwise.

    Refused: a body over ``max_bytes`` (400), missing headers (401), a timestamp more than ``tolerance`` seconds
    away from ``now`` (401), a signature that does not match in constant time (401), a body that is not a JSON object
    with an ``id`` (400). The prediction may come bare or in the usual ``{"code", "data"}`` envelope.
    """
    if len(body) > max_bytes:
        raise WebhookRejected(f"webhook: the body is {len(body)} bytes; at most {max_bytes} are accepted", status=400)
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    webhook_id = lowered.get("webhook-id", "")
    timestamp = lowered.get("webhook-timestamp", "")
    signatures = lowered.get("webhook-signature", "")
    if not (webhook_id and timestamp and signatures):
        raise WebhookRejected("webhook: the webhook-id, webhook-timestamp and webhook-signature headers are required",
                              status=401)
    try:
        sent = int(timestamp)
    except ValueError:
        raise WebhookRejected("webhook: webhook-timestamp is not a Unix time in seconds", status=401) from None
    if abs((time.time() if now is None else now) - sent) > tolerance:
        raise WebhookRejected(f"webhook: the timestamp is more than {tolerance:.0f} s away; refused as stale",
                              status=401)
    expected = sign(secret, webhook_id, timestamp, body)
    # The header may carry several space-separated signatures (during a secret rotation): any one may match.
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures.split()):
        raise WebhookRejected("webhook: the signature does not match", status=401)
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise WebhookRejected("webhook: the body is not JSON", status=400) from None
    if isinstance(payload, dict) and isinstance(payload.get("data"), dict) and "id" not in payload:
        payload = payload["data"]
    if not isinstance(payload, dict) or not isinstance(payload.get("id"), str) or not payload["id"]:
        raise WebhookRejected("webhook: the body is not a prediction (no id)", status=400)
    return payload


def task_id_of(body: bytes) -> str | None:
    """The task id a delivery claims to be about (unverified: only to find which key's secret to check it with)."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if isinstance(payload, dict) and isinstance(payload.get("data"), dict) and "id" not in payload:
        payload = payload["data"]
    task_id = payload.get("id") if isinstance(payload, dict) else None
    return task_id if isinstance(task_id, str) and task_id else None


# ---- turning it on, and the deliveries of this process ------------------------------------------------------------

RECEIVER_PATH = "/webhooks/wavespeed"


def public_webhook_url(env: Mapping[str, str] | None = None) -> str | None:
    """Where the service should deliver: ``PLAYGROUND_PUBLIC_URL`` (or ``https://$SPACE_HOST`` on a Hugging Face
    Space) plus :data:`RECEIVER_PATH`; None when neither is set (a laptop the service cannot reach).

    ``SPACE_HOST`` may name several hosts separated by commas (a Space with a custom domain): the first is used.

    >>> public_webhook_url({"SPACE_HOST": "me-playground.hf.space,playground.example.com"})
    'https://me-playground.hf.space/webhooks/wavespeed'
    """
    env = os.environ if env is None else env
    base = (env.get("PLAYGROUND_PUBLIC_URL") or "").strip().rstrip("/")
    host = (env.get("SPACE_HOST") or "").split(",")[0].strip().rstrip("/")
    if not base and host:
        base = "https://" + host
    return base + RECEIVER_PATH if base else None


class SecretBook:
    """Webhook secrets by account tag (:func:`playground.jobs.account_tag` of the key), in memory only: a secret is
    never written anywhere. :meth:`learn` fetches a key's secret once (``GET /api/v3/webhook/secret``)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._secrets: dict[str, str] = {}

    def set(self, account: str, secret: str) -> None:
        with self._lock:
            self._secrets[account] = secret

    def get(self, account: str) -> str | None:
        with self._lock:
            return self._secrets.get(account)

    def all(self) -> list[str]:
        with self._lock:
            return list(self._secrets.values())

    def items(self) -> list[tuple[str, str]]:
        """(account, secret) pairs."""
        with self._lock:
            return list(self._secrets.items())

    def learn(self, account: str, client: Any) -> str | None:
        """The account's secret, fetched with ``client`` (its key) the first time; None when the API will not say."""
        known = self.get(account)
        if known:
            return known
        try:
            secret = client.webhook_secret()
        except WaveSpeedError as exc:
            log.warning("could not fetch the webhook secret (%s); deliveries for this key will be refused and "
                        "polling will collect its jobs", type(exc).__name__)
            return None
        self.set(account, secret)
        return secret

    def clear(self) -> None:
        with self._lock:
            self._secrets.clear()


class Inbox:
    """Verified deliveries meeting the runs of this process: a run :meth:`expect` s a task, the receiver
    :meth:`deliver` s it. A delivery that comes first is kept (a bounded number) for a run that comes later."""

    def __init__(self, keep: int = 10_000):
        self._lock = threading.Lock()
        self._waiters: dict[str, list[Callable[[dict], None]]] = {}
        self._arrived: OrderedDict[str, dict] = OrderedDict()
        self._taken: OrderedDict[str, None] = OrderedDict()
        self._keep = keep

    def expect(self, task_id: str, callback: Callable[[dict], None]) -> None:
        """Call ``callback(prediction)`` once the task's delivery arrives (at once when it already has)."""
        with self._lock:
            arrived = self._arrived.get(task_id)
            if arrived is None:
                self._waiters.setdefault(task_id, []).append(callback)
                return
            self._mark_taken(task_id)
        callback(arrived)

    def forget(self, task_id: str, callback: Callable[[dict], None]) -> None:
        with self._lock:
            waiting = self._waiters.get(task_id, [])
            if callback in waiting:
                waiting.remove(callback)
            if not waiting:
                self._waiters.pop(task_id, None)

    def deliver(self, prediction: dict) -> bool:
        """Hand a verified prediction to its waiters; True when someone was waiting for it."""
        task_id = prediction["id"]
        with self._lock:
            self._arrived[task_id] = prediction
            while len(self._arrived) > self._keep:
                self._arrived.popitem(last=False)
            waiting = self._waiters.pop(task_id, [])
            if waiting:
                self._mark_taken(task_id)
        for callback in waiting:
            callback(prediction)
        return bool(waiting)

    def taken(self, task_id: str) -> bool:
        """Whether a waiter of this process received the task's delivery."""
        with self._lock:
            return task_id in self._taken

    def _mark_taken(self, task_id: str) -> None:
        self._taken[task_id] = None
        while len(self._taken) > self._keep:
            self._taken.popitem(last=False)


class Webhooks:
    """A playground's webhook state: the secrets of the keys its runs submit with (``secrets``) and the inbox where
    verified deliveries meet the runs waiting for them (``inbox``). One per app (:class:`playground.session.Playground`
    makes it), handed to its runs and its receiver; nothing of it is global. A run on another replica learns of a
    delivery from the ledger (:meth:`playground.jobs.Ledger.delivery`), not from this object."""

    def __init__(self, secrets: SecretBook | None = None, inbox: Inbox | None = None):
        self.secrets = secrets if secrets is not None else SecretBook()
        self.inbox = inbox if inbox is not None else Inbox()


__all__ = ["WebhookRejected", "sign", "verify", "task_id_of", "public_webhook_url", "RECEIVER_PATH", "SecretBook",
           "Inbox", "Webhooks", "TOLERANCE_S", "MAX_BODY_BYTES"]
