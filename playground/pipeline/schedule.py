"""One call of :meth:`~playground.pipeline.runner.Runner.run` (or ``resume``): a job's stages, and the one scheduler
that moves every job through them.

    plan ──> wait ──> end ──> done          plan: reserve (or reuse) and send, the one POST
      │        ^       └──> handoff ──┘     twin: an identical request is in flight: watch its row
      └──> twin ──> recover                 recover: a row whose task is not known yet (resume, or a twin adopted)
                                            handoff: another writer recorded the end: watch the row for its video

Each stage's step is a plain function of the job run on a small pool; it returns the stage to go to and, for the
watching stages, when. The scheduler (the thread calling ``run``) keeps a heap of what is due: each waiting task's
poll clock, a 429's pause before sending again, the watches of rows others are finishing. No step sleeps or polls,
so thousands of jobs need a handful of threads. :data:`MOVES` is the one place the allowed moves are checked.
"""

from __future__ import annotations

import heapq
import itertools
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ..client import PollClock, Prediction
from ..contract import VideoRequest
from ..progress import Emitter
from .inputs import Media
from .steps import Planned
from .waiting import TwinWatch

# How often the scheduler looks at ``cancel`` while nothing else wakes it.
CANCEL_CHECK_S = 0.05


class Stage(str, Enum):
    """Where a job of a run is (not the API's status: see playground.status)."""

    PLAN = "plan"
    TWIN = "twin"
    RECOVER = "recover"
    WAIT = "wait"
    END = "end"
    HANDOFF = "handoff"
    DONE = "done"


MOVES: dict[Stage, frozenset[Stage]] = {
    Stage.PLAN: frozenset({Stage.PLAN, Stage.TWIN, Stage.WAIT, Stage.END, Stage.DONE}),
    Stage.TWIN: frozenset({Stage.TWIN, Stage.PLAN, Stage.RECOVER, Stage.DONE}),
    Stage.RECOVER: frozenset({Stage.WAIT, Stage.END, Stage.HANDOFF, Stage.PLAN, Stage.DONE}),
    Stage.WAIT: frozenset({Stage.WAIT, Stage.END, Stage.PLAN, Stage.DONE}),
    Stage.END: frozenset({Stage.HANDOFF, Stage.PLAN, Stage.DONE}),
    Stage.HANDOFF: frozenset({Stage.HANDOFF, Stage.END, Stage.PLAN, Stage.DONE}),
    Stage.DONE: frozenset(),
}
# Stages whose step is due later (from the heap); the others run as soon as they are reached.
WATCHING = frozenset({Stage.TWIN, Stage.WAIT, Stage.HANDOFF})
# Stages in which a job no longer counts against the run's concurrency: its task has ended at the API.
ENDED = frozenset({Stage.END, Stage.HANDOFF, Stage.DONE})


class IllegalMove(RuntimeError):
    """A bug in the runner: a job was asked to move where its life cycle does not go."""


@dataclass(frozen=True)
class Next:
    """A step's answer: the stage to go to, after ``delay`` seconds for a watching stage, with the job's ``result``
    when it is done."""

    stage: Stage
    delay: float = 0.0
    result: Any = None


@dataclass(eq=False)
class RunJob:
    """One job of a run while it is active: what its steps need, nothing per poll."""

    index: int
    stage: Stage
    request: VideoRequest | None = None
    media: Media | None = None
    row: int | None = None               # the ledger row it drives: reserved, resumed, or an adopted twin's
    emit: Emitter = field(default_factory=lambda: Emitter(None))
    t0: float = field(default_factory=time.monotonic)
    deadline: float | None = None
    collect: bool = True                 # download the video (else the ended prediction is the result)
    planned: Planned | None = None
    task_id: str = ""
    clock: PollClock | None = None
    webhook: bool = False                # a delivery is due: no result GET before its patience runs out
    setting: tuple = ()
    ended: Prediction | None = None
    by_webhook: bool = False
    recorded: bool = False               # its end is in the ledger already: only the video is owed
    delivered: Prediction | None = None  # a delivery heard while a step was running
    told: str | None = None              # the task status last reported to on_event
    watch: TwinWatch | None = None
    watch_looks: int = 0
    adopted: bool = False                # finishing an identical request's row: plan again afterwards
    attempt: int = 0                     # submits refused with 429 so far
    due: float = 0.0
    token: int = 0                       # bumped at every scheduling: older heap entries are stale
    busy: bool = False
    holds_slot: bool = True
    on_delivery: Callable[[dict], None] | None = None

    def restart(self) -> None:
        """Forget the task it was driving (an identical request's, adopted), to plan this job anew."""
        self.row = self.planned = self.clock = self.ended = self.delivered = self.watch = self.told = None
        self.task_id, self.setting = "", ()
        self.webhook = self.by_webhook = self.recorded = self.adopted = False
        self.watch_looks = 0

    def move(self, to: Stage) -> None:
        if to not in MOVES[self.stage]:
            raise IllegalMove(f"job {self.index}: {self.stage.value} -> {to.value}")
        self.stage = to


