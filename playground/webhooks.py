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
import time
from collections.abc import Mapping
from typing import Any

from .errors import WaveSpeedError

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


__all__ = ["WebhookRejected", "sign", "verify", "TOLERANCE_S", "MAX_BODY_BYTES"]
