"""The client against the local API over HTTP, under its injected faults: never pay twice, never lose a result."""

import logging

import pytest
import requests

from playground.client import Client, PollSchedule, RetryPolicy
from playground.contract import SPICY
from playground.errors import (
    AuthError,
    InsufficientCredits,
    NotFound,
    OutputExpired,
    RateLimited,
    ServerError,
    SubmitOutcomeUnknown,
    TaskFailed,
    ValidationError,
)
from playground.jobs import Ledger
from playground.local import LocalConfig, start_server
from playground.media import probe
from playground.pipeline import generate
from tests.support import KEY, local_client, make_image, start_local_api

FAST_RETRY = RetryPolicy(attempts=6, base_delay=0.05, max_delay=0.2)


@pytest.fixture(scope="module")
def server():
    with start_local_api(concurrency=4, balance=1000.0, render="protocol") as srv:
        yield srv


@pytest.fixture
def client(server):
    server.faults.clear()
    return local_client(server, retry=FAST_RETRY, poll=PollSchedule(floor=0.1))


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    return make_image(tmp_path_factory.mktemp("img") / "in.png")


def _generate(client, image, ledger, **kw):
    params = {"resolution": "480p", "duration": 4, "generate_audio": False, **kw}
    return generate(image, client=client, ledger=ledger, out_dir=ledger.home / "out", probe_output=False,
                    **params), ledger


FAULTS = [
    "result:503x2", "result:500x1", "result:502x1", "result:504x1", "result:429:0.2x2", "result:dropx2",
    "result:slow:0.3x1", "upload:503x1", "upload:dropx1", "download:503x1", "download:dropx1", "balance:500x1",
    "submit:slow:0.3", "history:503x1", "*:503@0.3", "submit:drop_after_accept",
]


@pytest.mark.parametrize("fault", FAULTS)
def test_under_every_injected_fault_one_generate_sends_exactly_one_post(server, client, image, ledger, fault):
    before = server.submits
    server.faults.add(fault)
    server.faults.reseed(7)
    try:
        result, _ = _generate(client, image, ledger)
    except SubmitOutcomeUnknown:
        # The random fault hit the submit itself: no task was created, and no one else's may be taken for ours.
        assert [s for m, p, s in server.requests_log if m == "POST" and p.endswith(SPICY)][-1] == 503
        assert server.submits - before == 1
        assert [j.status for j in ledger.jobs()] == ["unknown"] and ledger.jobs()[0].request_id is None
        return
    finally:
        server.faults.clear()
    assert server.submits - before == 1
    assert result.video_path.exists() and result.video_path.stat().st_size > 1000
    jobs = ledger.jobs()
    assert len(jobs) == 1 and jobs[0].request_id == result.request_id and jobs[0].status == "completed"


def test_a_lost_submit_reply_is_reconciled_to_the_one_task_that_exists(server, client, image, ledger):
    _generate(client, image, ledger, seed=11)  # an earlier task the history also lists
    before = server.submits
    server.faults.add("submit:drop_after_accept")
    result, _ = _generate(client, image, ledger, seed=12)
    assert server.submits - before == 1
    assert result.params["seed"] == 12
    created = [t for t in server.tasks() if t["id"] == result.request_id]
    assert len(created) == 1
    assert {j.request_id for j in ledger.jobs()} == {t["id"] for t in server.tasks() if t["id"] in
                                                    {j.request_id for j in ledger.jobs()}}


def test_submit_is_never_resent_after_a_dropped_connection(server, client, image):
    url = client.upload(image)
    before = server.submits
    server.faults.add("submit:drop_after_accept")
    params = {"image": url, "resolution": "480p", "duration": 4}
    with pytest.raises(SubmitOutcomeUnknown, match="not re-sent"):
        client.submit(SPICY, params)
    assert server.submits - before == 1
    found = client.reconcile(SPICY, sent_at=__import__("time").time() - 1, params=params)
    assert found.claimed is not None and found.claimed.id in {t["id"] for t in server.tasks()}
    assert found.claimed.raw["input"]["image"] == url


