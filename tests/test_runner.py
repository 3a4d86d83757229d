"""The Runner over real HTTP against the local API: bounded tasks in flight, cancel, threads, events, 429s."""

from __future__ import annotations

import threading
import time

import pytest

from playground.caps import Caps
from playground.client import Client, PollSchedule
from playground.contract import VideoRequest
from playground.errors import Cancelled, TaskFailed
from playground.local import LocalConfig, start_server
from playground.pipeline import Result, generate, read_media
from playground.runner import END_PHASES, Runner
from playground.session import LOCAL_LABEL, Playground
from playground.status import CREATED, MOVES, PROCESSING, REJECTED
from tests.support import KEY, make_image

SMALL = {"resolution": "480p", "duration": 4, "generate_audio": False}
FAST_POLLS = PollSchedule(floor=0.05, max_gap=0.2)


def requests_for(seeds, **fields):
    return [VideoRequest.build(seed=s, **{**SMALL, **fields}) for s in seeds]


@pytest.fixture
def picture(tmp_path):
    return make_image(tmp_path / "in.png", (640, 360))


def run_all(server, ledger, picture, seeds, **runner_kw):
    client = Client(api_key=KEY, base_url=server.url, poll=FAST_POLLS)
    media = read_media(picture, client=client)
    runner = Runner(client, ledger, out_dir=ledger.home / "out", probe_output=False, **runner_kw)
    return runner.run((r, media) for r in requests_for(seeds)), ledger


def test_never_more_tasks_at_the_api_than_the_concurrency_and_results_come_in_input_order(ledger, picture):
    with start_server(LocalConfig(timing="realistic", speed=0.02, concurrency=8, balance=100.0,
                                  render="protocol")) as server:
        results, ledger = run_all(server, ledger, picture, range(1, 7), concurrency=2)
        assert [r.seed for r in results] == [1, 2, 3, 4, 5, 6]
        assert all(isinstance(r, Result) and r.video_path.exists() for r in results)
        assert server.max_in_flight() == 2  # counted at the server, not by the runner
        assert server.submits == 6 and len(ledger.jobs()) == 6


def test_events_arrive_for_every_job_and_each_ends_once(local_api, ledger, picture):
    events = []
    results, _ = run_all(local_api, ledger, picture, [11, 12, 13], concurrency=2, on_event=events.append)
    assert all(isinstance(r, Result) for r in results)
    for index, result in enumerate(results):
        mine = [e for e in events if e.index == index]
        phases = [e.phase for e in mine]
        assert phases[-1] == "done" and sum(p in END_PHASES for p in phases) == 1
        assert "submitting" in phases and "downloading" in phases
        assert mine[-1].job_id == result.job_id and mine[-1].request_id == result.request_id
        assert all(a.elapsed <= b.elapsed for a, b in zip(mine, mine[1:], strict=False))

    again, _ = run_all(local_api, ledger, picture, [11, 12, 13], concurrency=2, on_event=events.append)
    assert all(r.reused for r in again) and local_api.submits == 3


def test_a_failed_task_is_an_error_in_its_place_and_the_others_complete(local_api, ledger, picture):
    local_api.faults.add("task:fail:1200")
    results, ledger = run_all(local_api, ledger, picture, [1, 2, 3], concurrency=3)
    failed = [r for r in results if isinstance(r, TaskFailed)]
    assert len(failed) == 1 and "moderation" in str(failed[0])
    assert failed[0].job_id is not None and ledger.get(failed[0].job_id).status == "failed"
    assert sum(isinstance(r, Result) for r in results) == 2


def test_a_submit_refused_with_429_is_sent_again_and_nothing_else_is(local_api, ledger, picture):
    local_api.faults.add("submit:429:0.1x2")
    results, ledger = run_all(local_api, ledger, picture, [1, 2, 3], concurrency=3)
    assert all(isinstance(r, Result) for r in results)
    assert local_api.submits == 3 + 2 and len(local_api.tasks()) == 3
    assert sorted(j.status for j in ledger.jobs()).count(REJECTED) == 2


