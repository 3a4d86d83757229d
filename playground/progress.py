"""Where a job is, in one vocabulary: its phases, the one event a run reports, and a rough progress fraction.

A job goes ``validating`` → ``uploading`` → ``submitting`` → ``queued`` → ``processing`` → ``downloading`` →
``probing`` → ``done`` (or ``reused``, served from the ledger), and ends ``done``, ``reused``, ``failed``,
``cancelled`` or ``error`` (:data:`END_PHASES`). The statuses the phases come from are in :mod:`playground.status`.

>>> ProgressEvent("processing", 20.0, estimate=40.0).fraction
0.5
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .status import CREATED

log = logging.getLogger(__name__)

PHASES = ("validating", "uploading", "submitting", "queued", "processing", "downloading", "probing", "done", "reused")
# The phases of a job's last event: it has a result (or an error) from here on.
END_PHASES = frozenset({"done", "reused", "failed", "cancelled", "error"})
# A rough share of the whole job at each fixed step around the wait (the wait itself is measured against its
# estimate).
PHASE_FRACTIONS = {"validating": 0.0, "uploading": 0.02, "submitting": 0.05, "downloading": 0.95, "probing": 0.98,
                   "done": 1.0, "reused": 1.0}


def phase_of(status: str | None) -> str:
    """The phase of a task the API reports in ``status``: queued while created, else processing."""
    return "queued" if status == CREATED else "processing"


def job_fraction(phase: str, elapsed: float, estimate: float | None) -> float | None:
    """A rough 0..1 figure for one job: fixed steps around the wait, the wait itself against its estimate; None
    while waiting without an estimate.

    >>> job_fraction("submitting", 1.0, None), job_fraction("processing", 20.0, 40.0)
    (0.05, 0.5)
    """
    if phase in PHASE_FRACTIONS:
        return PHASE_FRACTIONS[phase]
    if estimate:
        return 0.05 + 0.9 * min(elapsed / estimate, 0.97)
    return None


@dataclass(frozen=True)
class ProgressEvent:
    """Progress of one job: ``phase`` (see :data:`PHASES`, or an end of :data:`END_PHASES`), seconds ``elapsed``
    since the job started, the API's ``status`` and the ``estimate`` of its wait when known, its task
    (``request_id``) and ledger row (``job_id``) once it has them, and ``index``, its place in a run's input."""

    phase: str
    elapsed: float
    message: str = ""
    status: str | None = None
    estimate: float | None = None
    request_id: str | None = None
    job_id: int | None = None
    index: int = 0

    @property
    def fraction(self) -> float | None:
        """A rough 0..1 progress figure for a progress bar; None while waiting without an estimate."""
        return job_fraction(self.phase, self.elapsed, self.estimate)


# The runner's name for the same event (one event type).
RunEvent = ProgressEvent
ProgressHook = Callable[[ProgressEvent], None]


class Emitter:
    """Reports one job's events to a hook, one event at a time (a run's jobs share ``lock``); a hook that raises is
    logged, never allowed to lose a paid job."""

    def __init__(self, hook: ProgressHook | None, t0: float | None = None, *, index: int = 0,
                 lock: threading.Lock | None = None):
        self.hook, self.index = hook, index
        self.t0 = time.monotonic() if t0 is None else t0
        self._lock = lock or threading.Lock()

    def __call__(self, phase: str, message: str = "", *, status: str | None = None, estimate: float | None = None,
                 request_id: str | None = None, job_id: int | None = None) -> None:
        if self.hook is None:
            return
        event = ProgressEvent(phase, time.monotonic() - self.t0, message, status, estimate, request_id, job_id,
                              self.index)
        with self._lock:
            try:
                self.hook(event)
            except Exception:  # a broken progress display must not lose a paid job
                log.exception("progress hook failed")


__all__ = ["PHASES", "END_PHASES", "PHASE_FRACTIONS", "phase_of", "job_fraction", "ProgressEvent", "RunEvent",
           "ProgressHook", "Emitter"]
