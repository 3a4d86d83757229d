"""What was really charged: the API's billing read back into the ledger (on SQLite and PostgreSQL), a refunded
failure netted to zero, History and the CLI showing the charge beside the estimate, caps counting the real charge;
and a clip extended twice, each extension linked to the clip it continues, priced before it is paid."""

from __future__ import annotations

import sqlite3

import pytest

from playground import generate
from playground.__main__ import history_table
from playground.errors import TaskFailed
from playground.pipeline import chain, chain_cost, extend, extension_price, settle
from playground.ui.present import history_rows
from tests.support import local_client

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