def test_cancel_stops_every_wait_at_once_and_every_sent_job_stays_in_the_ledger(ledger, picture):
    # Tasks take ~20 s here: the cancel must not wait for them.
    with start_server(LocalConfig(timing="realistic", speed=1.0, concurrency=2, balance=100.0,
                                  render="protocol")) as server:
        cancel = threading.Event()
        sent = set()

        def on_event(event):
            if event.phase in ("queued", "processing"):
                sent.add(event.index)
                if len(sent) == 4:
                    cancel.set()

        t0 = time.monotonic()
        results, ledger = run_all(server, ledger, picture, range(1, 9), concurrency=4, cancel=cancel,
                                  on_event=on_event)
        assert time.monotonic() - t0 < 15
        assert all(isinstance(r, Cancelled) for r in results)
        at_api = [r for r in results if r.task_id]
        assert len(at_api) == 4 == server.submits
        jobs = {j.id: j for j in ledger.jobs()}
        assert len(jobs) == 4
        for exc in at_api:
            job = jobs[exc.job_id]
            assert job.request_id == exc.task_id and job.status in (CREATED, PROCESSING) and job.unfinished
        assert all(r.job_id is None for r in results if not r.task_id)  # never sent, never reserved


def test_two_hundred_waiting_jobs_need_a_handful_of_threads(ledger, picture):
    with start_server(LocalConfig(timing="realistic", speed=1.0, concurrency=2, balance=1000.0,
                                  render="protocol")) as server:
        cancel = threading.Event()
        sent, peak = set(), [threading.active_count()]
        before = threading.active_count()

        def on_event(event):
            peak[0] = max(peak[0], threading.active_count())
            if event.phase in ("queued", "processing"):
                sent.add(event.index)
                if len(sent) == 200:
                    cancel.set()

        results, ledger = run_all(server, ledger, picture, range(1, 201), concurrency=200, workers=8,
                                  cancel=cancel, on_event=on_event)
        assert len(sent) == 200 and server.submits == 200 and len(ledger.jobs()) == 200
        assert all(isinstance(r, Cancelled) and r.task_id for r in results)
        assert peak[0] - before <= 8 + 2  # the pool, not a thread per waiting job


def test_generate_and_the_page_poll_on_one_clock(ledger, picture):
    # Tasks take about 2.2 s; the schedule looks every 1.5 s. A wait with a clock of its own (the SDK's second, say)
    # would ask more often: both callers ask exactly twice, at about 1.5 s (processing) and 3 s (completed).
    every_1_5 = PollSchedule(floor=1.5, probe=1.5, max_gap=1.5, ceiling=1.5)
    with start_server(LocalConfig(timing="realistic", speed=0.11, jitter=0.05, balance=100.0,
                                  render="protocol")) as server:
        def factory(kind: str, key: str) -> Client:
            return Client(api_key=key or "local-preview", base_url=server.url, backend_id="local", poll=every_1_5)

        generate(picture, client=factory("local", ""), ledger=ledger, probe_output=False, **SMALL)
        by_generate = server.count_endpoint("result")
        pg = Playground(client_factory=factory, ledger=ledger, caps=Caps(), owner_key="", webhook_url="")
        outcome = pg.run(picture, None, None, {**SMALL, "seed": -1}, batch=1, payer=pg.payer(LOCAL_LABEL, ""),
                         session="s")
        assert len(outcome.results) == 1
        by_page = server.count_endpoint("result") - by_generate
    assert by_generate == by_page == 2


class _Watcher:
    """Reads every row of the ledger every few milliseconds and keeps each one's statuses in the order seen."""

    def __init__(self, ledger):
        self.ledger, self.seen, self._stop = ledger, {}, threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.005):
            for job in self.ledger.jobs():
                path = self.seen.setdefault(job.id, [])
                if not path or path[-1] != job.status:
                    path.append(job.status)

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join(5)
        return self.seen


def test_a_job_never_moves_backwards_whatever_its_path(local_api, ledger, picture):
    # A submit refused with 429 and sent again, a submit whose reply is lost and found in the history, result GETs
    # answered 503: every row's statuses, as another reader of the ledger sees them, only go forward.
    local_api.faults.add("submit:429:0.1x1, submit:drop_after_accept, result:503x2")
    watcher = _Watcher(ledger)
    try:
        results, _ = run_all(local_api, ledger, picture, [1, 2, 3], concurrency=1)
    finally:
        seen = watcher.stop()
    assert all(isinstance(r, Result) for r in results), results
    for job in ledger.jobs():
        path = seen.get(job.id, []) + ([job.status] if seen.get(job.id, [None])[-1] != job.status else [])
        assert all(b in MOVES[a] for a, b in zip(path, path[1:], strict=False)), (job.id, path)
    assert sorted(j.status for j in ledger.jobs()) == ["completed"] * 3 + [REJECTED]
    assert local_api.faults.fired("submit", "drop_after_accept") == 1