class Scheduler:
    """The heap, the pool and the results of one run; see the module docstring. ``steps`` gives each stage's step,
    ``stop`` turns a job still waiting into its Cancelled or TaskTimeout, ``fail`` an exception into its next move,
    ``heartbeat`` reports a waiting job about once a second, and ``relearn`` lets a waiting job without history take
    its run's estimate (True when it did)."""

    def __init__(self, source: Iterator[RunJob], *, concurrency: int, workers: int, cancel: threading.Event,
                 steps: Callable[[Stage], Callable[[RunJob], Next]], stop: Callable[[RunJob, bool], Any],
                 fail: Callable[[RunJob, BaseException], Next], heartbeat: Callable[[RunJob], None] | None = None,
                 relearn: Callable[[RunJob], bool] | None = None):
        self.source, self.concurrency, self.cancel = source, concurrency, cancel
        self.steps, self.stop, self.fail = steps, stop, fail
        self.heartbeat, self.relearn = heartbeat, relearn
        self.results: dict[int, Any] = {}
        self.outcomes: queue.SimpleQueue = queue.SimpleQueue()
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="runner")
        self._heap: list[tuple[float, int, int, RunJob]] = []
        self._order = itertools.count()  # ties in the heap never compare jobs
        self._exhausted = False
        self._at_api = self._in_pool = 0
        self._next_beat = 0.0

    def run(self) -> list[Any]:
        """Drive every job to its result; the results in input order."""
        try:
            while not (self._exhausted and self._in_pool == 0 and not self._heap):
                self._admit()
                self._hand_due()
                if self.cancel.is_set():
                    self._stop_everything()
                self._beat()
                self._take_outcomes()
        except BaseException:
            # Interrupted (a notebook's stop button): send nothing more, stop waiting; the ledger keeps every job.
            self.cancel.set()
            self.pool.shutdown(wait=False, cancel_futures=True)
            raise
        self.pool.shutdown(wait=True)
        return [self.results[i] for i in sorted(self.results)]

    def deliver(self, job: RunJob, pred: Prediction) -> None:
        """A verified webhook delivery for ``job`` (from the inbox's thread): handled by the scheduler."""
        self.outcomes.put((job, None, pred))

    # ---- the loop --------------------------------------------------------------------------------------------

    def _admit(self) -> None:
        while not self._exhausted and self._at_api < self.concurrency and not self.cancel.is_set():
            job = next(self.source, None)
            if job is None:
                self._exhausted = True
                return
            self._at_api += 1
            self._hand(job)

    def _hand_due(self) -> None:
        now = time.monotonic()
        while self._heap and self._heap[0][0] <= now and not self.cancel.is_set():
            _, _, token, job = heapq.heappop(self._heap)
            if token != job.token or job.busy or job.stage is Stage.DONE:
                continue  # rescheduled, or moved by a delivery meanwhile
            if job.deadline is not None and now >= job.deadline and job.stage in WATCHING:
                self._finish(job, self.stop(job, False))
            else:
                self._hand(job)

    def _stop_everything(self) -> None:
        for _, _, token, job in self._heap:
            if token == job.token and not job.busy and job.stage is not Stage.DONE:
                self._finish(job, self.stop(job, True))
        self._heap.clear()
        if not self._exhausted:
            for job in self.source:
                self.results[job.index] = self.stop(job, True)
            self._exhausted = True

    def _beat(self) -> None:
        now = time.monotonic()
        if self.heartbeat is None or now < self._next_beat:
            return
        self._next_beat = now + 1.0
        for _, _, token, job in list(self._heap):
            if token == job.token and job.stage is Stage.WAIT:
                self.heartbeat(job)

    def _take_outcomes(self) -> None:
        timeout = CANCEL_CHECK_S if not self._heap else \
            min(CANCEL_CHECK_S, max(0.0, self._heap[0][0] - time.monotonic()))
        try:
            job, token, outcome = self.outcomes.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            if token is None:
                self._delivered(job, outcome)
            else:
                self._in_pool -= 1
                job.busy = False
                nxt = self.fail(job, outcome) if isinstance(outcome, BaseException) else outcome
                self._apply(job, nxt)
            try:
                job, token, outcome = self.outcomes.get_nowait()
            except queue.Empty:
                return

    # ---- moving a job ----------------------------------------------------------------------------------------

    def _hand(self, job: RunJob) -> None:
        job.busy = True
        self._in_pool += 1
        self.pool.submit(self._report, job, self.steps(job.stage))

    def _report(self, job: RunJob, step: Callable[[RunJob], Next]) -> None:
        try:
            outcome: Any = step(job)
        except BaseException as exc:  # reported to the scheduler, which turns it into the job's result
            outcome = exc
        self.outcomes.put((job, job.token, outcome))

    def _apply(self, job: RunJob, nxt: Next) -> None:
        if job.stage is Stage.END:
            self._relearn_peers(job)  # its time is learned: waiting peers without history may use it now
        if nxt.stage is Stage.WAIT and job.delivered is not None and job.ended is None:
            job.ended, job.by_webhook = job.delivered, True  # heard while the step ran
            nxt = Next(Stage.END)
        if nxt.stage is Stage.DONE and job.adopted:
            job.restart()  # the identical request's row is finished: now serve this job from it
            nxt = Next(Stage.PLAN)
        if nxt.stage is Stage.DONE:
            self._finish(job, nxt.result)
            return
        job.move(nxt.stage)
        if nxt.stage in ENDED:
            self._release(job)
        if nxt.stage in WATCHING or nxt.delay > 0:
            if self.cancel.is_set():
                self._finish(job, self.stop(job, True))
            else:
                self._schedule(job, time.monotonic() + nxt.delay)
        else:
            self._hand(job)

    def _delivered(self, job: RunJob, pred: Prediction) -> None:
        if job.stage not in (Stage.PLAN, Stage.RECOVER, Stage.WAIT) or job.ended is not None:
            return
        if job.busy or job.stage is not Stage.WAIT:
            job.delivered = pred  # taken when its step comes back
            return
        job.ended, job.by_webhook = pred, True
        job.token += 1  # its clock's next look is not needed
        job.move(Stage.END)
        self._release(job)
        self._hand(job)

    def _schedule(self, job: RunJob, due: float) -> None:
        if job.deadline is not None and job.stage in WATCHING:
            due = min(due, job.deadline)
        job.token += 1
        job.due = due
        heapq.heappush(self._heap, (due, next(self._order), job.token, job))

    def _relearn_peers(self, ended: RunJob) -> None:
        """A job of this run ended: waiting peers of the same setting that had no history learn from it now."""
        if self.relearn is None or not ended.setting:
            return
        now = time.monotonic()
        for _, _, token, job in list(self._heap):
            if token == job.token and job.stage is Stage.WAIT and job.setting == ended.setting and \
                    self.relearn(job):
                due = now + job.clock.next_delay(now) if job.clock is not None else now
                if due < job.due:
                    self._schedule(job, due)

    def _release(self, job: RunJob) -> None:
        if job.holds_slot:
            job.holds_slot = False
            self._at_api -= 1

    def _finish(self, job: RunJob, result: Any) -> None:
        self._release(job)
        job.move(Stage.DONE)
        job.token += 1
        self.results[job.index] = result


__all__ = ["Stage", "MOVES", "Next", "RunJob", "Scheduler", "IllegalMove", "CANCEL_CHECK_S"]
