"""One payment per identical request: threads and processes sharing a ledger send one submit POST and share its video.

The processes are real (``python -c`` running :func:`_worker_main`) against one local API started here and one
ledger (SQLite, or one PostgreSQL database the processes share like replicas); :func:`run_workers` is also used by
tests/test_caps_processes.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from playground.caps import Caps
from playground.client import Client
from playground.errors import WaveSpeedError
from playground.jobs import UPLOAD_REUSE_S, Ledger, account_tag
from playground.pipeline import generate
from playground.status import COMPLETED, FAILED, LOST, PENDING, REJECTED
from tests.support import KEY, end, fast_poll, local_client, make_image, spawn

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.ledger_backends("sqlite", "postgres")
CHEAP = {"resolution": "480p", "duration": 4, "generate_audio": False}  # $0.048 a job
CHEAP_COST = 0.048


def _worker_main() -> None:
    """In a child process: wait for the go file, run the attempts one after another, print their outcomes as JSON."""
    spec = json.loads(sys.argv[1])
    Path(spec["ready"]).touch()
    go = Path(spec["go"])
    while not go.exists():
        time.sleep(0.005)
    print(json.dumps(_attempts(spec)), flush=True)


def _attempts(spec: dict) -> list[dict]:
    client = Client(api_key=KEY, base_url=spec["url"], poll=fast_poll())
    ledger = Ledger(**spec["ledger"])
    caps = Caps(**spec["caps"]) if spec.get("caps") else None
    outcomes = []
    try:
        for attempt in spec["attempts"]:
            guard = None if caps is None else caps.guard(ledger, account=account_tag(KEY),
                                                         session=attempt["session"], visitor=attempt["visitor"])
            try:
                r = generate(spec["image"], "slow zoom in", client=client, ledger=ledger, guard=guard,
                             session=attempt["session"], visitor=attempt["visitor"], account=account_tag(KEY),
                             out_dir=spec["out"], probe_output=False, timeout=120, **attempt["params"])
                outcomes.append({"video": str(r.video_path), "request_id": r.request_id, "reused": r.reused,
                                 "job_id": r.job_id})
            except WaveSpeedError as exc:
                outcomes.append({"error": type(exc).__name__, "message": str(exc)})
    finally:
        client.close()
    return outcomes


def run_workers(url: str, ledger: Ledger, image: Path, attempts_per_worker: list[list[dict]],
                caps: dict | None = None) -> list[list[dict]]:
    """Start one process per list of attempts, each opening ``ledger`` anew, release them together, and return each
    one's outcomes."""
    home = ledger.home
    home.mkdir(parents=True, exist_ok=True)
    go = home / "go"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAVESPEED_", "PLAYGROUND_"))}
    env.update(PLAYGROUND_HOME=str(home), PYTHONPATH=str(ROOT))
    procs, readies = [], []
    for i, attempts in enumerate(attempts_per_worker):
        ready = home / f"ready-{i}"
        readies.append(ready)
        spec = {"url": url, "ledger": ledger.open_args(), "image": str(image), "out": str(home / f"out-{i}"),
                "attempts": attempts, "caps": caps, "ready": str(ready), "go": str(go)}
        procs.append(spawn(
            [sys.executable, "-c", "from tests.test_one_payment import _worker_main; _worker_main()", json.dumps(spec)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        deadline = time.monotonic() + 120
        while not all(r.exists() for r in readies):
            assert time.monotonic() < deadline, "the worker processes did not start"
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs if p.poll() is not None]
            time.sleep(0.02)
        go.touch()
        results = []
        for p in procs:
            out, err = p.communicate(timeout=300)
            assert p.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        for p in procs:
            end(p)


@pytest.fixture
def slow_api(local_api_factory):
    """Jobs take about two seconds, so identical requests are really in flight at the same time."""
    return local_api_factory(timing="realistic", speed=0.08, render="protocol")


def _run_threads(server, ledger: Ledger, image: Path, out: Path, n: int, **params) -> list:
    barrier = threading.Barrier(n)
    outcomes: list = [None] * n

    def one(i: int) -> None:
        client = local_client(server)
        barrier.wait()
        try:
            outcomes[i] = generate(image, "slow zoom in", client=client, ledger=ledger, out_dir=out,
                                   probe_output=False, timeout=120, **params)
        except WaveSpeedError as exc:
            outcomes[i] = exc
        finally:
            client.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    return outcomes


def test_four_threads_with_the_same_seed_pay_once_and_share_the_video(slow_api, ledger, tmp_path):
    image = make_image(tmp_path / "in.png")
    results = _run_threads(slow_api, ledger, image, tmp_path / "out", 4, seed=77, **CHEAP)
    assert all(not isinstance(r, Exception) for r in results), results
    assert slow_api.submits == 1
    assert len({r.request_id for r in results}) == 1 and len({r.video_path for r in results}) == 1
    assert sorted(r.reused for r in results) == [False, True, True, True]
    assert results[0].video_path.exists()
    assert [j.status for j in ledger.jobs()] == [COMPLETED]
    assert slow_api.balance(KEY) == pytest.approx(10.0 - CHEAP_COST)


def test_four_processes_with_the_same_seed_pay_once_and_share_the_video(slow_api, ledger_factory, tmp_path):
    image = make_image(tmp_path / "in.png")
    attempt = {"params": {**CHEAP, "seed": 4242}, "session": "s", "visitor": "v"}
    ledger = ledger_factory(home=tmp_path / "home")
    outcomes = [o[0] for o in run_workers(slow_api.url, ledger, image, [[attempt]] * 4)]
    assert all("error" not in o for o in outcomes), outcomes
    assert slow_api.submits == 1
    assert len({o["request_id"] for o in outcomes}) == 1 and len({o["video"] for o in outcomes}) == 1
    assert sorted(o["reused"] for o in outcomes) == [False, True, True, True]
    assert Path(outcomes[0]["video"]).exists()
    assert slow_api.balance(KEY) == pytest.approx(10.0 - CHEAP_COST)
    assert [j.status for j in ledger.jobs()] == [COMPLETED]


def test_a_random_seed_is_a_different_request_and_pays_each_time(slow_api, ledger, tmp_path):
    image = make_image(tmp_path / "in.png")
    results = _run_threads(slow_api, ledger, image, tmp_path / "out", 3, seed=-1, **CHEAP)
    assert all(not isinstance(r, Exception) for r in results), results
    assert slow_api.submits == 3 and len({r.seed for r in results}) == 3
    assert not any(r.reused for r in results)


def test_when_the_first_identical_request_fails_the_waiting_one_pays_again_and_gets_a_video(slow_api, ledger,
                                                                                             tmp_path):
    slow_api.faults.add("task:fail:1200")
    image = make_image(tmp_path / "in.png")
    results = _run_threads(slow_api, ledger, image, tmp_path / "out", 2, seed=5, **CHEAP)
    failed = [r for r in results if isinstance(r, Exception)]
    videos = [r for r in results if not isinstance(r, Exception)]
    assert len(failed) == 1 and "moderation" in str(failed[0])
    assert len(videos) == 1 and videos[0].video_path.exists() and not videos[0].reused
    assert slow_api.submits == 2
    assert sorted(j.status for j in ledger.jobs()) == [COMPLETED, FAILED]


def test_a_reservation_whose_process_died_before_sending_does_not_block_for_ever(local_api, ledger, tmp_path):
    image = make_image(tmp_path / "in.png")
    client = local_client(local_api)
    first = generate(image, "slow zoom in", client=client, ledger=ledger, seed=9, out_dir=tmp_path / "out",
                     probe_output=False, **CHEAP)
    # A process reserved the same request an hour ago and died while uploading: a pending row, never sent.
    dead = ledger.record_pending(base_url=client.backend_id, model=first.model, params=first.params,
                                 fingerprint=ledger.get(first.job_id).fingerprint, cost=CHEAP_COST)
    # The first job's video is gone and its output URL expired: it cannot be reused.
    Path(first.video_path).unlink()
    ledger.update(first.job_id, finished_at=time.time() - UPLOAD_REUSE_S - 60)
    ledger.update(dead, updated_at=time.time() - 3600)
    again = generate(image, "slow zoom in", client=client, ledger=ledger, seed=9, out_dir=tmp_path / "out",
                     probe_output=False, timeout=30, **CHEAP)
    assert not again.reused and again.video_path.exists()
    assert local_api.submits == 2
    assert ledger.get(dead).status == LOST and "never sent" in ledger.get(dead).error
    client.close()


def test_a_reservation_whose_upload_fails_stops_counting(local_api, ledger, tmp_path):
    local_api.faults.add("upload:500x*")
    image = make_image(tmp_path / "in.png")
    client = local_client(local_api)
    with pytest.raises(WaveSpeedError):
        generate(image, "slow zoom in", client=client, ledger=ledger, seed=3, out_dir=tmp_path / "out",
                 probe_output=False, **CHEAP)
    (job,) = ledger.jobs()
    assert job.status == REJECTED and job.sent_at is None and "not sent" in job.error
    assert ledger.spent() == 0.0 and local_api.submits == 0
    client.close()


def test_resume_leaves_a_fresh_reservation_to_its_process_and_gives_up_an_old_one(local_api, ledger):
    from playground.pipeline import resume

    client = Client(api_key=KEY, base_url=local_api.url)
    params = {**CHEAP, "seed": 1, "image": "upload:sha256:abc"}
    fresh = ledger.record_pending(base_url=client.backend_id, model="m", params=params, fingerprint="a", cost=0.048)
    old = ledger.record_pending(base_url=client.backend_id, model="m", params=params, fingerprint="b", cost=0.048)
    ledger.update(old, updated_at=time.time() - 3600)
    outcomes = {o.job_id: o for o in resume(client, ledger)}
    assert outcomes[fresh].status == PENDING and ledger.get(fresh).status == PENDING
    assert outcomes[old].status == LOST and ledger.get(old).status == LOST
    assert local_api.submits == 0
    client.close()


def test_an_identical_request_whose_process_died_while_waiting_is_finished_by_the_next_and_never_sent_again(
        local_api, ledger, tmp_path, monkeypatch):
    from playground.contract import VideoRequest
    from playground.pipeline import plan, read_media, submit, waiting

    # A row silent this long, whose task the API says ended this long ago, has lost its process (2 minutes and a
    # minute in production; shortened here so the test does not wait for them).
    monkeypatch.setattr(waiting, "TWIN_SILENT_S", 0.3)
    monkeypatch.setattr(waiting, "DOWNLOAD_GRACE_S", 0.3)
    image = make_image(tmp_path / "in.png")
    client = Client(api_key=KEY, base_url=local_api.url, poll=fast_poll())
    # Process A planned and sent the request, then died: no wait, no download.
    request = VideoRequest.build(prompt="slow zoom in", seed=21, **CHEAP)
    planned = plan(request, read_media(image, client=client, ledger=ledger), client=client, ledger=ledger)
    submit(planned, client=client, ledger=ledger)
    result = generate(image, "slow zoom in", client=client, ledger=ledger, seed=21, out_dir=tmp_path / "out",
                      probe_output=False, timeout=60, **CHEAP)
    assert result.reused and result.job_id == planned.job_id and result.video_path.exists()
    assert local_api.submits == 1 and local_api.count_endpoint("download") == 1
    assert [(j.status, j.video_path) for j in ledger.jobs()] == [(COMPLETED, str(result.video_path))]
    client.close()
