"""Operator caps: how much visitors of a hosted playground may spend of the host's own key.

Set by environment (a Hugging Face Space's variables), all optional:

| variable | meaning |
|---|---|
| ``PLAYGROUND_MAX_COST_PER_REQUEST`` | USD; a single job costing more is refused |
| ``PLAYGROUND_MAX_COST_PER_SESSION`` | USD; one browser session's budget |
| ``PLAYGROUND_MAX_COST_PER_DAY`` | USD; the host key's budget per UTC day, all visitors together |
| ``PLAYGROUND_MAX_RESOLUTION`` | ``480p``, ``720p`` or ``1080p`` |
| ``PLAYGROUND_MAX_DURATION`` | seconds |
| ``PLAYGROUND_HIDE_NSFW`` | ``1``: outputs the API flags NSFW are not shown |
| ``PLAYGROUND_PUBLIC`` | ``1`` (automatic on a Space): the history shows each visitor only their own jobs |

How the budgets count: spending is read from the ledger (every job that may be charged, see
:meth:`playground.jobs.Ledger.spent`) plus jobs this process has allowed but not yet written there. A job is refused
once the session's or the day's spending has **reached** the cap; a job that starts below the cap may finish above
it, by at most one job's cost (itself bounded by the per-request cap). So with a $0.10 daily cap the first $0.12 job
runs and the second is refused. Caps bind only the host's key: visitors who bring their own key, and the free local
preview, are not capped.

>>> caps = Caps(max_cost_per_day=0.10)
>>> caps.check(0.12, {"resolution": "480p", "duration": 5}, spent_today=0.12)
Traceback (most recent call last):
...
playground.errors.CapExceeded: This playground's daily budget of $0.10 for the host's key is used up ...
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .contract import RESOLUTIONS
from .errors import CapExceeded, ValidationError
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
    max_cost_per_day: float | None = None
    max_resolution: str | None = None
    max_duration: int | None = None
    hide_nsfw: bool = False
    public: bool = False
    # Jobs allowed but not yet in the ledger, token -> (account, session, cost): guards concurrent sessions.
    _reserved: dict[int, tuple[str, str, float]] = field(default_factory=dict, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _next: int = field(default=0, repr=False, compare=False)

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
                                           self.max_cost_per_day, self.max_resolution, self.max_duration))

    def describe(self) -> list[str]:
        """One line per limit, for the page."""
        lines = []
        if self.max_cost_per_request is not None:
            lines.append(f"at most {format_usd(self.max_cost_per_request)} per request")
        if self.max_cost_per_session is not None:
            lines.append(f"{format_usd(self.max_cost_per_session)} per session")
        if self.max_cost_per_day is not None:
            lines.append(f"{format_usd(self.max_cost_per_day)} per day (UTC), all visitors together")
        if self.max_resolution is not None:
            lines.append(f"up to {self.max_resolution}")
        if self.max_duration is not None:
            lines.append(f"up to {self.max_duration} s")
        return lines

    def check(self, cost: float, params: Mapping[str, Any], *, spent_today: float = 0.0,
              spent_session: float = 0.0) -> None:
        """Raise CapExceeded, naming the cap, when a job of ``cost`` with ``params`` may not be sent."""
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
        if self.max_cost_per_day is not None and spent_today >= self.max_cost_per_day - 1e-9:
            raise CapExceeded(f"This playground's daily budget of {format_usd(self.max_cost_per_day)} for the "
                              f"host's key is used up ({format_usd(spent_today)} spent today, UTC); it resets at "
                              f"midnight UTC. {_BRING_YOUR_OWN}")

    def guard(self, ledger, *, account: str, session: str,
              now: Callable[[], float] = time.time) -> CapGuard:
        """A ``guard(cost, params)`` for :func:`playground.pipeline.generate` that checks the caps against the
        ledger's spending for ``account`` today and ``session`` overall, and reserves what it allows until
        :meth:`CapGuard.release` (call it once generate has returned: by then the ledger holds the job)."""
        return CapGuard(self, ledger, account, session, now)

    def _pending(self, account: str, session: str | None = None) -> float:
        return sum(c for a, s, c in self._reserved.values() if a == account and (session is None or s == session))

    def _release(self, tokens: list[int]) -> None:
        with self._lock:
            for token in tokens:
                self._reserved.pop(token, None)


class CapGuard:
    """Checks one visitor's jobs against the caps; see :meth:`Caps.guard`."""

    def __init__(self, caps: Caps, ledger, account: str, session: str, now: Callable[[], float]):
        self.caps, self.ledger, self.account, self.session, self.now = caps, ledger, account, session, now
        self._tokens: list[int] = []

    def __call__(self, cost: float, params: dict) -> None:
        # One lock around read-and-reserve, so two sessions cannot both pass on the same last cent.
        with self.caps._lock:
            today = self.ledger.spent(since=start_of_utc_day(self.now()), account=self.account)
            in_session = self.ledger.spent(account=self.account, session=self.session)
            self.caps.check(cost, params,
                            spent_today=today + self.caps._pending(self.account),
                            spent_session=in_session + self.caps._pending(self.account, self.session))
            self.caps._next += 1
            self.caps._reserved[self.caps._next] = (self.account, self.session, cost)
            self._tokens.append(self.caps._next)

    def release(self) -> None:
        """Forget this guard's reservations (the ledger now counts those jobs, or they were never sent)."""
        self.caps._release(self._tokens)
        self._tokens = []
