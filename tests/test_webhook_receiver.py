"""Jobs finished by push, over real HTTP: the local API delivers signed webhooks to the playground's served app
(FastAPI with the page mounted, as `python app.py` runs it), whose receiver completes them with no result GET."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import requests
import uvicorn
from browser_support import SAMPLES

from playground.caps import Caps
from playground.client import Client, PollSchedule
from playground.jobs import Ledger, account_tag
from playground.pipeline import generate
from playground.session import API_LABEL, Playground
from playground.webhooks import sign
from tests.support import free_port, make_image

IMAGE = str(SAMPLES / "koi_pond.jpg")
CHEAP = {"resolution": "480p", "duration": 4, "generate_audio": False, "seed": -1}
HOST_KEY = "host-key"


def factory_for(server, margin: float):
    poll = PollSchedule(floor=0.05, max_gap=0.5, webhook_margin=margin)

    def factory(kind: str, key: str) -> Client:
        return Client(api_key=key or "local-preview", base_url=server.url,
                      backend_id="local" if kind == "local" else None, poll=poll)

    return factory


@contextlib.contextmanager
def served(ledger: Ledger, server, port: int, *, margin: float = 30.0, page: bool = False) -> Iterator[Playground]:
    """The playground's receiver on ``port``, paying with the host's key at the local API. With ``page``, the whole
    served app as `python app.py` runs it (the Gradio page mounted beside the receiver); else the session service
    and the receiver on a bare FastAPI app (the same route, without building the page)."""
    from fastapi import FastAPI

    from playground.web import add_receiver, create_app

    if page:
        from playground.ui import build_app

        demo = build_app(client_factory=factory_for(server, margin), ledger=ledger, caps=Caps(), owner_key=HOST_KEY)
        pg = demo.playground
        app = create_app(demo)
    else:
        pg = Playground(client_factory=factory_for(server, margin), ledger=ledger, caps=Caps(), owner_key=HOST_KEY)
        app = FastAPI()
        add_receiver(app, pg.receiver())
    pg.webhook_url = f"http://127.0.0.1:{port}/webhooks/wavespeed"
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the app did not start"
        time.sleep(0.02)
    try:
        yield pg
    finally:
        uv.should_exit = True
        thread.join(15)


@pytest.fixture
def api(local_api_factory):
    # Realistic timing (about a second a task): a poll would have time to happen, so "0 result GETs" means something.
    return local_api_factory(timing="realistic", speed=0.04, render="protocol", webhook_backoff=0.2)


def _run(pg: Playground, session: str = "s1"):
    return pg.run(IMAGE, "static camera", None, CHEAP, batch=1, payer=pg.payer(API_LABEL, ""), session=session)


def test_a_run_completes_through_the_webhook_with_no_result_get(api, ledger):
    port = free_port()
    with served(ledger, api, port, page=True) as pg:  # the app as `python app.py` serves it
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 200  # the page, beside it
        outcome = _run(pg)
    (result,) = outcome.results
    assert result.completed_by == "webhook" and result.video_path.exists()
    assert api.count_endpoint("result") == 0
    (job,) = ledger.jobs()
    assert (job.status, job.completed_by, job.video_path) == ("completed", "webhook", str(result.video_path))
    assert [d.status for d in api.webhook_deliveries(job.request_id)] == [200]


def test_generate_with_a_webhook_url_is_woken_by_the_receiver(api, tmp_path, ledger):
    port = free_port()
    with served(ledger, api, port):
        client = factory_for(api, 30.0)("api", HOST_KEY)
        result = generate(make_image(tmp_path / "in.png"), client=client, ledger=ledger, out_dir=tmp_path / "out",
                          account=account_tag(HOST_KEY), webhook_url=f"http://127.0.0.1:{port}/webhooks/wavespeed",
                          probe_output=False, **CHEAP)
    assert result.completed_by == "webhook" and api.count_endpoint("result") == 0


def _delivery(secret: str, prediction: dict, *, age: float = 0.0) -> tuple[dict, bytes]:
    body = json.dumps(prediction).encode()
    webhook_id, timestamp = f"msg_{uuid.uuid4().hex}", int(time.time() - age)
    return {"webhook-id": webhook_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, webhook_id, timestamp, body),
            "content-type": "application/json"}, body


def test_forged_stale_malformed_and_oversized_deliveries_are_refused_and_change_nothing(api, ledger):
    port = free_port()
    url = f"http://127.0.0.1:{port}/webhooks/wavespeed"
    with served(ledger, api, port) as pg:
        _run(pg)
        (job,) = ledger.jobs()
        before = ledger.get(job.id)
        secret = api.webhook_secret(HOST_KEY)
        failed = {"id": job.request_id, "status": "failed", "outputs": [], "error": "forged", "model": job.model}
        wrong_key = _delivery(api.webhook_secret("someone-else"), failed)
        headers, body = _delivery(secret, {**failed, "status": "completed"})
        tampered = (headers, body.replace(b"completed", b"failed"))
        stale = _delivery(secret, failed, age=600)
        missing = ({"content-type": "application/json"}, json.dumps(failed).encode())
        not_json = ({**_delivery(secret, failed)[0]}, b"not json at all")
        cases = {"wrong key": wrong_key, "tampered": tampered, "stale": stale, "missing headers": missing,
                 "not JSON": not_json}
        answers = {name: requests.post(url, headers=h, data=b, timeout=10).status_code
                   for name, (h, b) in cases.items()}
        huge = requests.post(url, data=b"x" * (10 * 1024 * 1024), timeout=30).status_code
        time.sleep(0.5)
        after = ledger.get(job.id)
    assert answers == {"wrong key": 401, "tampered": 401, "stale": 401, "missing headers": 401, "not JSON": 400}
    assert huge == 413
    assert after == before


def test_a_duplicated_delivery_records_and_downloads_once(api, ledger):
    api.faults.add("webhook:duplicate")
    with served(ledger, api, free_port()) as pg:
        outcome = _run(pg)
        (job,) = ledger.jobs()
        deadline = time.monotonic() + 60
        while len(api.webhook_deliveries(job.request_id)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
    assert [d.status for d in api.webhook_deliveries(job.request_id)] == [200, 200]
    assert len(outcome.results) == 1 and len(ledger.jobs()) == 1
    assert api.count_endpoint("download") == 1 and api.count_endpoint("result") == 0


def test_a_dropped_delivery_falls_back_to_polling_and_completes_once(api, ledger):
    with served(ledger, api, free_port(), margin=1.0) as pg:
        # A first run teaches the ledger how long such a task takes (about a second here, not the contract's
        # typical time), so the fallback starts soon after the expected end plus the margin.
        assert _run(pg).results[0].completed_by == "webhook"
        api.faults.add("webhook:drop")
        outcome = _run(pg)
    (result,) = outcome.results
    assert result.video_path.exists() and result.completed_by == ""
    assert result.wall_s < 15
    assert api.count_endpoint("result") >= 1 and api.submits == 2
    job = ledger.get(result.job_id)
    assert job.status == "completed" and api.webhook_deliveries(job.request_id) == []


def test_a_job_submitted_before_a_restart_is_completed_by_a_delivery_after_it(api, ledger_factory, ledger):
    port = free_port()
    api.faults.add("webhook:delay:4")
    with served(ledger, api, port) as pg:
        done = threading.Event()
        threading.Thread(target=lambda: (_run(pg, "gone"), done.set()), daemon=True).start()
        deadline = time.monotonic() + 60
        while not (ledger.jobs() and ledger.jobs()[0].request_id) and time.monotonic() < deadline:
            time.sleep(0.02)
        pg.cancel("gone")  # the visitor leaves; then the app goes down before the delivery
        assert done.wait(10)
    (job,) = ledger.jobs()
    assert not job.has_video
    # A new process remembers nothing: a new Playground, with webhook secrets of its own, over the ledger opened anew.
    with served(ledger_factory(), api, port):
        deadline = time.monotonic() + 20
        while not ledger.get(job.id).has_video and time.monotonic() < deadline:
            time.sleep(0.1)
    row = ledger.get(job.id)
    assert row.has_video and (row.status, row.completed_by) == ("completed", "webhook")
    assert api.count_endpoint("result") == 0 and api.submits == 1


def test_the_local_preview_never_waits_for_a_webhook(local_api_factory, ledger):
    """On a Space the public URL is set, but the embedded preview calls only loopback: its runs must poll at once."""
    from playground.session import LOCAL_LABEL

    api = local_api_factory(timing="realistic", speed=0.04, render="protocol")
    pg = Playground(client_factory=factory_for(api, 30.0), ledger=ledger, caps=Caps(),
                    owner_key="", webhook_url="https://someone.hf.space/webhooks/wavespeed")
    outcome = pg.run(IMAGE, "static camera", None, CHEAP, batch=1, payer=pg.payer(LOCAL_LABEL, ""), session="s")
    (result,) = outcome.results
    assert result.completed_by == "" and result.wall_s < 15 and api.count_endpoint("result") >= 1


# A second replica of the app, in a process of its own: the receiver the service delivers to, over the same ledger.
REPLICA = """
import json, sys
import uvicorn
from fastapi import FastAPI
from playground.client import Client
from playground.jobs import Ledger
from playground.receiver import WebhookReceiver, add_receiver