def test_a_5xx_reply_to_submit_is_reported_as_unknown_not_retried(server, client, image):
    url = client.upload(image)
    before = server.submits
    server.faults.add("submit:503")
    with pytest.raises(SubmitOutcomeUnknown):
        client.submit(SPICY, {"image": url, "resolution": "480p", "duration": 4})
    assert server.submits - before == 1


def test_429_on_submit_is_a_clear_rate_limit_and_not_resent(server, client, image):
    url = client.upload(image)
    before = server.submits
    server.faults.add("submit:429:3")
    with pytest.raises(RateLimited) as err:
        client.submit(SPICY, {"image": url, "resolution": "480p", "duration": 4})
    assert err.value.retry_after == 3 and "lower the concurrency" in str(err.value)
    assert server.submits - before == 1


@pytest.mark.parametrize(("code", "words"), [(1200, "moderation"), (1402, "could not be fetched"), (5000, "")])
def test_failed_tasks_raise_task_failed_with_code_and_readable_text(server, client, image, ledger, code, words):
    server.faults.add(f"task:fail:{code}")
    with pytest.raises(TaskFailed) as err:
        _generate(client, image, ledger)
    assert err.value.code == code and err.value.task_id
    text = str(err.value)
    assert f"code {code}" in text and err.value.task_id in text and "refunded" in text
    assert words in text or not words
    job = ledger.jobs()[0]
    assert job.status == "failed" and job.error_code == code and job.request_id == err.value.task_id


def test_an_unknown_key_is_an_auth_error_and_short_credit_is_insufficient_credits(image, ledger):
    with start_server(LocalConfig(keys=frozenset({"good-key"}), balance=0.05, render="protocol")) as srv:
        bad = Client(api_key="sk-wrong-key-should-not-leak", base_url=srv.url, retry=FAST_RETRY)
        with pytest.raises(AuthError) as err:
            bad.balance()
        assert "sk-wrong-key" not in str(err.value) + repr(err.value)
        good = Client(api_key="good-key", base_url=srv.url, retry=FAST_RETRY)
        with pytest.raises(InsufficientCredits, match="nothing was charged"):
            _generate(good, image, ledger, generate_audio=True)  # $0.096 against $0.05
        assert srv.balance("good-key") == 0.05
        job = ledger.jobs()[0]
        assert job.status == "rejected" and job.request_id is None


def test_an_expired_output_gives_a_clear_error_and_the_ledger_keeps_the_id(server, client, image, ledger):
    server.faults.add("output:404")
    with pytest.raises(OutputExpired, match="kept 7 days") as err:
        _generate(client, image, ledger)
    server.faults.clear()
    job = ledger.jobs()[0]
    assert job.request_id == err.value.task_id and job.status == "completed" and job.outputs
    assert "no longer answers" in job.error and not job.has_video


def test_unknown_ids_and_http_400_map_to_their_errors(server, client):
    with pytest.raises(NotFound):
        client.get("0" * 32)
    with pytest.raises(ValidationError, match="duration"):
        client.submit(SPICY, {"image": "http://x/a.png", "duration": 99}, validate_first=False)


def test_nsfw_flags_reach_the_result(server, client, image, ledger):
    server.faults.add("task:nsfw")
    result, ledger = _generate(client, image, ledger)
    assert result.nsfw and ledger.jobs()[0].nsfw == [True]


