"""The local API's webhooks, over real HTTP: per-key secrets, signed deliveries of the final prediction, retries with
backoff, and the webhook faults (drop, delay, duplicate, bad signature)."""

from __future__ import annotations

import json
import time

import pytest
import requests

from playground.contract import SPICY
from playground.webhooks import WebhookRejected, verify
from tests.support import KEY, HookServer, call, local_client, make_image, wait_until_done


@pytest.fixture
def api(local_api_factory):
    return local_api_factory(timing="instant", render="protocol", webhook_backoff=0.1)


@pytest.fixture
def hook():
    with HookServer() as server:
        yield server


def _upload(api, tmp_path, key: str = KEY) -> str:
    return local_client(api, key).upload(make_image(tmp_path / "in.png"))


def _submit(api, image_url: str, webhook: str, key: str = KEY) -> str:
    reply = call(api, "POST", f"/api/v3/{SPICY}", key=key, params={"webhook": webhook},
                 json={"image": image_url, "resolution": "480p", "duration": 4, "generate_audio": False})
    assert reply.status_code == 200, reply.text
    return reply.json()["data"]["id"]


def _secret(api, key: str = KEY) -> str:
    reply = call(api, "GET", "/api/v3/webhook/secret", key=key)
    assert reply.status_code == 200
    return reply.json()["data"]["secret"]


def test_each_key_has_its_own_secret_and_no_key_gets_none(api):
    first, again, other = _secret(api), _secret(api), _secret(api, "another-key")
    assert first == again and first != other
    assert first.startswith("whsec_") and len(first) > 40
    assert call(api, "GET", "/api/v3/webhook/secret", key=None).status_code == 401


def test_a_finished_task_is_delivered_once_signed_with_the_submitting_keys_secret(api, hook, tmp_path):
    task_id = _submit(api, _upload(api, tmp_path), hook.url)
    wait_until_done(api, task_id)
    ((headers, body, _),) = hook.wait_for(1)
    time.sleep(0.3)
    assert len(hook.received) == 1
    assert headers["webhook-id"] and headers["webhook-timestamp"].isdigit()
    assert headers["webhook-signature"].startswith("v3,")
    prediction = verify(_secret(api), headers, body)
    assert prediction == call(api, "GET", f"/api/v3/predictions/{task_id}/result").json()["data"]
    assert prediction["status"] == "completed" and prediction["outputs"]
    with pytest.raises(WebhookRejected):
        verify(_secret(api, "another-key"), headers, body)


def test_a_failed_task_is_delivered_too(api, hook):
    task_id = _submit(api, "https://example.com/a.png", hook.url)  # the local API is offline: 1402
    ((headers, body, _),) = hook.wait_for(1)
    assert (json.loads(body)["id"], json.loads(body)["status"], json.loads(body)["code"]) == (task_id, "failed", 1402)


def test_a_refused_delivery_is_retried_with_growing_gaps_and_the_same_id(api, tmp_path):
    with HookServer(answers=[500, 503]) as hook:
        task_id = _submit(api, _upload(api, tmp_path), hook.url)
        received = hook.wait_for(3)
    assert len(received) == 3
    assert len({h["webhook-id"] for h, _, _ in received}) == 1
    gaps = [b[2] - a[2] for a, b in zip(received, received[1:], strict=False)]
    assert gaps[0] >= 0.09 and gaps[1] >= 0.19 and gaps[1] > gaps[0]
    assert [d.status for d in api.webhook_deliveries(task_id)] == [500, 503, 200]
    verify(_secret(api), received[-1][0], received[-1][1])


def test_an_unreachable_receiver_is_given_up_after_the_configured_attempts(local_api_factory, tmp_path):
    api = local_api_factory(timing="instant", render="protocol", webhook_backoff=0.05, webhook_attempts=3)
    from tests.support import free_port

    task_id = _submit(api, _upload(api, tmp_path), f"http://127.0.0.1:{free_port()}/hook")
    deadline = time.monotonic() + 60
    while len(api.webhook_deliveries(task_id)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert [d.status for d in api.webhook_deliveries(task_id)] == [None, None, None]


def test_webhook_faults_drop_delay_duplicate_and_forge(api, hook, tmp_path):
    image = _upload(api, tmp_path)
    api.faults.add("webhook:drop")
    dropped = _submit(api, image, hook.url)
    wait_until_done(api, dropped)
    time.sleep(0.5)
    assert hook.received == [] and api.webhook_deliveries(dropped) == []

    api.faults.add("webhook:duplicate")
    doubled = _submit(api, image, hook.url)
    received = hook.wait_for(2)
    assert len(received) == 2 and received[0][0]["webhook-id"] == received[1][0]["webhook-id"]
    assert {json.loads(body)["id"] for _, body, _ in received} == {doubled}

    api.faults.add("webhook:bad_signature")
    forged = _submit(api, image, hook.url)
    headers, body, _ = hook.wait_for(3)[2]
    assert json.loads(body)["id"] == forged
    with pytest.raises(WebhookRejected, match="signature"):
        verify(_secret(api), headers, body)

    api.faults.add("webhook:delay:1")
    late = _submit(api, image, hook.url)
    ended = wait_until_done(api, late)
    assert ended["status"] == "completed"
    finished = time.time()
    headers, body, at = hook.wait_for(4)[3]
    assert json.loads(body)["id"] == late and at - finished >= 0.8
    verify(_secret(api), headers, body)


def test_webhook_faults_are_read_from_the_environment_spec():
    from playground.local.faults import FaultPlan

    plan = FaultPlan.parse("webhook:delay:2.5, webhook:duplicate, webhook:bad_signature, webhook:drop")
    assert [str(f) for f in plan.rules] == ["webhook:delay:2.5", "webhook:duplicate", "webhook:bad_signature",
                                            "webhook:drop"]
    with pytest.raises(ValueError, match="webhook"):
        FaultPlan.parse("webhook:503")


def test_a_webhook_to_a_public_host_is_never_called(api, tmp_path):
    task_id = _submit(api, _upload(api, tmp_path), "http://example.com/hook")
    wait_until_done(api, task_id)
    time.sleep(0.3)
    assert api.webhook_deliveries(task_id) == []


def test_a_fixed_secret_survives_a_restart(local_api_factory):
    fixed = {KEY: "whsec_c2VjcmV0K3dpdGgvc2xhc2g9"}
    first = local_api_factory(render="protocol", webhook_secrets=fixed)
    assert _secret(first) == fixed[KEY]
    second = local_api_factory(render="protocol", webhook_secrets=fixed)
    assert _secret(second) == fixed[KEY]
    assert requests.get(f"{second.url}/api/v3/webhook/secret", timeout=5).status_code == 401
