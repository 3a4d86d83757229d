"""A lost submit reply is matched to a task only when that task is provably ours (issue 10, item 1).

Two clients share one key on the local API over real HTTP. Client A's submit is accepted but its reply dropped;
while A looks through the history (held back a moment by a ``history:slow`` fault), client B submits its own request.
A must never take B's task, pay-recorded, as its own.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

from playground.client import Client, PollSchedule, RetryPolicy
from playground.contract import SPICY
from playground.errors import NotFound, SubmitOutcomeUnknown, ValidationError
from playground.jobs import Ledger
from playground.local import LocalConfig, start_server
from playground.pipeline import claim, generate, resume
from playground.status import COMPLETED, CREATED, UNKNOWN
from tests.support import KEY, make_image, run_process, start_local_api

ROOT = Path(__file__).resolve().parents[1]
PARAMS = {"resolution": "480p", "duration": 4, "generate_audio": False}

pytestmark = pytest.mark.ledger_backends("sqlite", "postgres")


@pytest.fixture(params=[True, False], ids=["history-with-inputs", "history-without-inputs"])
def server(request):
    with start_local_api(concurrency=4, balance=100.0, history_inputs=request.param, render="protocol") as srv:
        yield srv


def _client(server) -> Client:
    return Client(api_key=KEY, base_url=server.url, retry=RetryPolicy(attempts=4, base_delay=0.05, max_delay=0.2),
                  poll=PollSchedule(floor=0.1))


def _race(server, tmp_path, ledger_factory, *, shared_ledger: bool):
    """A generates seed 42 and loses the submit reply; B generates seed 999 while A reads the history."""
    image = make_image(tmp_path / "in.png")
    a, b = _client(server), _client(server)
    ledger_a = ledger_factory("a", home=tmp_path / "a")
    ledger_b = ledger_a if shared_ledger else ledger_factory("b", home=tmp_path / "b")
    url_b = b.upload(image)  # B's image is already at the API, so its submit follows quickly
    before = server.submits
    server.faults.add("submit:drop_after_accept, history:slow:2")
    b_result: dict = {}

    def b_submits_once_a_has() -> None:
        deadline = time.monotonic() + 30
        while server.submits == before and time.monotonic() < deadline:
            time.sleep(0.01)
        b_result["result"] = generate(url_b, client=b, ledger=ledger_b, out_dir=tmp_path / "b" / "out",
                                      probe_output=False, seed=999, **PARAMS)

    thread = threading.Thread(target=b_submits_once_a_has)
    thread.start()
    outcome: dict = {}
    try:
        outcome["result"] = generate(image, client=a, ledger=ledger_a, out_dir=tmp_path / "a" / "out",
                                     probe_output=False, seed=42, **PARAMS)
    except SubmitOutcomeUnknown as exc:
        outcome["error"] = exc
    thread.join(timeout=60)
    assert server.submits - before == 2  # one POST each, nothing re-sent
    assert server.faults.fired("history", "slow") == 1
    return a, ledger_a, b_result["result"], outcome


def test_a_lost_reply_never_takes_the_other_clients_task(server, tmp_path, ledger_factory):
    a, ledger_a, b_result, outcome = _race(server, tmp_path, ledger_factory, shared_ledger=False)
    job = ledger_a.jobs()[0]
    assert b_result.seed == 999
    assert job.request_id != b_result.request_id
    if server.config.history_inputs:
        # The history says which task was sent with seed 42 and A's image: A claims exactly that one.
        result = outcome["result"]
        assert result.seed == 42 and result.request_id == job.request_id
        assert job.status == COMPLETED and Path(job.video_path).exists()
        assert a.get(result.request_id).raw  # the task exists at the API
        tasks = {t["id"] for t in server.tasks()}
        assert {result.request_id, b_result.request_id} <= tasks
    else:
        # Nothing tells the two apart: A claims neither, keeps both as candidates and says what to do.
        exc = outcome["error"]
        assert job.status == UNKNOWN and job.request_id is None and not job.video_path
        assert set(job.candidates) == {t["id"] for t in server.tasks()}
        assert b_result.request_id in job.candidates and len(job.candidates) == 2
        assert "2 tasks could be ours" in str(exc) and f"claim {job.id}" in str(exc)
        for task_id in job.candidates:
            assert task_id in str(exc)
        # Resume does not guess either.
        again = resume(a, ledger_a, out_dir=tmp_path / "a" / "out")
        assert [(o.job_id, o.status) for o in again] == [(job.id, UNKNOWN)]
        assert ledger_a.get(job.id).request_id is None
        # The person claims the other candidate (A's own); resume then collects its video.
        own = next(t for t in job.candidates if t != b_result.request_id)
        pred = claim(job.id, own, client=a, ledger=ledger_a)
        assert pred.id == own
        row = ledger_a.get(job.id)
        assert row.request_id == own and row.candidates == []
        collected = resume(a, ledger_a, out_dir=tmp_path / "a" / "out")
        assert [(o.job_id, o.request_id, o.status) for o in collected] == [(job.id, own, COMPLETED)]
        assert collected[0].video_path.exists()


def test_a_task_another_row_of_the_ledger_holds_is_never_a_candidate(server, tmp_path, ledger_factory):
    # Two clients of one app share a ledger: B's task is recorded before A reads the history, so only A's remains.
    a, ledger_a, b_result, outcome = _race(server, tmp_path, ledger_factory, shared_ledger=True)
    rows = {j.seed: j for j in ledger_a.jobs()}
    assert rows[999].request_id == b_result.request_id
    if server.config.history_inputs:
        assert "result" in outcome, outcome.get("error")
        result = outcome["result"]
        assert result.seed == 42 and result.request_id != b_result.request_id
        assert rows[42].request_id == result.request_id
        return
    # Without inputs nothing proves the one task left is A's (issue 20): A stays unknown with it as its only
    # candidate, never B's, whatever the timing; the person claims it and resume collects the video.
    exc, job = outcome["error"], rows[42]
    assert job.status == UNKNOWN and job.request_id is None and len(job.candidates) == 1
    (own,) = job.candidates
    assert own != b_result.request_id and "1 task could be ours" in str(exc) and own in str(exc)
    claim(job.id, own, client=a, ledger=ledger_a)
    collected = resume(a, ledger_a, out_dir=tmp_path / "a" / "out")
    assert [(o.job_id, o.request_id, o.status) for o in collected] == [(job.id, own, COMPLETED)]


def _unknown_row(ledger: Ledger, sent_at: float) -> int:
    job_id = ledger.record_pending(base_url="local-test", model=SPICY, params={"seed": 5, **PARAMS},
                                   fingerprint="fp", cost=0.05)
    assert ledger.move(job_id, UNKNOWN, sent_at=sent_at)
    return job_id


def test_claim_checks_the_task_at_the_api_and_refuses_one_another_row_holds(server, ledger, tmp_path):
    a = _client(server)
    image_url = a.upload(make_image(tmp_path / "in.png"))
    taken = a.submit(SPICY, {"image": image_url, "seed": 1, **PARAMS})
    other = ledger.record_pending(base_url="somewhere-else", model=SPICY, params={}, fingerprint="x", cost=0.05)
    assert ledger.move(other, CREATED, request_id=taken.id)
    job_id = _unknown_row(ledger, time.time())

    with pytest.raises(ValidationError, match=f"already recorded for job {other}"):
        claim(job_id, taken.id, client=a, ledger=ledger)
    with pytest.raises(NotFound):
        claim(job_id, "no-such-task-0000", client=a, ledger=ledger)
    with pytest.raises(ValidationError, match="job: 999 is not in the ledger"):
        claim(999, taken.id, client=a, ledger=ledger)
    assert ledger.get(job_id).request_id is None

    mine = a.submit(SPICY, {"image": image_url, "seed": 5, **PARAMS})
    claim(job_id, mine.id, client=a, ledger=ledger)
    assert ledger.get(job_id).request_id == mine.id
    with pytest.raises(ValidationError, match=f"already has task {mine.id}"):
        claim(job_id, taken.id, client=a, ledger=ledger)


def test_reconcile_without_inputs_claims_nothing_even_a_single_task_created_after_the_send(tmp_path):
    with start_server(LocalConfig(history_inputs=False, render="protocol")) as srv:
        a = _client(srv)
        url = a.upload(make_image(tmp_path / "in.png"))
        early = a.submit(SPICY, {"image": url, "seed": 1, **PARAMS})
        time.sleep(0.3)
        sent_at = time.time()
        mine = a.submit(SPICY, {"image": url, "seed": 2, **PARAMS})
        params = {"image": url, "seed": 2, **PARAMS}
        # The earlier task is inside a generous skew allowance, so it cannot be ruled out: nothing is claimed.
        wide = a.reconcile(SPICY, sent_at=sent_at, params=params, skew=5.0)
        assert wide.claimed is None and set(wide.candidate_ids) == {early.id, mine.id}
        # With a tight allowance, or the earlier task held by the ledger, only ours remains: still nothing proves it
        # ours, so it is a candidate for a person to claim, not a claim (issue 20).
        tight = a.reconcile(SPICY, sent_at=sent_at, params=params, skew=0.1)
        assert tight.claimed is None and tight.candidate_ids == [mine.id]
        held = a.reconcile(SPICY, sent_at=sent_at, params=params, skew=5.0, exclude={early.id})
        assert held.claimed is None and held.candidate_ids == [mine.id]
        # No task at all in the window: nothing was created.
        assert a.reconcile(SPICY, sent_at=time.time() + 60, params=params, skew=0.1).nothing


def test_reconcile_with_inputs_rejects_a_task_whose_image_differs(tmp_path):
    with start_server(LocalConfig(render="protocol")) as srv:
        a = _client(srv)
        url_1 = a.upload(make_image(tmp_path / "one.png", seed=1))
        url_2 = a.upload(make_image(tmp_path / "two.png", seed=2))
        sent_at = time.time()
        other = a.submit(SPICY, {"image": url_2, "seed": 7, **PARAMS})  # same seed, someone else's image
        found = a.reconcile(SPICY, sent_at=sent_at, params={"image": url_1, "seed": 7, **PARAMS})
        assert found.nothing  # the only task in the window is not ours: no task of ours was created
        twin = a.submit(SPICY, {"image": url_2, "seed": 7, **PARAMS})
        both = a.reconcile(SPICY, sent_at=sent_at, params={"image": url_2, "seed": 7, **PARAMS})
        # Two identical requests: both match, neither can be proven ours.
        assert both.claimed is None and set(both.candidate_ids) == {other.id, twin.id}


def test_the_cli_history_shows_the_candidates_and_claim_records_one(ledger_factory, tmp_path):
    home = tmp_path / "home"
    with start_server(LocalConfig(render="protocol")) as srv:
        a = _client(srv)
        url = a.upload(make_image(tmp_path / "in.png"))
        one = a.submit(SPICY, {"image": url, "seed": 5, **PARAMS})
        two = a.submit(SPICY, {"image": url, "seed": 6, **PARAMS})
        ledger = ledger_factory(home=home)
        job_id = _unknown_row(ledger, time.time())
        ledger.update(job_id, candidates=[one.id, two.id])
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WAVESPEED_", "PLAYGROUND_"))}
        env.update(ledger.environment(), PYTHONPATH=str(ROOT), WAVESPEED_API_KEY=KEY, WAVESPEED_BASE_URL=srv.url)

        def cli(*args):
            return run_process([sys.executable, "-m", "playground", *args], env=env, timeout=300, cwd=ROOT)

        history = cli("history")
        assert history.returncode == 0, history.stderr
        assert f"job {job_id}: outcome unknown" in history.stdout
        assert one.id in history.stdout and two.id in history.stdout
        assert f"claim {job_id} TASK_ID" in history.stdout
        refused = cli("claim", str(job_id), "no-such-task-0000")
        assert refused.returncode == 1 and "error:" in refused.stderr and "Traceback" not in refused.stderr
        done = cli("claim", str(job_id), two.id)
        assert done.returncode == 0, done.stderr
        assert f"job {job_id} is task {two.id}" in done.stdout
        assert ledger.get(job_id).request_id == two.id
        assert KEY not in history.stdout + done.stdout + done.stderr + refused.stderr


def test_one_unproven_task_after_a_lost_reply_stays_a_candidate_for_the_person(tmp_path, ledger):
    # History without inputs and one task in the window, created right after the send: it is very likely ours, but
    # nothing proves it, so nothing is claimed (issue 20): no video is downloaded as ours, resume does not guess.
    with start_local_api(history_inputs=False, render="protocol") as srv:
        a = _client(srv)
        srv.faults.add("submit:drop_after_accept")
        with pytest.raises(SubmitOutcomeUnknown, match="1 task could be ours") as err:
            generate(make_image(tmp_path / "in.png"), client=a, ledger=ledger, out_dir=tmp_path / "out",
                     probe_output=False, seed=3, **PARAMS)
        (task,) = srv.tasks()
        (job,) = ledger.jobs()
        assert (job.status, job.request_id, job.candidates) == (UNKNOWN, None, [task["id"]])
        assert task["id"] in str(err.value) and f"claim {job.id}" in str(err.value)
        assert [(o.job_id, o.status) for o in resume(a, ledger, out_dir=tmp_path / "out")] == [(job.id, UNKNOWN)]
        assert ledger.get(job.id).request_id is None and srv.count_endpoint("download") == 0
        assert srv.submits == 1
