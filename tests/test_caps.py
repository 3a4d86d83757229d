"""Operator caps: parsed from the environment, checked against the ledger before anything is sent."""

from __future__ import annotations

import threading

import pytest

from playground.caps import Caps, start_of_utc_day, trusted_proxies, visitor_id
from playground.errors import CapExceeded, ValidationError
from playground.jobs import Ledger
from playground.status import COMPLETED, FAILED, PENDING, REJECTED

pytestmark = pytest.mark.ledger_backends("sqlite", "postgres")

P480_5S_AUDIO = {"resolution": "480p", "duration": 5, "generate_audio": True}


def _charge(ledger: Ledger, cost: float, *, account: str = "acct", session: str = "s1", status: str = COMPLETED,
            created_at: float | None = None) -> int:
    job = ledger.record_pending(base_url="https://api", model="m", params=P480_5S_AUDIO, fingerprint="fp",
                                cost=cost, account=account, session=session)
    changes = {} if created_at is None else {"created_at": created_at}
    assert ledger.move(job, status, **changes)
    return job


def test_caps_come_from_the_environment():
    caps = Caps.from_env({"PLAYGROUND_MAX_COST_PER_REQUEST": "0.5", "PLAYGROUND_MAX_COST_PER_SESSION": "1",
                          "PLAYGROUND_MAX_COST_PER_DAY": "10", "PLAYGROUND_MAX_RESOLUTION": "720p",
                          "PLAYGROUND_MAX_DURATION": "8", "PLAYGROUND_HIDE_NSFW": "1"})
    assert (caps.max_cost_per_request, caps.max_cost_per_session, caps.max_cost_per_day) == (0.5, 1.0, 10.0)
    assert (caps.max_resolution, caps.max_duration, caps.hide_nsfw, caps.public) == ("720p", 8, True, False)
    assert caps.any


def test_no_variables_means_no_caps_and_a_space_is_public():
    assert not Caps.from_env({}).any
    assert Caps.from_env({"SPACE_ID": "someone/seedance"}).public


@pytest.mark.parametrize("env, field", [
    ({"PLAYGROUND_MAX_COST_PER_DAY": "ten"}, "PLAYGROUND_MAX_COST_PER_DAY"),
    ({"PLAYGROUND_MAX_COST_PER_REQUEST": "-1"}, "PLAYGROUND_MAX_COST_PER_REQUEST"),
    ({"PLAYGROUND_MAX_RESOLUTION": "4k"}, "PLAYGROUND_MAX_RESOLUTION"),
    ({"PLAYGROUND_MAX_DURATION": "5.5"}, "PLAYGROUND_MAX_DURATION"),
])
def test_a_bad_setting_is_refused_naming_the_variable(env, field):
    with pytest.raises(ValidationError, match=field):
        Caps.from_env(env)


def test_size_and_per_request_caps_name_the_limit():
    caps = Caps(max_cost_per_request=0.2, max_resolution="720p", max_duration=6)
    caps.check(0.12, P480_5S_AUDIO)
    with pytest.raises(CapExceeded, match="up to 720p"):
        caps.check(0.5, {"resolution": "1080p", "duration": 4})
    with pytest.raises(CapExceeded, match="up to 6 s"):
        caps.check(0.1, {"resolution": "480p", "duration": 8})
    with pytest.raises(CapExceeded, match=r"\$0.20 per request"):
        caps.check(0.26, {"resolution": "720p", "duration": 5})


def test_a_budget_refuses_once_spending_has_reached_it():
    caps = Caps(max_cost_per_day=0.10, max_cost_per_session=1.0)
    caps.check(0.12, P480_5S_AUDIO, spent_today=0.0)          # the first job may overshoot by its own cost
    caps.check(0.12, P480_5S_AUDIO, spent_today=0.09)
    with pytest.raises(CapExceeded, match=r"daily budget of \$0.10"):
        caps.check(0.12, P480_5S_AUDIO, spent_today=0.12)
    with pytest.raises(CapExceeded, match=r"session has used its budget of \$1.00"):
        caps.check(0.12, P480_5S_AUDIO, spent_session=1.0)


def test_the_guard_reads_today_and_this_session_from_the_ledger(ledger, ledger_factory):
    caps = Caps(max_cost_per_day=0.10, max_cost_per_session=0.20)
    guard = caps.guard(ledger, account="acct", session="s1")
    guard(0.12, P480_5S_AUDIO)
    guard.release()
    _charge(ledger, 0.12)
    with pytest.raises(CapExceeded, match="daily budget"):
        guard(0.12, P480_5S_AUDIO)
    # Yesterday's spending, failed jobs and other accounts do not count against today's budget.
    fresh = ledger_factory("other")
    _charge(fresh, 5.0, created_at=start_of_utc_day() - 60)
    _charge(fresh, 5.0, status=FAILED)
    _charge(fresh, 5.0, account="someone else")
    Caps(max_cost_per_day=0.10).guard(fresh, account="acct", session="s2")(0.12, P480_5S_AUDIO)


