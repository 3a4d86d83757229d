"""Operator caps: how much visitors of a hosted playground may spend of the host's own key.

Set by environment (a Hugging Face Space's variables), all optional:

| variable | meaning |
|---|---|
| ``PLAYGROUND_MAX_COST_PER_REQUEST`` | USD; a single job costing more is refused |
| ``PLAYGROUND_MAX_COST_PER_SESSION`` | USD; one browser's budget (its identity token survives reloads) |
| ``PLAYGROUND_MAX_COST_PER_VISITOR`` | USD; one visitor's budget per UTC day, whatever sessions they open |
| ``PLAYGROUND_MAX_COST_PER_DAY`` | USD; the host key's budget per UTC day, all visitors together |
| ``PLAYGROUND_MAX_RESOLUTION`` | ``480p``, ``720p`` or ``1080p`` |
| ``PLAYGROUND_MAX_DURATION`` | seconds |
| ``PLAYGROUND_HIDE_NSFW`` | ``1``: outputs the API flags NSFW are not shown |
| ``PLAYGROUND_PUBLIC`` | ``1`` (automatic on a Space): the history shows each visitor only their own jobs |
| ``PLAYGROUND_TRUSTED_PROXIES`` | proxies in front of the app whose ``X-Forwarded-For`` is believed (default: 1 on a
  Space, else 0) |

How the budgets count: spending is read from the ledger (every job that may be charged, see
:meth:`playground.jobs.Ledger.spent`), and a job's pending row, written in the same write transaction as the check
(:meth:`playground.jobs.Ledger.reserve`), is its reservation: so processes sharing one ledger (one SQLite file, or
replicas sharing one PostgreSQL database) never pass the same last cent. A job is refused once the session's, the
visitor's or the day's spending has **reached** the cap; a job that starts below the cap may finish above it, by at
most its own cost (itself bounded by the per-request cap). So with a $0.10 daily cap the first $0.12 job runs and
the second is refused. A visitor is a client address (see :func:`visitor_id`): visitors behind one NAT share a
budget, and one with many addresses can spend more, up to the daily cap. Caps bind only the host's key: visitors who
bring their own key, and the free local preview, are not capped.

>>> caps = Caps(max_cost_per_day=0.10)
>>> caps.check(0.12, {"resolution": "480p", "duration": 5}, spent_today=0.12)
Traceback (most recent call last):
...
playground.errors.CapExceeded: This playground's daily budget of $0.10 for the host's key is used up ...
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from .contract import RESOLUTIONS
from .errors import CapExceeded, ValidationError
from .jobs import SpentReader
from .pricing import format_usd

_BRING_YOUR_OWN = "Enter your own WaveSpeed API key (Backend) to go beyond it, or use the free local preview."


def _env_float(env: Mapping[str, str], name: str) -> float | None:
    text = env.get(name, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValidationError(f"{name}: {text!r} is not a number of dollars") from None
    if value < 0:
        raise ValidationError(f"{name}: {text!r} must not be negative")
    return value


def _env_flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def start_of_utc_day(now: float | None = None) -> float:
    """The Unix time of the last UTC midnight: the daily cap's window starts there."""
    moment = datetime.fromtimestamp(time.time() if now is None else now, tz=timezone.utc)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


