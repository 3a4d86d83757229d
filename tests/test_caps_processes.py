"""Caps that hold across processes and sessions: real processes share one ledger and one local API.

What is guaranteed: a job is reserved (its pending row written) only while the ledger's spending counted for a cap,
pending reservations included, is below that cap, in the same write transaction as the check. So once the spending
has reached a cap every further job is refused, in any process; the total may pass the cap by less than one job's
cost (the last job allowed started below it). With $0.048 jobs and a $0.10 cap: exactly 3 jobs ($0.144), then none.
The same holds on SQLite's WAL and rollback journals and on one PostgreSQL database shared like replicas.
"""

from __future__ import annotations

import threading

import pytest

from playground.caps import Caps
from playground.errors import CapExceeded
from playground.jobs import account_tag
from playground.pipeline import generate
from tests.support import local_client, make_image
from tests.test_one_payment import CHEAP, CHEAP_COST, KEY, run_workers

pytestmark = pytest.mark.ledger_backends("sqlite", "postgres")


@pytest.fixture
def api(local_api_factory):
    return local_api_factory(timing="realistic", speed=0.03, concurrency=8, render="protocol")


@pytest.mark.ledger_backends("sqlite", "sqlite-delete", "postgres")
def test_four_processes_on_one_ledger_stop_once_the_daily_cap_is_reached(api, ledger_factory, tmp_path):
    image = make_image(tmp_path / "in.png")
    ledger = ledger_factory(home=tmp_path / "home")
    workers = [[{"params": {**CHEAP, "seed": -1}, "session": f"p{w}-s{i}", "visitor": f"p{w}-v{i}"}
                for i in range(3)] for w in range(4)]
    outcomes = [o for worker in run_workers(api.url, ledger, image, workers, caps={"max_cost_per_day": 0.10})
                for o in worker]
    made = [o for o in outcomes if "error" not in o]
    refused = [o for o in outcomes if "error" in o]
    assert len(made) == 3 and len(refused) == 9, outcomes
    assert {o["error"] for o in refused} == {"CapExceeded"}
    # Every refusal states the true spending: the three jobs, each counted once.
    assert all("daily budget of $0.10" in o["message"] and "($0.144 spent today" in o["message"] for o in refused)
    assert api.submits == 3
    charged = 10.0 - api.balance(KEY)
    assert charged == pytest.approx(3 * CHEAP_COST) == pytest.approx(ledger.spent())
    assert charged < 0.10 + CHEAP_COST


def test_new_sessions_from_the_same_visitor_cannot_pass_the_visitor_cap(api, ledger_factory, tmp_path):
    image = make_image(tmp_path / "in.png")
    ledger = ledger_factory(home=tmp_path / "home")
    # Five fresh sessions of one visitor, in two processes, racing; another visitor is not affected.
    same = [{"params": {**CHEAP, "seed": -1}, "session": f"s{i}", "visitor": "visitor-a"} for i in range(5)]
    other = [{"params": {**CHEAP, "seed": -1}, "session": "t0", "visitor": "visitor-b"}]
    caps = {"max_cost_per_visitor": 0.05, "max_cost_per_session": 1.0, "max_cost_per_day": 5.0}
    outcomes = run_workers(api.url, ledger, image, [same[:3], same[3:], other], caps=caps)
    mine = outcomes[0] + outcomes[1]
    made = [o for o in mine if "error" not in o]
    refused = [o for o in mine if "error" in o]
    assert len(made) == 2 and len(refused) == 3, mine
    assert all("$0.05 per visitor" in o["message"] and "($0.096 spent today" in o["message"] for o in refused)
    assert "error" not in outcomes[2][0]
    assert ledger.spent(visitor="visitor-a") == pytest.approx(2 * CHEAP_COST)
    assert api.submits == 3


def test_threads_near_the_cap_in_one_process_pass_one_at_a_time_and_the_message_is_the_ledger_sum(api, ledger,
                                                                                                   tmp_path):
    image = make_image(tmp_path / "in.png")
    caps = Caps(max_cost_per_day=0.05)
    barrier = threading.Barrier(4)
    errors: list[str] = []
    made: list[int] = []

    def one(i: int) -> None:
        client = local_client(api)
        guard = caps.guard(ledger, account=account_tag(KEY), session=f"s{i}")
        barrier.wait()
        try:
            made.append(generate(image, "slow zoom in", client=client, ledger=ledger, guard=guard,
                                 account=account_tag(KEY), session=f"s{i}", out_dir=tmp_path / "out",
                                 probe_output=False, seed=-1, **CHEAP).job_id)
        except CapExceeded as exc:
            errors.append(str(exc))
        finally:
            client.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(made) == 2 and len(errors) == 2  # $0 and $0.048 are below $0.05: two jobs, then refusals
    assert all("($0.096 spent today" in e for e in errors)
    assert api.submits == 2


def test_the_page_charges_a_visitor_across_sessions_against_the_visitor_cap(api, ledger, tmp_path):
    from browser_support import client_factory_for

    from playground.caps import visitor_id
    from playground.ui import API_LABEL, Playground

    pg = Playground(client_factory=client_factory_for(api), ledger=ledger, caps=Caps(max_cost_per_visitor=0.05),
                    owner_key=KEY)
    image = make_image(tmp_path / "in.png")
    payer = pg.payer(API_LABEL, "")
    visitor = visitor_id({"x-forwarded-for": "203.0.113.9"}, "10.0.0.1", proxies=1)
    outcomes = [pg.run(str(image), "slow zoom in", None, {**CHEAP, "seed": -1}, batch=1, payer=payer,
                       session=f"reloaded-{i}", visitor=visitor) for i in range(3)]
    assert [len(o.results) for o in outcomes] == [1, 1, 0]
    assert "per visitor" in str(outcomes[2].errors[0]) and "($0.096 spent today" in str(outcomes[2].errors[0])
    assert {j.visitor for j in ledger.jobs()} == {visitor}
    other = pg.run(str(image), "slow zoom in", None, {**CHEAP, "seed": -1}, batch=1, payer=payer,
                   session="elsewhere", visitor=visitor_id({}, "198.51.100.4", proxies=0))
    assert len(other.results) == 1