def test_the_session_budget_is_per_session(ledger):
    caps = Caps(max_cost_per_session=0.10)
    _charge(ledger, 0.12, session="s1")
    with pytest.raises(CapExceeded, match="session"):
        caps.guard(ledger, account="acct", session="s1")(0.05, P480_5S_AUDIO)
    caps.guard(ledger, account="acct", session="s2")(0.05, P480_5S_AUDIO)


def _reserve(ledger: Ledger, guard, cost: float = 0.12) -> int | None:
    return ledger.reserve(base_url="https://api", model="m", params=P480_5S_AUDIO, fingerprint="fp", cost=cost,
                          account=guard.account, session=guard.session, visitor=guard.visitor,
                          check=lambda spent: guard(cost, P480_5S_AUDIO, spent)).job_id


def test_a_reservation_is_its_pending_row_so_racing_sessions_pass_one_at_a_time(ledger):
    caps = Caps(max_cost_per_day=0.10)
    passed, refused = [], []
    barrier = threading.Barrier(6)

    def visitor(i: int) -> None:
        guard = caps.guard(ledger, account="acct", session=f"s{i}")
        barrier.wait()
        try:
            passed.append(_reserve(ledger, guard))
        except CapExceeded as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=visitor, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(passed) == 1 and len(refused) == 5
    assert [j.status for j in ledger.jobs()] == [PENDING]
    # The refusal states what the ledger holds: one $0.12 reservation, counted once.
    assert all("($0.12 spent today" in message for message in refused)
    # A reservation that was never sent stops counting once marked rejected.
    ledger.move(passed[0], REJECTED, error="not sent: uploading the inputs failed")
    assert _reserve(ledger, caps.guard(ledger, account="acct", session="x")) is not None


def test_the_visitor_budget_holds_across_new_sessions(ledger):
    caps = Caps(max_cost_per_visitor=0.10, max_cost_per_session=1.0, max_cost_per_day=1.0)
    assert _reserve(ledger, caps.guard(ledger, account="acct", session="s1", visitor="v1")) is not None
    for session in ("s2", "s3"):
        with pytest.raises(CapExceeded, match=r"budget of \$0.10 per visitor .*\(\$0.12 spent today"):
            _reserve(ledger, caps.guard(ledger, account="acct", session=session, visitor="v1"))
    assert _reserve(ledger, caps.guard(ledger, account="acct", session="s4", visitor="v2")) is not None
    assert Caps.from_env({"PLAYGROUND_MAX_COST_PER_VISITOR": "0.5"}).max_cost_per_visitor == 0.5


def test_a_visitor_is_the_address_the_trusted_proxy_saw():
    direct = visitor_id({}, "203.0.113.7", proxies=0)
    assert direct == visitor_id({"X-Forwarded-For": "6.6.6.6"}, "203.0.113.7", proxies=0)  # no proxy: header ignored
    behind = visitor_id({"X-Forwarded-For": "203.0.113.7"}, "10.0.0.2", proxies=1)
    forged = visitor_id({"X-Forwarded-For": "6.6.6.6, 203.0.113.7"}, "10.0.0.2", proxies=1)
    assert direct == behind == forged
    assert visitor_id({"X-Forwarded-For": "198.51.100.1"}, "10.0.0.2", proxies=1) != direct
    assert "203.0.113.7" not in direct
    assert trusted_proxies({"SPACE_ID": "someone/seedance"}) == 1 and trusted_proxies({}) == 0
    assert trusted_proxies({"PLAYGROUND_TRUSTED_PROXIES": "2"}) == 2


def test_a_whole_plan_is_refused_before_anything_is_sent_when_it_breaks_a_cap_or_a_budget(ledger):
    from playground.caps import check_plan
    from playground.sweep import plan_jobs

    plan = plan_jobs("slow zoom in", [1, 2, 3], resolution="480p", duration=5, generate_audio=True)
    each = plan.jobs[0].cost
    with pytest.raises(CapExceeded, match=r"3 clips cost .* over the maximum of \$0\.10 per sweep"):
        check_plan(plan, max_cost=0.10)
    with pytest.raises(CapExceeded, match="up to 480p|720p was asked"):
        check_plan(plan_jobs("x", [1], resolution="720p", duration=5), caps=Caps(max_resolution="480p"),
                   ledger=ledger, account="acct", session="s1")
    _charge(ledger, each, account="acct")  # what is left of the day's budget pays two of the three, not three
    day = Caps(max_cost_per_day=round(3 * each, 6))
    with pytest.raises(CapExceeded, match="left of the host key's budget for today"):
        check_plan(plan, caps=day, ledger=ledger, account="acct", session="s2", visitor="v")
    check_plan(plan, caps=day, ledger=ledger, account="other", session="s2", visitor="v")  # another key's spending
    check_plan(plan, max_cost=1.0)  # no caps: the local preview or a visitor's own key
