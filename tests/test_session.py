"""The page's server side (playground.session.Playground): who pays, batches, cancel and history, no browser."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from browser_support import SAMPLES, client_factory_for

from playground.caps import Caps
from playground.errors import ValidationError, WaveSpeedError
from playground.jobs import Ledger, account_tag
from playground.local import LocalConfig, start_server
from playground.pipeline import ProgressEvent
from playground.session import API_LABEL, LOCAL_LABEL, MATCH_IMAGE, Playground, RunForm, progress_line

IMAGE = str(SAMPLES / "koi_pond.jpg")
CHEAP = {"resolution": "480p", "duration": 4, "generate_audio": False, "seed": -1}
FORM = {"resolution": "480p", "duration": 4, "generate_audio": False}


def test_who_pays_follows_the_backend_and_the_key(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    hosted = Playground(ledger=ledger, caps=Caps(max_cost_per_day=1.0), owner_key="host-key")
    assert hosted.default_backend == API_LABEL
    assert hosted.payer(LOCAL_LABEL, "mine").kind == "local"
    mine = hosted.payer(API_LABEL, " mine ")
    assert (mine.key, mine.capped, mine.account) == ("mine", False, account_tag("mine"))
    host = hosted.payer(API_LABEL, "")
    assert host.capped and host.account == account_tag("host-key")
    assert "host-key" not in repr(hosted) and "host-key" not in host.label

    alone = Playground(ledger=ledger, caps=Caps(), owner_key="")
    assert alone.default_backend == LOCAL_LABEL
    with pytest.raises(WaveSpeedError, match="needs a key"):
        alone.payer(API_LABEL, "")


def test_a_batch_runs_at_once_with_different_seeds_and_each_is_recorded(local_api, tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    pg = Playground(client_factory=client_factory_for(local_api), ledger=ledger, caps=Caps(), owner_key="")
    statuses = []
    outcome = pg.run(IMAGE, "static camera", None, CHEAP, batch=3, payer=pg.payer(LOCAL_LABEL, ""),
                     session="s1", on_status=lambda fraction, line: statuses.append(line))
    assert len(outcome.results) == 3 and not outcome.errors
    assert len({r.seed for r in outcome.results}) == 3
    assert all(r.video_path.exists() for r in outcome.results)
    assert local_api.submits == 3
    assert {j.session for j in ledger.jobs()} == {"s1"}
    assert statuses and any("of 3 done" in line for line in statuses)


def test_cancel_stops_every_wait_and_keeps_the_jobs(tmp_path):
    with start_server(LocalConfig(timing="realistic", speed=1.0, render="protocol")) as server:
        ledger = Ledger(tmp_path / "ledger.sqlite3")
        pg = Playground(client_factory=client_factory_for(server), ledger=ledger, caps=Caps(), owner_key="")
        outcomes = []
        submitted = threading.Event()

        def on_status(fraction, line):
            if server.submits >= 2:
                submitted.set()

        worker = threading.Thread(target=lambda: outcomes.append(
            pg.run(IMAGE, None, None, CHEAP, batch=2, payer=pg.payer(LOCAL_LABEL, ""), session="s1",
                   on_status=on_status)))
        worker.start()
        assert submitted.wait(30)
        assert pg.cancel("s1")
        worker.join(10)
        assert not worker.is_alive()
    outcome = outcomes[0]
    assert not outcome.results and len(outcome.cancelled_jobs) == 2
    assert all(ledger.get(j).unfinished for j in outcome.cancelled_jobs)
    assert not pg.cancel("s1")  # nothing left running


def test_history_shows_each_visitor_only_their_own_jobs_unless_the_operator_shares_it(local_api, tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    # Private by default, on a public host and on a private machine alike.
    pg = Playground(client_factory=client_factory_for(local_api), ledger=ledger, caps=Caps(), owner_key="")
    for session, key in (("alice", "alice-key"), ("bob", "bob-key")):
        pg.run(IMAGE, None, None, CHEAP, batch=1, payer=pg.payer(API_LABEL, key), session=session)
    alice = pg.visible_jobs("alice", "alice-key")
    assert [j.session for j in alice] == ["alice"]
    # Bob's key reaches his jobs from another session; Alice's session cannot name them.
    assert [j.session for j in pg.visible_jobs("elsewhere", "bob-key")] == ["bob"]
    bobs = pg.visible_jobs("bob", "bob-key")[0].id
    with pytest.raises(ValidationError, match="not in your history"):
        pg.job_for(bobs, "alice", "alice-key")
    with pytest.raises(ValidationError, match="paid with another key"):
        pg.payer_for_job(ledger.get(bobs), "alice-key")
    assert pg.visible_jobs("anyone", None) == []
    shared = Playground(client_factory=client_factory_for(local_api), ledger=ledger, caps=Caps(), owner_key="",
                        shared_history=True)
    assert len(shared.visible_jobs("anyone", None)) == 2


def test_only_uploaded_files_and_http_urls_are_used_and_nothing_is_sent_otherwise(local_api, tmp_path):
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    mine = uploads / "cat.png"
    mine.write_bytes((SAMPLES / "koi_pond.jpg").read_bytes())
    pg = Playground(client_factory=client_factory_for(local_api), ledger=Ledger(tmp_path / "ledger.sqlite3"),
                    caps=Caps(), owner_key="", upload_folders=[uploads])
    assert pg.upload_path({"path": str(mine)}, "image") == str(mine.resolve())
    assert pg.upload_path(IMAGE, "image") == str(Path(IMAGE).resolve())  # a bundled sample
    answers = set()
    for path in ("/etc/hostname", "/etc/definitely-not-here"):
        with pytest.raises(ValidationError) as caught:
            pg.run_form(RunForm(image={"path": path}, **FORM), payer=pg.payer(LOCAL_LABEL, ""), session="s1")
        answers.add(str(caught.value))
    assert len(answers) == 1 and answers.pop().startswith("image: only files uploaded to this page")
    for url, problem in (("file:///etc/hostname", r"image_url: give an http\(s\) address"),
                         (42, "image_url: expected text")):
        with pytest.raises(ValidationError, match=problem):
            pg.run_form(RunForm(image_url=url, **FORM), payer=pg.payer(LOCAL_LABEL, ""), session="s1")
    with pytest.raises(ValidationError, match="image: upload an image or give its URL"):
        pg.run_form(RunForm(**FORM), payer=pg.payer(LOCAL_LABEL, ""), session="s1")
    with pytest.raises(ValidationError, match="last_image: only files uploaded"):
        pg.run_form(RunForm(image=IMAGE, last_image="/etc/hostname", **FORM), payer=pg.payer(LOCAL_LABEL, ""),
                    session="s1")
    assert local_api.count("POST", "/api/v3/") == 0


def test_a_form_is_passed_through_for_the_contract_to_judge_by_name():
    assert RunForm(duration=4.0, resolution="480p", generate_audio="false", seed=None).fields() == {
        "duration": 4, "resolution": "480p", "generate_audio": "false", "seed": -1}
    assert "aspect_ratio" not in RunForm(aspect_ratio=MATCH_IMAGE).fields()
    assert RunForm(aspect_ratio="16:9", duration=4.5).fields() == {"duration": 4.5, "aspect_ratio": "16:9", "seed": -1}
    assert [RunForm(batch=b).runs for b in (None, 0, 1, 3, 99)] == [1, 1, 1, 3, 4]


def test_the_status_line_names_the_phase_the_time_and_the_estimate():
    assert progress_line({}, 1, 0, 2.4) == (0.0, "starting · 2 s")
    fraction, line = progress_line({0: ProgressEvent("processing", 10.0, estimate=40.0)}, 1, 0, 11.0)
    assert line == "processing · 11 s of ~40 s" and 0.05 < fraction < 0.95
    fraction, line = progress_line({0: ProgressEvent("done", 30.0), 1: ProgressEvent("processing", 31.0)}, 3, 1,
                                   31.2)
    assert line == "1 of 3 done · processing · 31 s" and fraction == pytest.approx(1 / 3)


def test_a_stopped_run_says_why_once_and_a_past_job_fills_the_form_again(local_api, tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    pg = Playground(client_factory=client_factory_for(local_api), ledger=ledger, caps=Caps(), owner_key="")
    refused = pg.refuse("s1", ValidationError("image: cat.txt is not an image."))
    assert str(refused) == "image: cat.txt is not an image."
    assert pg.stopped_line("s1") == "Stopped: image: cat.txt is not an image. Anything that was sent is in History."
    assert pg.stopped_line("s1").startswith("Stopped: something went wrong")

    outcome = pg.run_form(RunForm(image=IMAGE, prompt="static camera", aspect_ratio="16:9", seed=7, **FORM),
                          payer=pg.payer(LOCAL_LABEL, ""), session="s1")
    job = pg.job_with_video(outcome.results[0].job_id, "s1", None)
    assert job.has_video and Path(job.video_path).exists()
    again = pg.params_of(job)
    assert (again.prompt, again.seed, again.resolution, again.duration, again.aspect_ratio) == (
        "static camera", 7, "480p", 4, "16:9")
    assert again.image_url.startswith("http") and again.image is None and again.batch == 1
    with pytest.raises(ValidationError, match="not in your history"):
        pg.job_with_video(job.id, "someone-else", None)
