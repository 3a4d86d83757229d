"""When to ask for a task's result: the poll schedule, and the one clock that follows it for one task.

Every wait of this package follows one :class:`PollClock`: the runner's (``playground.pipeline.runner``), which
drives every job of the page, the sweeps and ``generate()``, and :meth:`playground.client.Client.wait`, kept for
library users who hold only a task id.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..status import CREATED


@dataclass
class PollSchedule:
    """When to ask for a task's result: sparse before the expected finish, dense around it, never below a floor.

    ``expected`` is the inference time in seconds and ``spread`` its uncertainty: from past runs of the same model,
    resolution and duration (median and median absolute deviation), else the contract's typical time with
    ``spread=None``. Polls are spaced so that:

    * before ``expected - 2 * spread`` they are sparse: one poll lands there. Without history (``spread`` None) the
      window is wide (a third of the typical time to five thirds of it) and the schedule probes at doubling gaps
      from ``probe`` seconds (1.5, 3, 6, ...) up to its start, which also catches tasks that fail or finish early;
    * inside the window they are dense: every ``spread / 4`` seconds with history; without it every ``relative``
      share of the time so far (the typical time is a guess, so the lag stays a small part of the wait); always at
      least ``floor`` and at most ``ceiling``;
    * after the window each gap is ``growth`` times the last, up to ``ceiling``, so a wrong estimate does not
      hammer the API; no gap is longer than ``max_gap`` or shorter than ``floor``.

    The clock starts when the task starts processing: while it is queued (``created``) the finish moves with it.
    With history, the lag between the task finishing and the client knowing is about ``floor / 2`` (the official SDK,
    polling every second, has about 0.5 s) with a handful of requests per job instead of one per second.
    """

    floor: float = 0.5
    growth: float = 1.25
    ceiling: float = 5.0
    max_gap: float = 30.0
    probe: float = 1.5
    relative: float = 1 / 16
    # With a webhook: no result GET until the window's end plus this margin; then polling takes over (a lost delivery
    # costs latency, never the job).
    webhook_margin: float = 15.0

    def webhook_patience(self, expected: float | None, spread: float | None) -> float:
        """Seconds after the start to wait for a webhook delivery before polling."""
        return self.window(expected, spread)[1] + self.webhook_margin if expected else 4 * self.webhook_margin

    def window(self, expected: float | None, spread: float | None) -> tuple[float, float]:
        """Seconds after the start between which polls are dense."""
        if not expected:
            return 0.0, 0.0
        spread = spread if spread is not None else expected / 3
        return max(0.0, expected - 2 * spread), expected + 2 * spread

    def next_delay(self, elapsed: float, expected: float | None, spread: float | None, late_polls: int,
                   polls: int) -> float:
        """The gap before the next poll, ``elapsed`` seconds after the task started, after ``polls`` polls of which
        ``late_polls`` came after the window."""
        early, late = self.window(expected, spread)
        if elapsed + self.floor < early:
            gap = early - elapsed
            if spread is None:
                gap = min(gap, self.probe * 2 ** polls)
            return min(self.max_gap, max(self.floor, gap))
        share = elapsed * self.relative if spread is None else (late - early) / 16
        dense = min(self.ceiling, max(self.floor, share))
        if elapsed < late:
            return dense
        return min(self.ceiling, self.max_gap, dense * self.growth ** late_polls)


class PollClock:
    """One task's poll clock: when it started processing, how often it was asked, and when to ask next.

    >>> clock = PollClock(PollSchedule(), expected=20.0, spread=None, now=0.0)
    >>> clock.next_delay(0.0)   # no history: a first probe after 1.5 s
    1.5
    """

    def __init__(self, schedule: PollSchedule, expected: float | None, spread: float | None, now: float,
                 status: str | None = None):
        self.schedule = schedule
        self.expected, self.spread = expected, spread
        self.started = self.last = now
        self.polls = self.late = 0
        self.status = status  # the task's last known status

    @property
    def learned(self) -> bool:
        """Whether the estimate comes from past runs (else it is the contract's typical time, or nothing)."""
        return self.spread is not None

    def learn(self, expected: float, spread: float) -> None:
        """Take an estimate from past runs (the first completions of a run, or the ledger)."""
        self.expected, self.spread, self.late = expected, spread, 0

    def next_delay(self, now: float) -> float:
        """Seconds from ``now`` to the next look."""
        elapsed = now - self.started
        delay = self.schedule.next_delay(elapsed, self.expected, self.spread, self.late, self.polls)
        if elapsed >= self.schedule.window(self.expected, self.spread)[1]:
            self.late += 1
        return delay

    def patience_left(self, now: float) -> float:
        """With a webhook due: seconds before its patience runs out and polling takes over."""
        return self.schedule.webhook_patience(self.expected, self.spread) - (now - self.started)

    def saw(self, status: str, now: float) -> None:
        """Record one look's answer: a task still queued moves its expected finish with it."""
        self.polls += 1
        if status == CREATED:
            self.started, self.late = now, 0
        elif self.status == CREATED:
            self.started, self.late = (now + self.last) / 2, 0  # it started somewhere in the last gap
        self.last, self.status = now, status

    def looked(self, now: float) -> None:
        """Record a look that asked only for a delivery (no GET): it counts toward the probes' spacing."""
        self.polls += 1
        self.last = now


__all__ = ["PollSchedule", "PollClock"]
