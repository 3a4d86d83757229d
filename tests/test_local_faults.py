"""Every fault the local API can inject, observed over HTTP the way a client would see it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest
import requests

from playground.contract import SPICY
from playground.local import FaultPlan, LocalConfig, start_server
from playground.local.faults import Fault
from tests import support
from tests.support import KEY, sdk_client

PRICE_480P_4S = 0.096
UNREACHABLE = {"image": "https://example.com/a.png", "resolution": "480p", "duration": 4}


call = partial(support.call, key=KEY)
submit = partial(support.submit, key=KEY)
result = partial(support.result, key=KEY)
wait_until_done = partial(support.wait_until_done, key=KEY)


@pytest.fixture
def image_url(local_api, png_file) -> str:
    return sdk_client(local_api).upload(str(png_file))


def quick(image_url: str, **extra) -> dict:
    return {"image": image_url, "resolution": "480p", "duration": 4, "generate_audio": False, **extra}


def test_drop_after_accept_loses_the_reply_but_the_task_exists_and_is_charged(local_api, image_url):
    local_api.faults.add("submit:drop_after_accept")

    with pytest.raises(requests.ConnectionError):
        submit(local_api, quick(image_url))

    assert local_api.submits == 1
    assert local_api.count("POST", "/api/v3/bytedance/") == 1
    assert local_api.faults.fired("submit", "drop_after_accept") == 1
    [task] = local_api.tasks()
    assert local_api.balance(KEY) == pytest.approx(10.0 - 0.048)
    assert wait_until_done(local_api, task["id"])["status"] == "completed"
    assert local_api.balance(KEY) == pytest.approx(10.0 - 0.048)
    # The next submit is answered normally.
    assert submit(local_api, quick(image_url)).status_code == 200


def test_the_sdk_never_resends_a_submit_whose_reply_was_dropped(local_api, image_url):
    local_api.faults.add("submit:drop_after_accept")
    with pytest.raises(RuntimeError, match="did not return a response"):
        sdk_client(local_api).run(SPICY, quick(image_url))
    assert local_api.submits == 1
    assert len(local_api.tasks()) == 1


def test_result_503_twice_then_the_prediction(local_api):
    task = submit(local_api, UNREACHABLE).json()["data"]
    local_api.faults.add("result:503x2")

    replies = [result(local_api, task["id"]) for _ in range(3)]

    assert [r.status_code for r in replies] == [503, 503, 200]
    assert replies[0].json() == {"code": 503, "message": "Service Unavailable (injected fault on result)",
                                 "data": None}
    assert replies[2].json()["data"]["id"] == task["id"]
    assert local_api.faults.fired("result", "503") == 2


def test_the_sdk_polls_through_5xx_and_dropped_result_gets(local_api, image_url):
    local_api.faults.add("result:500,result:502,result:drop,result:504,result:429:0")
    output = sdk_client(local_api, retry_interval=0.01).run(SPICY, quick(image_url),
                                                                                 poll_interval=0.05)
    assert output["outputs"][0].endswith(".mp4")
    assert local_api.faults.fired("result") == 5
    assert [s for m, p, s in local_api.requests_log if p.endswith("/result")][:5] == [500, 502, None, 504, 429]


def test_429_carries_retry_after_and_creates_nothing(local_api):
    local_api.faults.add("submit:429:7")
    reply = submit(local_api, UNREACHABLE)
    assert reply.status_code == 429
    assert reply.headers["Retry-After"] == "7"
    assert reply.json()["code"] == 429
    assert local_api.tasks() == [] and local_api.balance(KEY) == 10.0
    assert local_api.submits == 1


def test_drop_on_a_get_closes_the_connection_and_does_nothing(local_api):
    local_api.faults.add("balance:drop")
    with pytest.raises(requests.ConnectionError):
        call(local_api, "GET", "/api/v3/balance")
    assert call(local_api, "GET", "/api/v3/balance").json()["data"]["balance"] == 10.0
    assert local_api.requests_log[-2:] == [("GET", "/api/v3/balance", None), ("GET", "/api/v3/balance", 200)]


@pytest.mark.parametrize("endpoint", ["upload", "price", "history", "delete", "download", "models", "billing"])
def test_every_endpoint_can_answer_an_injected_error(local_api, image_url, endpoint):
    local_api.faults.add(f"{endpoint}:502")
    attempts = {
        "upload": lambda: call(local_api, "POST", "/api/v3/media/uploads", json={"filename": "a.png", "size": 1}),
        "price": lambda: call(local_api, "POST", "/api/v3/model/price", json={"model_id": SPICY, "inputs": {}}),
        "history": lambda: call(local_api, "POST", "/api/v3/predictions", json={}),
        "delete": lambda: call(local_api, "POST", "/api/v3/predictions/delete", json={"ids": []}),
        "download": lambda: requests.get(image_url, timeout=30),
        "models": lambda: call(local_api, "GET", "/api/v3/models"),
        "billing": lambda: call(local_api, "POST", "/api/v3/billings/search", json={"page": 1, "page_size": 5}),
    }
    assert attempts[endpoint]().status_code == 502
    assert attempts[endpoint]().status_code == 200


def test_slow_replies_are_held_for_the_delay(local_api):
    local_api.faults.add("balance:slow:0.6")
    started = time.monotonic()
    assert call(local_api, "GET", "/api/v3/balance").status_code == 200
    assert time.monotonic() - started >= 0.6
    started = time.monotonic()
    call(local_api, "GET", "/api/v3/balance")
    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize(("code", "words"), [(1200, "moderation"), (1402, "image"), (5000, "Internal error")])
def test_injected_task_failures_report_status_code_and_refund(local_api, image_url, code, words):
    local_api.faults.add(f"task:fail:{code}")
    task = submit(local_api, quick(image_url)).json()["data"]

    reply = result(local_api, task["id"])
    done = wait_until_done(local_api, task["id"])

    assert reply.status_code == 200
    assert done["status"] == "failed" and done["code"] == code
    assert words in done["error"] and done["outputs"] == []
    assert local_api.balance(KEY) == 10.0
    # Only the next task fails.
    assert wait_until_done(local_api, submit(local_api, quick(image_url)).json()["data"]["id"])["status"] == "completed"


def test_the_sdk_reports_a_moderation_failure(local_api, image_url):
    local_api.faults.add("task:fail:1200")
    with pytest.raises(RuntimeError, match="Prediction failed .*moderation"):
        sdk_client(local_api).run(SPICY, quick(image_url), poll_interval=0.05)


def test_nsfw_flags_mark_the_next_tasks_only(local_api, image_url):
    local_api.faults.add("task:nsfwx2")
    ids = [submit(local_api, quick(image_url)).json()["data"]["id"] for _ in range(3)]
    flags = [wait_until_done(local_api, i)["has_nsfw_contents"] for i in ids]
    assert flags == [[True], [True], [False]]
    assert local_api.faults.fired("task", "nsfw") == 2


def test_expired_outputs_answer_404_for_given_tasks_or_all(local_api, image_url):
    first, second = (wait_until_done(local_api, submit(local_api, quick(image_url)).json()["data"]["id"])
                     for _ in range(2))
    local_api.faults.expire_outputs(first["id"])

    gone = requests.get(first["outputs"][0], timeout=30)
    assert gone.status_code == 404 and "expired" in gone.json()["message"]
    assert requests.get(second["outputs"][0], timeout=30).status_code == 200

    local_api.faults.add("output:404")
    assert requests.get(second["outputs"][0], timeout=30).status_code == 404
    local_api.faults.clear()
    assert requests.get(first["outputs"][0], timeout=30).status_code == 200


def test_random_faults_replay_identically_with_the_same_seed():
    def statuses() -> list[int]:
        with start_server(LocalConfig(faults="balance:500@0.5,seed:7")) as server:
            codes = [call(server, "GET", "/api/v3/balance").status_code for _ in range(20)]
            assert codes.count(500) == server.faults.fired("balance", "500")
            return codes

    first = statuses()
    assert 0 < first.count(500) < 20
    assert statuses() == first


def test_the_fault_spec_language_round_trips_and_names_mistakes():
    plan = FaultPlan.parse("result:503x2, submit:drop_after_accept, task:fail:1200, output:404, "
                           "*:slow:0.5@0.25, task:nsfwx*, seed:3")
    assert [str(f) for f in plan.rules] == ["result:503x2", "submit:drop_after_accept", "task:fail:1200",
                                            "output:404", "*:slow:0.5@0.25", "task:nsfwx*"]
    assert plan.seed == 3
    assert plan.rules[3].times is None and plan.rules[0].times == 2
    with pytest.raises(ValueError, match="fault endpoint: 'nowhere'"):
        FaultPlan.parse("nowhere:503")
    with pytest.raises(ValueError, match="drop_after_accept applies to submit only"):
        FaultPlan.parse("result:drop_after_accept")
    with pytest.raises(ValueError, match="slow_reply applies to submit only"):
        FaultPlan.parse("history:slow_reply:2")
    assert [str(f) for f in FaultPlan.parse("submit:slow_reply:2,task:cancelled,task:timeoutx2,billing:503").rules] == [
        "submit:slow_reply:2", "task:cancelled", "task:timeoutx2", "billing:503"]
    with pytest.raises(ValueError, match="expected ENDPOINT:ACTION"):
        FaultPlan.parse("result-503")
    with pytest.raises(ValueError, match="fault action: '404' does not apply to 'result'"):
        Fault("result", "404")


def test_faults_in_the_config_are_copied_per_server():
    plan = FaultPlan.parse("balance:503")
    with start_server(LocalConfig(faults=plan)) as one, start_server(LocalConfig(faults=plan)) as two:
        assert call(one, "GET", "/api/v3/balance").status_code == 503
        assert call(two, "GET", "/api/v3/balance").status_code == 503
        assert plan.fired() == 0


def test_the_cli_reads_faults_from_the_environment_and_stops_on_ctrl_c():
    env = {**os.environ, "PLAYGROUND_LOCAL_FAULTS": "balance:503x1"}
    root = Path(__file__).resolve().parents[1]
    proc = support.spawn([sys.executable, "-m", "playground.local", "--port", "0", "--log-level", "WARNING"],
                         cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        headers = {"Authorization": "Bearer k"}
        assert requests.get(url + "/api/v3/balance", headers=headers, timeout=10).status_code == 503
        assert requests.get(url + "/api/v3/balance", headers=headers, timeout=10).status_code == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        assert "Traceback" not in proc.stderr.read()
    finally:
        support.end(proc)