spec = json.loads(sys.argv[1])
ledger = Ledger(**spec["ledger"])

def client_for(job):
    return Client(api_key=spec["key"], base_url=spec["api"])

def secret_for(account):
    with Client(api_key=spec["key"], base_url=spec["api"]) as client:
        return client.webhook_secret()

app = FastAPI()
# No grace: this replica races the waiting run for the end at once.
add_receiver(app, WebhookReceiver(ledger, client_for=client_for, secret_for=secret_for, grace=0.0))
uvicorn.run(app, host="127.0.0.1", port=spec["port"], log_level="warning")
"""


@contextlib.contextmanager
def replica(api, ledger: Ledger, port: int) -> Iterator[str]:
    """Replica B: the receiver in another process, sharing ``ledger``; yields its webhook URL, ended at teardown."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAVESPEED_", "PLAYGROUND_"))}
    env["PYTHONPATH"] = str(root)
    spec = {"ledger": ledger.open_args(), "key": HOST_KEY, "api": api.url, "port": port}
    proc = subprocess.Popen([sys.executable, "-c", REPLICA, json.dumps(spec)], cwd=root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240  # a busy machine starts a process slowly
        while True:
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "replica B did not start"
            try:
                requests.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/webhooks/wavespeed"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def test_a_delivery_received_by_another_replica_completes_the_waiting_run_with_no_get_and_one_download(
        api, ledger, tmp_path):
    # Replica A waits (this process: no receiver here); the service delivers to replica B (another process), which
    # records it in the shared ledger and races A for the end. A learns of it from the ledger on its clock.
    with replica(api, ledger, free_port()) as url_b:
        client = factory_for(api, 60.0)("api", HOST_KEY)  # no result GET before a minute has passed
        t0 = time.monotonic()
        result = generate(make_image(tmp_path / "in.png"), client=client, ledger=ledger, out_dir=tmp_path / "out",
                          account=account_tag(HOST_KEY), webhook_url=url_b, probe_output=False, **CHEAP)
        waited = time.monotonic() - t0
        job = ledger.get(result.job_id)
        deadline = time.monotonic() + 10  # B answered and finished its side: nothing more is fetched after
        while time.monotonic() < deadline and not (api.webhook_deliveries(job.request_id) and job.has_video):
            time.sleep(0.05)
        time.sleep(1.0)
    assert waited < 30 and result.video_path.exists() and result.completed_by == "webhook"
    assert client.requests_sent.get("result", 0) == 0 and api.count_endpoint("result") == 0
    assert api.count_endpoint("download") == 1  # one writer recorded the end; only it downloaded
    job = ledger.get(result.job_id)
    assert (job.status, job.completed_by, job.video_path) == ("completed", "webhook", str(result.video_path))
    assert [d.status for d in api.webhook_deliveries(job.request_id)] == [200]
