"""The page's server side (playground.session.Playground): who pays, batches, cancel and history, no browser."""

from __future__ import annotations

import threading

import pytest
from browser_support import SAMPLES, client_factory_for

from playground.caps import Caps
from playground.errors import ValidationError, WaveSpeedError
from playground.jobs import Ledger, account_tag
from playground.local import LocalConfig, start_server
from playground.session import API_LABEL, LOCAL_LABEL, Playground

IMAGE = str(SAMPLES / "koi_pond.jpg")
CHEAP = {"resolution": "480p", "duration": 4, "generate_audio": False, "seed": -1}


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
    with start_server(LocalConfig(timing="realistic", speed=1.0)) as server:
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
