"""What was really charged: the API's billing read back into the ledger (on SQLite and PostgreSQL), a refunded
failure netted to zero, History and the CLI showing the charge beside the estimate, caps counting the real charge;
a sweep's charges read in one search when it ends; a refund that comes later picked up when History is next looked
at (bounded, and never holding the page long); and a clip extended twice, each extension linked to the clip it
continues, priced before it is paid."""

from __future__ import annotations

import sqlite3
import time

import pytest
from browser_support import client_factory_for

from playground import generate
from playground.__main__ import history_table
from playground.caps import Caps
from playground.errors import TaskFailed
from playground.pipeline import chain, chain_cost, charges, extend, extension_price, settle
from playground.session import API_LABEL, Playground
from playground.sweep import seed_sweep
from playground.ui.present import HISTORY_HEADERS, history_rows
from tests.support import KEY, local_client

CHEAP = {"resolution": "480p", "duration": 4, "generate_audio": False}


@pytest.mark.ledger_backends("sqlite", "postgres")
def test_the_ledger_records_deductions_and_refunds_and_caps_count_the_net_charge(local_api_factory, png_file,
                                                                                  ledger):
    server = local_api_factory(timing="instant", render="protocol",
                               discounts={"bytedance/seedance-v1.5-pro/image-to-video-spicy": 0.5})
    client = local_client(server)
    generate(png_file, client=client, ledger=ledger, seed=1, **CHEAP)
    server.faults.add("task:fail:5000")
    with pytest.raises(TaskFailed):
        generate(png_file, client=client, ledger=ledger, seed=2, **CHEAP)

    paid, failed = ledger.jobs()[1], ledger.jobs()[0]
    assert (paid.cost, paid.charged_usd, paid.refunded_usd) == (0.048, 0.024, 0.0)  # estimate vs half off
    assert paid.charge_differs and paid.net_charge == 0.024
    assert (failed.status, failed.charged_usd, failed.refunded_usd, failed.net_charge) == ("failed", 0.024, 0.024, 0)
    assert ledger.spent() == pytest.approx(0.024)  # the caps count what was charged, not the estimate
    row = history_rows([paid])[0]
    assert row[7:9] == ["$0.048", "$0.024 (not the estimate)"]
    assert settle(client, ledger) == []  # nothing left to read
    table = history_table(ledger.jobs())
    assert "$0.024*" in table and "a different figure than the estimate" in table


def test_an_older_ledger_gains_the_charge_and_extension_columns(tmp_path):
    from playground.jobs import Ledger

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at REAL NOT NULL, updated_at REAL "
                   "NOT NULL, sent_at REAL, finished_at REAL, base_url TEXT NOT NULL, account TEXT NOT NULL DEFAULT '',"
                   " session TEXT NOT NULL DEFAULT '', model TEXT NOT NULL, params TEXT NOT NULL, fingerprint TEXT NOT "
                   "NULL, seed INTEGER, resolution TEXT, duration INTEGER, audio INTEGER, cost REAL NOT NULL DEFAULT 0,"
                   " status TEXT NOT NULL, request_id TEXT, outputs TEXT NOT NULL DEFAULT '[]', nsfw TEXT NOT NULL "
                   "DEFAULT '[]', inference_ms INTEGER, error TEXT NOT NULL DEFAULT '', error_code INTEGER, "
                   "video_path TEXT)")
    ledger = Ledger(path)
    assert ledger.jobs() == [] and ledger.spent() == 0.0
    with sqlite3.connect(path) as db:
        names = {row[1] for row in db.execute("PRAGMA table_info(jobs)")}
    assert {"charged_usd", "refunded_usd", "extends"} <= names


def test_a_draft_extended_twice_is_a_chain_with_its_cost(protocol_api, png_file, ledger):
    client = local_client(protocol_api)
    draft = generate(png_file, prompt="a lantern street at dusk", client=client, ledger=ledger, seed=11, **CHEAP)
    price = extension_price(draft, prompt="the camera walks on", client=client, ledger=ledger, duration=4)
    assert price.kind == "exact" and price.usd == pytest.approx(0.096)  # 480p from the draft, 4 s with audio

    first = extend(draft, "the camera walks on", client=client, ledger=ledger, duration=4)
    second = extend(first, "and turns to the river", client=client, ledger=ledger, duration=4)

    assert first.cost == pytest.approx(price.usd) and first.seed == second.seed == 11
    jobs = chain(ledger, second.job_id)
    assert [j.id for j in jobs] == [draft.job_id, first.job_id, second.job_id]
    assert [j.extends for j in jobs] == [None, draft.job_id, first.job_id]
    cost = chain_cost(jobs)
    assert cost.kind == "exact" and cost.usd == pytest.approx(0.048 + 2 * 0.096)
    assert history_rows([jobs[2]])[0][-1] == f"extends job {first.job_id}"