def test_upload_falls_back_to_the_legacy_endpoint_when_tickets_are_missing(image):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen = []

    class Legacy(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            seen.append(self.path)
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path == "/api/v3/media/uploads":
                self.send_response(404)
                self.end_headers()
                self.wfile.write(b'{"code": 404, "message": "Not Found"}')
                return
            body = b'{"code": 200, "message": "success", "data": {"download_url": "http://cdn/x.png"}}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Legacy)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        c = Client(api_key="k", base_url=f"http://127.0.0.1:{httpd.server_port}", retry=FAST_RETRY)
        assert c.upload(image) == "http://cdn/x.png"
        assert seen == ["/api/v3/media/uploads", "/api/v3/media/upload/binary"]
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_the_upload_put_and_output_download_never_carry_the_key(server, client, image, tmp_path, ledger):
    result, _ = _generate(client, image, ledger)
    sent = []
    orig = requests.Session.send

    def spy(self, request, **kw):
        sent.append((request.method, request.url, request.headers.get("Authorization")))
        return orig(self, request, **kw)

    requests.Session.send = spy
    try:
        client.upload(make_image(tmp_path / "other.png", seed=3))
        client.download(result.output_url, tmp_path / "again.mp4")
    finally:
        requests.Session.send = orig
    for method, url, auth in sent:
        if "/api/v3/" in url and method == "POST":
            assert auth == f"Bearer {KEY}"
        else:
            assert auth is None, (method, url)


def test_the_key_appears_nowhere(server, image, tmp_path, caplog, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_HOME", str(tmp_path / "home"))
    caplog.set_level(logging.DEBUG)
    secret = "sk-leak-canary-9f8e7d6c5b4a"
    c = Client(api_key=secret, base_url=server.url, retry=FAST_RETRY)
    ledger = Ledger()
    errors = []
    server.faults.add("result:503x2")
    result, _ = _generate(c, image, ledger)
    server.faults.add("task:fail:1200")
    for call in (lambda: _generate(c, image, ledger),
                 lambda: c.get("nope"),
                 lambda: c.submit(SPICY, {"image": "u", "duration": 3})):
        try:
            call()
        except Exception as exc:  # noqa: BLE001 - every error's text is checked below
            errors.append(exc)
    assert len(errors) == 3
    texts = [caplog.text, repr(c), str(vars(c)), repr(result), *(str(e) + repr(e) for e in errors)]
    for text in texts:
        assert secret not in text
    for f in (tmp_path / "home").rglob("*"):
        if f.is_file():
            assert secret.encode() not in f.read_bytes(), f


@pytest.mark.full_render
def test_video_sizes_follow_the_contract_through_the_client(local_api, tmp_path, ledger):
    client = local_client(local_api, retry=FAST_RETRY, poll=PollSchedule(floor=0.1))
    portrait = make_image(tmp_path / "portrait.png", (600, 1000))
    result, _ = _generate(client, portrait, ledger, resolution="720p")
    info = probe(result.video_path)
    assert (info.width, info.height, info.frames) == (720, 1280, 96)


def test_price_and_balance_are_live_with_a_key(server, client):
    q = client.price(SPICY, {"resolution": "1080p", "duration": 10, "generate_audio": True})
    assert q.usd == 1.04 and q.confirmed and "live" in q.source
    assert client.balance() > 0
    offline = Client(api_key="k", base_url="http://127.0.0.1:9", retry=RetryPolicy(attempts=1))
    q2 = offline.price(SPICY, {"resolution": "480p"})
    assert q2.usd == 0.12 and not q2.confirmed and "estimate" in q2.source


def test_after_a_1402_the_next_generate_uploads_the_image_again(server, client, image, ledger):
    _generate(client, image, ledger)
    uploads = server.count("POST", "/api/v3/media/uploads")
    server.faults.add("task:fail:1402")
    with pytest.raises(TaskFailed):
        _generate(client, image, ledger)
    assert server.count("POST", "/api/v3/media/uploads") == uploads
    _generate(client, image, ledger)
    assert server.count("POST", "/api/v3/media/uploads") == uploads + 1


def test_every_retried_request_stops_after_the_policys_attempts_and_the_submit_is_never_one(server, client, image,
                                                                                             tmp_path):
    pred = client.submit(SPICY, {"image": client.upload(image), "resolution": "480p", "duration": 4})
    server.faults.add("result:503x*")
    before = server.count_endpoint("result")
    with pytest.raises(ServerError, match="503"):
        client.get(pred.id)
    assert server.count_endpoint("result") - before == FAST_RETRY.attempts
    server.faults.clear()
    done = client.wait(pred.id)
    server.faults.add("download:503x*")
    before = server.count_endpoint("download")
    with pytest.raises(ServerError, match="503"):
        client.download(done.outputs[0], tmp_path / "out.mp4", task_id=pred.id)
    assert server.count_endpoint("download") - before == FAST_RETRY.attempts
    assert not (tmp_path / "out.mp4").exists()
    server.faults.clear()
    submits = server.submits
    server.faults.add("submit:503x1")
    with pytest.raises(SubmitOutcomeUnknown):
        client.submit(SPICY, {"image": client.upload(image), "resolution": "480p", "duration": 4})
    assert server.submits == submits + 1
