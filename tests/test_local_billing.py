"""What the local API charged, seen over raw HTTP: a deduction per task at submit, a refund for a task that failed,
timed out or was cancelled by the service, searched as POST /api/v3/billings/search does; and the submit whose reply
is held while its task runs."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from functools import partial

import pytest
from wavespeed import Client

from playground.contract import SPICY
from tests import support
from tests.support import HookServer

KEY = "billing-key"
PRICE = 0.048  # 480p, 4 s, no audio

call = partial(support.call, key=KEY)
submit = partial(support.submit, key=KEY)
wait_until_done = partial(support.wait_until_done, key=KEY)


@pytest.fixture
def image_url(protocol_api, png_file) -> str:
    return Client(api_key=KEY, base_url=protocol_api.url).upload(str(png_file))


def quick(image_url: str) -> dict:
    return {"image": image_url, "resolution": "480p", "duration": 4, "generate_audio": False}


def search(server, key: str = KEY, **body) -> dict:
    reply = support.call(server, "POST", "/api/v3/billings/search", key=key, json={"page": 1, "page_size": 20, **body})
    assert reply.status_code == 200, reply.text
    return reply.json()["data"]


def test_each_task_is_deducted_at_submit_and_a_failed_one_refunded_in_its_own_row(protocol_api, image_url):
    ok = submit(protocol_api, quick(image_url)).json()["data"]["id"]
    protocol_api.faults.add("task:fail:5000")
    failed = submit(protocol_api, quick(image_url)).json()["data"]["id"]
    assert [wait_until_done(protocol_api, t)["status"] for t in (ok, failed)] == ["completed", "failed"]

    data = search(protocol_api)
    assert (data["page"], data["total"], data["has_more"]) == (1, 3, False)
    rows = data["items"]
    assert [(r["billing_type"], r["prediction"]["uuid"]) for r in rows] == [
        ("refund", failed), ("deduct", failed), ("deduct", ok)]  # newest first
    refund, deduct = rows[0], rows[2]
    assert deduct["price"] == refund["price"] == PRICE
    assert deduct["order"] == {**deduct["order"], "state": "done", "price": PRICE, "origin_price": PRICE}
    assert deduct["prediction"] == {"uuid": ok, "model_uuid": SPICY, "status": "completed"}
    assert rows[1]["prediction"]["status"] == "failed"
    assert deduct["created_at"].endswith("Z") and KEY not in json.dumps(rows)
    assert protocol_api.balance(KEY) == pytest.approx(10.0 - PRICE)

    # Filters: type, predictions, order, paging, time windows in ms-epoch strings and RFC 3339; and only this key.
    assert [r["prediction"]["uuid"] for r in search(protocol_api, billing_type="refund")["items"]] == [failed]
    assert search(protocol_api, prediction_uuids=[ok])["total"] == 1
    assert [r["billing_type"] for r in search(protocol_api, sort="created_at ASC")["items"]] == [
        "deduct", "deduct", "refund"]
    page = search(protocol_api, page=2, page_size=1)
    assert (page["total"], page["has_more"], page["items"][0]["billing_type"]) == (3, True, "deduct")
    assert search(protocol_api, start_time=str(int(time.time() * 1000) + 60_000))["total"] == 0
    assert search(protocol_api, end_time=datetime.now(timezone.utc).isoformat())["total"] == 3
    assert search(protocol_api, key="someone-else")["total"] == 0

    for body, field in [({"page_size": 10}, "page"), ({"page": 1}, "page_size"),
                        ({"page": 1, "page_size": 101}, "page_size"), ({"page": 1, "page_size": 5, "sort": "price"},
                                                                       "sort"),
                        ({"page": 1, "page_size": 5, "start_time": "yesterday"}, "start_time")]:
        reply = call(protocol_api, "POST", "/api/v3/billings/search", json=body)
        assert reply.status_code == 400 and reply.json()["message"].startswith(f"{field}:"), reply.text


def test_a_deduction_is_pre_while_its_task_runs_and_done_once_it_ended(local_api_factory, png_file):
    server = local_api_factory(timing="realistic", speed=0.05, render="protocol")  # 480p 4 s: about 1 s
    url = Client(api_key=KEY, base_url=server.url).upload(str(png_file))
    task = submit(server, quick(url)).json()["data"]["id"]

    assert search(server)["items"][0]["order"]["state"] == "pre"
    wait_until_done(server, task)
    assert search(server)["items"][0]["order"]["state"] == "done"


@pytest.mark.parametrize(("fault", "status", "code"), [("task:cancelled", "cancelled", None),
                                                       ("task:timeout", "timeout", 5004)])
def test_tasks_the_service_cancels_or_times_out_end_there_and_are_refunded(protocol_api, image_url, fault, status,
                                                                           code):
    protocol_api.faults.add(fault)
    task = submit(protocol_api, quick(image_url)).json()["data"]["id"]

    done = wait_until_done(protocol_api, task)

    assert done["status"] == status and done.get("code") == code and done["outputs"] == []
    assert "refunded" in done["error"]
    assert protocol_api.balance(KEY) == 10.0
    assert [r["billing_type"] for r in search(protocol_api)["items"]] == ["refund", "deduct"]
    time.sleep(0.2)
    assert support.result(protocol_api, task, key=KEY).json()["data"]["status"] == status  # it stays ended
    # Only the next task: the one after completes.
    assert wait_until_done(protocol_api, submit(protocol_api, quick(image_url)).json()["data"]["id"])[
        "status"] == "completed"


def test_a_refund_may_come_later_than_the_failure(protocol_api, image_url):
    protocol_api.faults.add("task:fail:5000, refund:later:3")
    failed = submit(protocol_api, quick(image_url)).json()["data"]["id"]
    ended = time.time()
    assert wait_until_done(protocol_api, failed)["status"] == "failed"

    assert [r["billing_type"] for r in search(protocol_api)["items"]] == ["deduct"]  # no refund yet
    time.sleep(max(0.0, ended + 3.5 - time.time()))
    rows = search(protocol_api)["items"]
    assert [(r["billing_type"], r["prediction"]["uuid"]) for r in rows] == [("refund", failed), ("deduct", failed)]
    assert protocol_api.faults.fired("refund", "later") == 1


def test_a_slow_reply_holds_the_submit_while_its_task_runs_and_its_webhook_arrives_first(protocol_api, image_url):
    protocol_api.faults.add("submit:slow_reply:1.5")
    with HookServer() as hook:
        started = time.time()
        reply = support.call(protocol_api, "POST", f"/api/v3/{SPICY}?webhook={hook.url}", key=KEY,
                             json=quick(image_url))
        answered = time.time()
        deliveries = hook.wait_for(1)

    assert reply.status_code == 200 and answered - started >= 1.5
    task_id = reply.json()["data"]["id"]
    assert len(deliveries) == 1 and json.loads(deliveries[0][1])["id"] == task_id
    assert deliveries[0][2] < answered  # the delivery came before the submit's reply
    assert protocol_api.submits == 1 and len(protocol_api.tasks()) == 1
    assert protocol_api.balance(KEY) == pytest.approx(10.0 - PRICE)
    assert protocol_api.faults.fired("submit", "slow_reply") == 1