@dataclass
class Caps:
    """The operator's limits on the host key. ``None`` means no limit."""

    max_cost_per_request: float | None = None
    max_cost_per_session: float | None = None
    max_cost_per_visitor: float | None = None
    max_cost_per_day: float | None = None
    max_resolution: str | None = None
    max_duration: int | None = None
    hide_nsfw: bool = False
    public: bool = False

    def __post_init__(self) -> None:
        if self.max_resolution is not None and self.max_resolution not in RESOLUTIONS:
            raise ValidationError(f"PLAYGROUND_MAX_RESOLUTION: {self.max_resolution!r} is not one of "
                                  f"{', '.join(RESOLUTIONS)}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Caps:
        """Caps from ``PLAYGROUND_*`` variables (see the module docstring); a Space (``SPACE_ID``) is public."""
        env = os.environ if env is None else env
        duration = env.get("PLAYGROUND_MAX_DURATION", "").strip()
        if duration and not duration.isdigit():
            raise ValidationError(f"PLAYGROUND_MAX_DURATION: {duration!r} is not a whole number of seconds")
        return cls(
            max_cost_per_request=_env_float(env, "PLAYGROUND_MAX_COST_PER_REQUEST"),
            max_cost_per_session=_env_float(env, "PLAYGROUND_MAX_COST_PER_SESSION"),
            max_cost_per_visitor=_env_float(env, "PLAYGROUND_MAX_COST_PER_VISITOR"),
            max_cost_per_day=_env_float(env, "PLAYGROUND_MAX_COST_PER_DAY"),
            max_resolution=env.get("PLAYGROUND_MAX_RESOLUTION", "").strip() or None,
            max_duration=int(duration) if duration else None,
            hide_nsfw=_env_flag(env, "PLAYGROUND_HIDE_NSFW"),
            public=_env_flag(env, "PLAYGROUND_PUBLIC") or bool(env.get("SPACE_ID")),
        )

    @property
    def any(self) -> bool:
        """Whether any spending or size limit is set."""
        return any(v is not None for v in (self.max_cost_per_request, self.max_cost_per_session,
                                           self.max_cost_per_visitor, self.max_cost_per_day, self.max_resolution,
                                           self.max_duration))

    def describe(self) -> list[str]:
        """One line per limit, for the page."""
        lines = []
        if self.max_cost_per_request is not None:
            lines.append(f"at most {format_usd(self.max_cost_per_request)} per request")
        if self.max_cost_per_session is not None:
            lines.append(f"{format_usd(self.max_cost_per_session)} per browser (reloads do not reset it)")
        if self.max_cost_per_visitor is not None:
            lines.append(f"{format_usd(self.max_cost_per_visitor)} per visitor per day (UTC)")
        if self.max_cost_per_day is not None:
            lines.append(f"{format_usd(self.max_cost_per_day)} per day (UTC), all visitors together")
        if self.max_resolution is not None:
            lines.append(f"up to {self.max_resolution}")
        if self.max_duration is not None:
            lines.append(f"up to {self.max_duration} s")
        return lines

    def check(self, cost: float, params: Mapping[str, Any], *, spent_today: float = 0.0,
              spent_session: float = 0.0, spent_visitor: float = 0.0) -> None:
        """Raise CapExceeded, naming the cap and the spending so far, when a job of ``cost`` with ``params`` may not
        be sent. ``spent_*`` are what the ledger counts: the day's and the visitor's since midnight UTC."""
        resolution = params.get("resolution")
        if self.max_resolution is not None and resolution in RESOLUTIONS and \
                RESOLUTIONS.index(resolution) > RESOLUTIONS.index(self.max_resolution):
            raise CapExceeded(f"This playground allows up to {self.max_resolution} on the host's key; "
                              f"{resolution} was asked. {_BRING_YOUR_OWN}")
        duration = params.get("duration")
        if self.max_duration is not None and duration is not None and int(duration) > self.max_duration:
            raise CapExceeded(f"This playground allows clips up to {self.max_duration} s on the host's key; "
                              f"{int(duration)} s was asked. {_BRING_YOUR_OWN}")
        if self.max_cost_per_request is not None and cost > self.max_cost_per_request + 1e-9:
            raise CapExceeded(f"This request costs {format_usd(cost)}, over this playground's limit of "
                              f"{format_usd(self.max_cost_per_request)} per request on the host's key. "
                              f"Lower the resolution or duration. {_BRING_YOUR_OWN}")
        if self.max_cost_per_session is not None and spent_session >= self.max_cost_per_session - 1e-9:
            raise CapExceeded(f"This session has used its budget of {format_usd(self.max_cost_per_session)} on "
                              f"the host's key ({format_usd(spent_session)} spent). {_BRING_YOUR_OWN}")
        if self.max_cost_per_visitor is not None and spent_visitor >= self.max_cost_per_visitor - 1e-9:
            raise CapExceeded(f"You have used this playground's budget of {format_usd(self.max_cost_per_visitor)} "
                              f"per visitor on the host's key ({format_usd(spent_visitor)} spent today, UTC); it "
                              f"resets at midnight UTC. {_BRING_YOUR_OWN}")
        if self.max_cost_per_day is not None and spent_today >= self.max_cost_per_day - 1e-9:
            raise CapExceeded(f"This playground's daily budget of {format_usd(self.max_cost_per_day)} for the "
                              f"host's key is used up ({format_usd(spent_today)} spent today, UTC); it resets at "
                              f"midnight UTC. {_BRING_YOUR_OWN}")

    def guard(self, ledger, *, account: str, session: str, visitor: str = "",
              now: Callable[[], float] = time.time) -> CapGuard:
        """A guard for :func:`playground.pipeline.generate`: it checks the caps against the ledger's spending for
        ``account`` today, in ``session`` and by ``visitor`` today, inside the ledger transaction that writes the
        job's pending row (the row is the reservation: nothing is held in memory)."""
        return CapGuard(self, ledger, account, session, visitor, now)


class CapGuard:
    """Checks one visitor's jobs against the caps; see :meth:`Caps.guard`."""

    def __init__(self, caps: Caps, ledger, account: str, session: str, visitor: str, now: Callable[[], float]):
        self.caps, self.ledger, self.now = caps, ledger, now
        self.account, self.session, self.visitor = account, session, visitor

    def __call__(self, cost: float, params: Mapping[str, Any], spent: SpentReader | None = None) -> None:
        """Raise CapExceeded when a job of ``cost`` may not be sent. ``spent`` reads the ledger inside the
        reserving transaction (see :meth:`playground.jobs.Ledger.reserve`); without it this is a plain check."""
        self.caps.check(cost, params, **spending(spent or self.ledger.spent, account=self.account,
                                                 session=self.session, visitor=self.visitor, now=self.now()))

    def release(self) -> None:
        """Nothing to release: reservations are ledger rows. Kept for callers of the earlier in-memory guard."""


def spending(spent: SpentReader, *, account: str, session: str, visitor: str,
             now: float | None = None) -> dict[str, float]:
    """What the budgets count for a job of ``account`` 's, as :meth:`Caps.check` takes it: the day's and the
    visitor's spending since midnight UTC, the session's in all."""
    day = start_of_utc_day(now)
    return {"spent_today": spent(since=day, account=account),
            "spent_session": spent(account=account, session=session),
            "spent_visitor": spent(since=day, account=account, visitor=visitor)}


class PlannedCost(Protocol):
    """A job of a plan as the caps see it: its price and its fields."""

    cost: float
    params: Mapping[str, Any]


class PlanCosts(Protocol):
    """A plan as the caps see it (a sweep's :class:`~playground.sweep.SweepEstimate`): its jobs and what it pays."""

    @property
    def jobs(self) -> Sequence[PlannedCost]: ...

    @property
    def to_pay(self) -> float: ...


def check_plan(plan: PlanCosts, *, max_cost: float | None = None, caps: Caps | None = None, ledger=None,
               account: str = "", session: str = "", visitor: str = "") -> None:
    """Refuse a whole plan (CapExceeded), before anything is sent: what it pays over ``max_cost`` (the page's most
    per sweep); with the host's ``caps`` (and the ``ledger`` they count in), any job that breaks a cap, or a total
    over what is left of the session's, the visitor's or the day's budget. Per-job guards still hold during the run.
    """
    n = len(plan.jobs)
    if max_cost is not None and plan.to_pay > max_cost + 1e-9:
        raise CapExceeded(f"This sweep's {n} clips cost {format_usd(plan.to_pay)}, over the maximum of "
                          f"{format_usd(max_cost)} per sweep; nothing was sent. Ask for fewer seeds or models, or a "
                          "cheaper setting")
    if caps is None:
        return
    for job in plan.jobs:
        caps.check(job.cost, job.params)
    spent = spending(ledger.spent, account=account, session=session, visitor=visitor)
    budgets = ((caps.max_cost_per_session, spent["spent_session"], "this browser's budget"),
               (caps.max_cost_per_visitor, spent["spent_visitor"], "your budget for today"),
               (caps.max_cost_per_day, spent["spent_today"], "the host key's budget for today"))
    for limit, used, what in budgets:
        left = None if limit is None else max(0.0, limit - used)
        if left is not None and plan.to_pay > left + 1e-9:
            raise CapExceeded(f"This sweep costs {format_usd(plan.to_pay)}; {format_usd(left)} is left of {what} on "
                              "the host's key. Nothing was sent: use fewer seeds or models, or enter your own key.")


def check_max_cost(cost: float, max_cost: float | None, *, jobs: str, advice: str = "") -> None:
    """A notebook's ``max_cost``: refuse (CapExceeded) what would pay ``cost`` for ``jobs`` ("1 job", "8 new jobs")
    when it is over, before anything is sent."""
    if max_cost is not None and cost > max_cost + 1e-9:
        raise CapExceeded(f"max_cost {format_usd(max_cost)} is below the estimate {format_usd(cost)} for {jobs}; "
                          "nothing was submitted." + (f" {advice}" if advice else ""))


def trusted_proxies(env: Mapping[str, str] | None = None) -> int:
    """How many proxies in front of the app append to ``X-Forwarded-For``: ``PLAYGROUND_TRUSTED_PROXIES``, else 1
    on a Hugging Face Space (``SPACE_ID``), else 0 (the app faces its visitors directly)."""
    env = os.environ if env is None else env
    text = env.get("PLAYGROUND_TRUSTED_PROXIES", "").strip()
    if text:
        if not text.isdigit():
            raise ValidationError(f"PLAYGROUND_TRUSTED_PROXIES: {text!r} is not a whole number of proxies")
        return int(text)
    return 1 if env.get("SPACE_ID") else 0


def visitor_id(request_headers: Mapping[str, str] | None, client_host: str | None, *,
               proxies: int | None = None) -> str:
    """Who a visitor is for the per-visitor cap: a one-way tag of their client address, which reloading the page or
    opening a new session does not change (the address itself is not stored).

    Behind ``proxies`` trusted proxies (default :func:`trusted_proxies`), the address is the ``X-Forwarded-For``
    entry the outermost of them appended (counted from the right): entries left of it are whatever the client sent
    and could be forged to reset the budget. With no proxy, the TCP peer ``client_host``.

    >>> forged = visitor_id({"x-forwarded-for": "6.6.6.6, 203.0.113.7"}, "10.0.0.2", proxies=1)
    >>> forged == visitor_id({}, "203.0.113.7", proxies=0)
    True
    """
    proxies = trusted_proxies() if proxies is None else proxies
    address = (client_host or "").strip()
    if proxies > 0:
        headers = {str(k).lower(): str(v) for k, v in (request_headers or {}).items()}
        hops = [h.strip() for h in headers.get("x-forwarded-for", "").split(",") if h.strip()]
        if hops:
            address = hops[-proxies] if len(hops) >= proxies else hops[0]
    try:
        address = str(ipaddress.ip_address(address.strip("[]")))
    except ValueError:
        pass  # not an IP (a test client's name, or nothing): still a stable identity
    return "ip-" + hashlib.sha256(("seedance-playground-visitor:" + address).encode()).hexdigest()[:16]
