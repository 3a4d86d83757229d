"""The one wait of a task at the API: one poll clock per task (:class:`~playground.client.PollClock`), the
webhook's delivery (heard in this process, or read from the ledger whichever replica received it), and a result GET
only when neither has told. Also the watch of a row another writer is finishing.

Everything here looks once and returns; the runner decides when the next look is due.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from dataclasses import dataclass

from ..client import Client, PollClock, PollSchedule, Prediction
from ..contract import typical_inference_seconds
from ..errors import NotFound, WaveSpeedError
from ..jobs import UNSENT_STALE_S, Job, Ledger
from ..status import LOST, PENDING
from .collect import DOWNLOAD_GRACE_S, downloading_elsewhere

log = logging.getLogger(__name__)

# A sent row this quiet may have lost its process (longer than a submit's timeouts): another may finish it.
TWIN_SILENT_S = 120.0
# Watching a row in the ledger (an identical request, or a video another writer fetches): the first look after this
# long, each next one half again later, at most a second apart. Local reads: nothing is asked of the API.
WATCH_FIRST_S, WATCH_GROWTH, WATCH_MAX_S = 0.1, 1.5, 1.0
# A run's own estimate needs this many completions, and is never narrower than this share of its median.
LEARN_MIN, LEARN_MIN_SPREAD = 2, 0.1

Setting = tuple[str, "str | None", "int | None"]


def setting_of(row: Job) -> Setting:
    """What a task's time depends on: model, resolution, duration."""
    return row.model, row.resolution, row.duration


def expected_seconds(client: Client, ledger: Ledger, row: Job) -> tuple[float | None, float | None]:
    """How long the row's task should take, and the spread: from the ledger's past runs, else the contract's typical
    time with no spread (no history)."""
    stats = ledger.inference_stats(row.model, row.resolution, row.duration, base_url=client.backend_id)
    if stats:
        return stats
    if row.resolution and row.duration:
        return typical_inference_seconds(row.resolution, row.duration), None
    return None, None


class Learned:
    """A run's own estimate of each setting's time, from its first completions (thread-safe)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._seconds: dict[Setting, list[float]] = {}

    def add(self, setting: Setting, seconds: float) -> None:
        with self._lock:
            self._seconds.setdefault(setting, []).append(seconds)

    def estimate(self, setting: Setting) -> tuple[float, float] | None:
        """Median and spread (median absolute deviation, at least a tenth of the median) once enough finished."""
        with self._lock:
            values = list(self._seconds.get(setting, ()))
        if len(values) < LEARN_MIN:
            return None
        median = statistics.median(values)
        mad = statistics.median(abs(v - median) for v in values)
        return median, max(mad, LEARN_MIN_SPREAD * median)


def new_clock(schedule: PollSchedule, client: Client, ledger: Ledger, row: Job, learned: Learned) -> PollClock:
    """The poll clock of ``row`` 's task, started now: from the ledger's history, else this run's, else the
    contract's typical time. It knows no status yet: a submit always answers "created", which says nothing of when
    the task starts processing, so only a look that sees it queued moves the clock's start."""
    expected, spread = expected_seconds(client, ledger, row)
    clock = PollClock(schedule, expected, spread, time.monotonic())
    run_estimate = None if clock.learned else learned.estimate(setting_of(row))
    if run_estimate is not None:
        clock.learn(*run_estimate)
    return clock


@dataclass(frozen=True)
class Look:
    """What one look at a task found: its state (None when only the ledger was asked and it knew nothing), whether
    a webhook delivery told it, and whether the status changed since the last look."""

    pred: Prediction | None = None
    by_webhook: bool = False
    changed: bool = False

    @property
    def ended(self) -> bool:
        return self.pred is not None and self.pred.done


def look(client: Client, ledger: Ledger, task_id: str, job_id: int, clock: PollClock, *, webhook: bool) -> Look:
    """One look at a task: a verified delivery the ledger holds (received by any replica) ends it with no GET; else,
    unless a webhook is due and its patience has not run out, one result GET. A new status that is not an end is
    recorded (an end is recorded once, by :func:`~playground.pipeline.steps.record_end`)."""
    delivered = ledger.delivery(task_id)
    now = time.monotonic()
    if delivered is not None:
        return Look(Prediction.from_api(delivered), by_webhook=True, changed=True)
    if webhook and clock.patience_left(now) > 0:
        clock.looked(now)
        return Look()
    try:
        pred = client.get(task_id)
    except NotFound as exc:
        ledger.move(job_id, LOST, error=f"the API no longer knows task {task_id}")
        raise NotFound(f"Task {task_id} is unknown to the API; the ledger marks its job lost.",
                       task_id=task_id) from exc
    except WaveSpeedError as exc:
        ledger.update(job_id, error=str(exc))
        raise
    changed = pred.status != clock.status
    if changed and not pred.done:
        ledger.move(job_id, pred.status)
    clock.saw(pred.status, time.monotonic())
    return Look(pred, changed=changed)


def watch_gap(looks: int) -> float:
    """The gap before the next look at a row another writer is finishing."""
    return min(WATCH_FIRST_S * WATCH_GROWTH ** looks, WATCH_MAX_S)


WATCHING, ENDED, ADOPT = "watching", "ended", "adopt"


@dataclass
class TwinWatch:
    """Watching an identical request in flight: its row, when it last changed, when the API said it ended."""

    row: int
    updated_at: float
    quiet_since: float
    api_done_at: float | None = None
    looks: int = 0

    @classmethod
    def of(cls, twin: Job) -> TwinWatch:
        return cls(twin.id, twin.updated_at, time.monotonic())


def watch_twin(client: Client, ledger: Ledger, watch: TwinWatch) -> str:
    """One look at an identical request's row: :data:`ENDED` (plan again: reuse its video, or pay anew if it has
    none), :data:`WATCHING`, or :data:`ADOPT` when its process seems gone (a row silent for ``TWIN_SILENT_S``
    whose task the API says ended a while ago, or whose reply was lost): then this run finishes it, by waiting,
    never by sending again."""
    now = time.monotonic()
    latest = ledger.get(watch.row)
    watch.looks += 1
    if latest.updated_at != watch.updated_at:
        watch.updated_at, watch.quiet_since = latest.updated_at, now
    if not latest.in_flight:
        return WATCHING if downloading_elsewhere(latest) else ENDED
    if latest.status == PENDING and latest.sent_at is None:
        # Its process stopped before sending once it is stale: the next reservation marks it lost.
        return ENDED if time.time() - latest.updated_at > UNSENT_STALE_S else WATCHING
    if now - watch.quiet_since < TWIN_SILENT_S:
        return WATCHING
    if latest.request_id:
        try:
            done = client.get(latest.request_id).done
        except WaveSpeedError as exc:
            log.info("could not ask about job %s's task: %s", latest.id, exc)
            done = False
        if not done:
            watch.quiet_since, watch.api_done_at = now, None
            return WATCHING
        watch.api_done_at = watch.api_done_at or now
        if now - watch.api_done_at < DOWNLOAD_GRACE_S:
            return WATCHING
    log.warning("job %s: its process seems gone; finishing it here (nothing is sent again)", latest.id)
    watch.quiet_since, watch.api_done_at = now, None
    return ADOPT


__all__ = ["Look", "look", "Learned", "new_clock", "expected_seconds", "setting_of", "watch_gap", "TwinWatch",
           "watch_twin", "WATCHING", "ENDED", "ADOPT", "TWIN_SILENT_S"]
