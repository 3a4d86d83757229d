"""The page's server side (playground.session.Playground): who pays, batches, cancel and history, no browser."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from browser_support import SAMPLES, client_factory_for

from playground.caps import Caps
from playground.errors import ValidationError, WaveSpeedError
from playground.jobs import account_tag
from playground.local import LocalConfig, start_server
from playground.pipeline import ProgressEvent
from playground.session import API_LABEL, LOCAL_LABEL, MATCH_IMAGE, Playground, RunForm, progress_line

IMAGE = str(SAMPLES / "koi_pond.jpg")
CHEAP = {"resolution": "480p", "duration": 4, "generate_audio": False, "seed": -1}
FORM = {"resolution": "480p", "duration": 4, "generate_audio": False}


def test_who_pays_follows_the_backend_and_the_key(ledger):
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


def test_a_batch_runs_at_once_with_different_seeds_and_each_is_recorded(local_api, ledger):
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


def test_cancel_stops_every_wait_and_keeps_the_jobs(ledger):
    with start_server(LocalConfig(timing="realistic", speed=1.0, render="protocol")) as server:
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


def test_history_is_the_machines_ledger_on_a_private_machine_and_each_visitors_own_on_a_public_host(local_api,
                                                                                                     ledger):
    hosted = Playground(client_factory=client_factory_for(local_api), ledger=ledger, caps=Caps(public=True),
                        owner_key="")
    for owner, key in (("alice", "alice-key"), ("bob", "bob-key")):
        hosted.run(IMAGE, None, None, CHEAP, batch=1, payer=hosted.payer(API_LABEL, key), session="tab-" + owner,
                   owner=owner)
    assert {j.session for j in ledger.jobs()} == {"alice", "bob"}  # filed under the owner, not the tab
    alice = hosted.visible_jobs("alice", "alice-key")
    assert [j.session for j in alice] == ["alice"]
    # Bob's key reaches his jobs from another browser; Alice cannot name them.
    assert [j.session for j in hosted.visible_jobs("elsewhere", "bob-key")] == ["bob"]
    bobs = hosted.visible_jobs("bob", "bob-key")[0].id
    with pytest.raises(ValidationError, match="not in your history"):
        hosted.job_for(bobs, "alice", "alice-key")
    with pytest.raises(ValidationError, match="paid with another key"):
        hosted.payer_for_job(ledger.get(bobs), "alice-key")
    assert hosted.visible_jobs("anyone", None) == []

    laptop = Playground(client_factory=client_factory_for(local_api), ledger=ledger, caps=Caps(), owner_key="")
    assert len(laptop.visible_jobs("anyone", None)) == 2  # a private machine: its whole ledger, by default
    assert laptop.job_for(bobs, "anyone", None).id == bobs
    with pytest.raises(ValidationError, match="not in your history"):  # an endpoint asks for its own only
        laptop.job_for(bobs, "anyone", None, whole=False)


def test_a_browser_identity_is_minted_and_read_only_by_its_server_and_survives_a_restart(tmp_path, monkeypatch,
                                                                                        ledger_factory):
    from playground.identity import BrowserIdentity, load_secret

    monkeypatch.delenv("PLAYGROUND_BROWSER_SECRET", raising=False)
    first = Playground(ledger=ledger_factory(), caps=Caps(public=True), owner_key="")
    token = first.identity.mint()
    owner = first.identity.owner(token)
    assert owner.startswith("b:") and token not in owner and len(token) < 64
    secret_file = tmp_path / "browser-secret"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    again = Playground(ledger=ledger_factory(), caps=Caps(public=True), owner_key="")
    assert again.identity.owner(token) == owner  # a restart reads the same browser
    assert again.identity.storage_secret() == first.identity.storage_secret()
    assert first.identity.mint() != token and first.identity.owner(first.identity.mint()) != owner
    elsewhere = BrowserIdentity(load_secret(tmp_path / "another-home"))
    assert elsewhere.owner(token) is None  # another server's secret cannot read it
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    for forged in (flipped, owner, "", "x" * 500, None, 42, token + "=="[:0] + "AAAA"):
        assert first.identity.owner(forged) is None
    monkeypatch.setenv("PLAYGROUND_BROWSER_SECRET", "too-short")
    with pytest.raises(ValueError, match="PLAYGROUND_BROWSER_SECRET"):
        load_secret(tmp_path)
    monkeypatch.setenv("PLAYGROUND_BROWSER_SECRET", "s" * 40)
    assert BrowserIdentity(load_secret(tmp_path)).owner(token) is None


def test_a_run_the_ledger_serves_again_is_a_free_row_of_the_visitors_own(local_api, ledger):
    pg = Playground(client_factory=client_factory_for(local_api), ledger=ledger, caps=Caps(public=True),
                    owner_key="")
    fixed = {**CHEAP, "seed": 77}
    paid = pg.run(IMAGE, None, None, fixed, batch=1, payer=pg.payer(LOCAL_LABEL, ""), session="t1", owner="alice")
    again = pg.run(IMAGE, None, None, fixed, batch=1, payer=pg.payer(LOCAL_LABEL, ""), session="t2", owner="bob")
    (first,), (second,) = paid.results, again.results
    assert second.reused and local_api.submits == 1
    row = ledger.get(second.job_id)
    assert (row.session, row.status, row.cost, row.reused_from) == ("bob", "reused", 0.0, first.job_id)
    assert [j.id for j in pg.visible_jobs("bob", None)] == [row.id]  # Bob's History: his run, not Alice's job
    assert ledger.spent(session="bob") == 0.0 and ledger.spent() == pytest.approx(first.cost)
    assert pg.job_with_video(row.id, "bob", None).has_video
    with pytest.raises(ValidationError, match="nothing of it is at the API, so there is nothing to delete"):
        pg.delete_from_api_history(row, None)
    assert ledger.find_reusable(row.fingerprint).id == first.job_id  # the paid job stays the one reused


def test_only_uploaded_files_and_http_urls_are_used_and_nothing_is_sent_otherwise(local_api, tmp_path, ledger):
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    mine = uploads / "cat.png"
    mine.write_bytes((SAMPLES / "koi_pond.jpg").read_bytes())
    pg = Playground(client_factory=client_factory_for(local_api), ledger=ledger,
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
    assert [RunForm(batch=b).runs for b in (None, 1, 3, 4.0)] == [1, 1, 3, 4]
    for bad in (0, 99, "2", True):  # bounded and typed since issue 17: refused by name, never clamped
        with pytest.raises(ValidationError, match="batch"):
            _ = RunForm(batch=bad).runs


def test_the_status_line_names_the_phase_the_time_and_the_estimate():
    assert progress_line({}, 1, 0, 2.4) == (0.0, "starting · 2 s")
    fraction, line = progress_line({0: ProgressEvent("processing", 10.0, estimate=40.0)}, 1, 0, 11.0)
    assert line == "processing · 11 s of ~40 s" and 0.05 < fraction < 0.95
    fraction, line = progress_line({0: ProgressEvent("done", 30.0), 1: ProgressEvent("processing", 31.0)}, 3, 1,
                                   31.2)
    assert line == "1 of 3 done · processing · 31 s" and fraction == pytest.approx(1 / 3)


def test_a_stopped_run_says_why_once_and_a_past_job_fills_the_form_again(local_api, ledger):
    pg = Playground(client_factory=client_factory_for(local_api), ledger=ledger, caps=Caps(public=True),
                    owner_key="")
    refused = pg.refuse("s1", ValidationError("image: cat.txt is not an image."), since=time.time())
    assert str(refused) == "image: cat.txt is not an image."
    # Nothing was sent: the line does not send the visitor to History for it.
    assert pg.stopped_line("s1") == "Stopped: image: cat.txt is not an image."
    assert pg.stopped_line("s1") == "Stopped: something went wrong in the playground; nothing was sent."
    started = time.time()
    pg.run(IMAGE, None, None, CHEAP, batch=1, payer=pg.payer(LOCAL_LABEL, ""), session="s1")
    pg.refuse("s1", WaveSpeedError("Task abc failed: moderation."), since=started)
    assert pg.stopped_line("s1") == "Stopped: Task abc failed: moderation. Anything that was sent is in History."

    outcome = pg.run_form(RunForm(image=IMAGE, prompt="static camera", aspect_ratio="16:9", seed=7, **FORM),
                          payer=pg.payer(LOCAL_LABEL, ""), session="s1")
    job = pg.job_with_video(outcome.results[0].job_id, "s1", None)
    assert job.has_video and Path(job.video_path).exists()
    again = pg.params_of(job)
    assert (again.prompt, again.seed, again.resolution, again.duration, again.aspect_ratio) == (
        "static camera", 7, "480p", 4, "16:9")
    assert again.image_url.startswith("http") and again.image is None and again.batch == 1
    assert again.model == outcome.results[0].model
    with pytest.raises(ValidationError, match="not in your history"):
        pg.job_with_video(job.id, "someone-else", None)