def test_a_sweep_reads_what_its_clips_were_charged_in_one_search_when_it_ends(local_api_factory, png_file, ledger):
    server = local_api_factory(timing="instant", render="protocol",
                               discounts={"bytedance/seedance-v1.5-pro/image-to-video-spicy": 0.5})
    client = local_client(server)
    server.faults.add("task:fail:5000")  # the first clip sent (one at a time: seed 1) fails and is refunded
    frame = seed_sweep(png_file, "slow zoom in", seeds=[1, 2, 3], client=client, ledger=ledger, concurrency=1,
                       progress=False, verbose=False, **CHEAP)

    assert list(frame["status"]) == ["failed", "completed", "completed"]
    assert list(frame["charged"]) == [0.0, 0.024, 0.024]  # the notebook's table: refunded, then half off
    assert client.requests_sent["billing"] == 1  # one search for the whole sweep
    assert ledger.spent() == pytest.approx(0.048)  # the caps count what was charged
    charged = HISTORY_HEADERS.index("charged")
    assert [row[charged] for row in history_rows(ledger.jobs())] == ["$0.024 (not the estimate)"] * 2 + \
        ["$0.00 (not the estimate)"]
    assert "$0.024*" in history_table(ledger.jobs())


def _wait_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


LATER = 8.0  # seconds after a failure its refund comes (the real API: within 3 h)


def test_a_refund_that_comes_later_reaches_history_and_the_caps_at_the_next_look(local_api_factory, png_file,
                                                                                 ledger, monkeypatch):
    server = local_api_factory(timing="instant", render="protocol")
    clients = []
    factory = client_factory_for(server)

    def counting(kind: str, key: str):
        clients.append(factory(kind, key))
        return clients[-1]

    def searches() -> int:
        return sum(c.requests_sent.get("billing", 0) for c in clients)

    pg = Playground(client_factory=counting, ledger=ledger, caps=Caps(max_cost_per_day=1.0), owner_key=KEY)
    server.faults.add(f"task:fail:5000, refund:later:{LATER:g}")
    outcome = pg.run(str(png_file), "slow zoom in", None, {**CHEAP, "seed": 5}, batch=1,
                     payer=pg.payer(API_LABEL, ""), session="s1")
    assert len(outcome.errors) == 1 and searches() == 1  # the run's own read: charged, no refund yet
    failed = ledger.jobs()[0]
    charged = HISTORY_HEADERS.index("charged")

    # History looked at before the refund came: read again (once), nothing new; the caps count the deduction.
    assert history_rows(pg.visible_jobs("s1", ""))[0][charged] == "$0.048"
    assert "$0.952 left today" in pg.budget_text("s1")
    history_rows(pg.visible_jobs("s1", ""))  # a refresh loop: no more searches within a minute
    assert searches() == 2
    assert "refund not seen yet" in history_table(ledger.jobs())
    past_window = failed.finished_at + charges.REFUND_WINDOW_S + 1
    assert charges.settle_recent(counting("api", KEY), ledger, now=past_window) == [] and searches() == 2

    # Once the refund has come (and the minute has passed), the next look picks it up: History, the CLI's table
    # and the caps show the net charge.
    _wait_until(failed.finished_at + LATER + 0.5)
    monkeypatch.setattr(charges, "RECHECK_EVERY_S", 0.0)
    assert history_rows(pg.visible_jobs("s1", ""))[0][charged] == "$0.00 (not the estimate)"
    assert searches() == 3
    assert ledger.get(failed.id).refunded_usd == pytest.approx(0.048)
    assert "$1.00 left today" in pg.budget_text("s1")
    assert "refund not seen yet" not in history_table(ledger.jobs())


def test_a_slow_billing_endpoint_holds_history_a_few_seconds_at_most(local_api_factory, png_file, ledger):
    server = local_api_factory(timing="instant", render="protocol")
    pg = Playground(client_factory=client_factory_for(server), ledger=ledger, caps=Caps(), owner_key=KEY)
    server.faults.add("task:fail:5000, refund:later:600")
    pg.run(str(png_file), "slow zoom in", None, {**CHEAP, "seed": 5}, batch=1, payer=pg.payer(API_LABEL, ""),
           session="s1")
    server.faults.add("billing:slow:15x*")
    started = time.monotonic()
    rows = history_rows(pg.visible_jobs("s1", ""))
    assert time.monotonic() - started < 12  # one try, a short timeout: not the 15 s the endpoint takes
    assert rows[0][HISTORY_HEADERS.index("charged")] == "$0.048"  # what was known stays
    assert server.faults.fired("billing", "slow") == 1
