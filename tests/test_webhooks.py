"""The webhook verifier, with vectors computed here from the documented algorithm (never the docs' printed sample,
which does not verify against its own body)."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from playground.webhooks import WebhookRejected, sign, verify

NOW = 1_790_000_000
BODY = json.dumps({"id": "task-123", "model": "m", "status": "completed", "outputs": ["https://cdn/x.mp4"]}).encode()


def documented_signature(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The vendor's recipe, written out independently: key = secret minus "whsec_", not base64-decoded."""
    key = secret.removeprefix("whsec_").encode()
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return "v3," + digest


def headers(secret: str, *, webhook_id="msg_1", timestamp=NOW, body=BODY) -> dict[str, str]:
    return {"webhook-id": webhook_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": documented_signature(secret, webhook_id, timestamp, body)}


@pytest.mark.parametrize("secret", ["whsec_plainsecret", "whsec_a+b/c=d==", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                                    "no-prefix+/="])
def test_a_genuine_delivery_verifies_and_returns_the_prediction(secret):
    assert sign(secret, "msg_1", NOW, BODY) == documented_signature(secret, "msg_1", NOW, BODY)
    payload = verify(secret, headers(secret), BODY, now=NOW + 10)
    assert payload["id"] == "task-123" and payload["status"] == "completed"


def test_the_secret_is_not_base64_decoded():
    import base64

    secret = "whsec_" + base64.b64encode(b"raw-key-bytes").decode()
    decoded_key = hmac.new(b"raw-key-bytes", f"msg_1.{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    forged = {**headers(secret), "webhook-signature": "v3," + decoded_key}
    with pytest.raises(WebhookRejected, match="signature"):
        verify(secret, forged, BODY, now=NOW)


def test_an_enveloped_prediction_is_unwrapped():
    body = json.dumps({"code": 200, "message": "success", "data": json.loads(BODY)}).encode()
    assert verify("whsec_s", headers("whsec_s", body=body), body, now=NOW)["id"] == "task-123"


@pytest.mark.parametrize("case, status", [
    ("wrong key", 401), ("tampered body", 401), ("ten minutes old", 401), ("from the future", 401),
    ("missing headers", 401), ("not json", 400), ("no id", 400), ("ten megabytes", 400),
])
def test_forged_stale_and_malformed_deliveries_are_refused(case, status):
    secret = "whsec_a+b/c="
    body, sent = BODY, headers(secret)
    now = NOW
    if case == "wrong key":
        sent = headers("whsec_other")
    elif case == "tampered body":
        body = BODY.replace(b"task-123", b"task-999")
    elif case == "ten minutes old":
        now = NOW + 600
    elif case == "from the future":
        now = NOW - 600
    elif case == "missing headers":
        sent = {"webhook-id": "msg_1"}
    elif case == "not json":
        body = b"<html>hi</html>"
        sent = headers(secret, body=body)
    elif case == "no id":
        body = b'{"status": "completed"}'
        sent = headers(secret, body=body)
    elif case == "ten megabytes":
        body = b"x" * (10 << 20)
        sent = headers(secret, body=body)
    with pytest.raises(WebhookRejected) as refused:
        verify(secret, sent, body, now=now)
    assert refused.value.status == status


def test_headers_are_case_insensitive_and_any_listed_signature_may_match():
    secret = "whsec_s"
    sent = {k.title(): v for k, v in headers(secret).items()}
    sent["Webhook-Signature"] = "v3,deadbeef " + sent["Webhook-Signature"]
    assert verify(secret, sent, BODY, now=NOW)["id"] == "task-123"
