"""Many requests under one bounded scheduler: UI batches and sweeps are runs.

>>> runner = Runner(client, ledger, concurrency=2, on_event=print)                       # doctest: +SKIP
>>> results = runner.run([(VideoRequest.build(seed=s), read_media("cat.png")) for s in (1, 2, 3)])  # doctest: +SKIP

Each job goes through the pipeline's steps (:func:`~playground.pipeline.plan`, :func:`~playground.pipeline.submit`,
:func:`~playground.pipeline.collect`), so the ledger, the caps and the one-payment rules are the same as for
:func:`~playground.pipeline.generate`. At most ``concurrency`` jobs are at the API at once (from their submit until the
API says they ended). One scheduler (the thread calling :meth:`Runner.run`) keeps a heap of the polls that are due
and hands them, and the uploads, submits and downloads, to a small pool of ``workers`` threads: no thread waits for a
task, so thousands of jobs need a handful of threads and keep no per-poll history.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .client import Client, PollSchedule, Prediction
from .contract import VideoRequest
from .errors import Cancelled, RateLimited, TaskFailed, WaveSpeedError
from .jobs import Ledger
from .pipeline import (
    Guard,
    Media,
    Planned,
    ProgressEvent,
    Result,
    _Emitter,
    collect,
    expected_seconds,
    plan,
    settle,
    submit,
)
from .status import CREATED, REJECTED
from .webhooks import INBOX

log = logging.getLogger(__name__)

# A 429 on a submit means the POST was refused and nothing was created, so only then is the submit sent again.
RATE_LIMIT_RETRIES = 8
RATE_LIMIT_MAX_DELAY = 30.0
# How often the scheduler looks at ``cancel`` while nothing else wakes it.
CANCEL_CHECK_S = 0.05
# The phases of a job's last event: it has a result (or an error) from here on.
END_PHASES = frozenset({"done", "reused", "failed", "cancelled", "error"})


@dataclass(frozen=True)
class RunEvent:
    """Progress of one job of a run: ``index`` is its place in the input, ``phase`` one of the pipeline's PHASES or
    an end ("failed", "cancelled", "error"); ``elapsed`` seconds since the job started."""

    index: int
    phase: str
    elapsed: float
    status: str | None = None
    request_id: str | None = None
    job_id: int | None = None
    message: str = ""
    estimate: float | None = None


EventHook = Callable[[RunEvent], None]


class _Job:
    """One job of a run while it is active: what the scheduler needs to poll it, nothing per poll."""

    __slots__ = ("index", "request", "media", "t0", "planned", "task_id", "started", "polls", "late", "last_poll",
                 "last_status", "expected", "spread", "attempt", "pause", "ended", "holds_slot", "on_delivery")

    def __init__(self, index: int, request: VideoRequest, media: Media):
        self.index, self.request, self.media = index, request, media
        self.t0 = time.monotonic()
        self.planned: Planned | None = None
        self.task_id = ""
        self.started = self.last_poll = self.t0
        self.polls = self.late = 0
        self.last_status: str | None = None
        self.expected: float | None = None
        self.spread: float | None = None
        self.attempt = 0                      # submits refused with 429 so far
        self.pause = 0.0                      # before the next submit, after a 429
        self.ended: Prediction | None = None  # the API's last word, once the task ended
        self.holds_slot = True                # counted against the concurrency until it ends at the API
        self.on_delivery: Callable[[dict], None] | None = None  # registered with the inbox while a webhook is due

    @property
    def job_id(self) -> int | None:
        return None if self.planned is None else self.planned.job_id


class Runner:
    """Runs many (request, media) jobs with at most ``concurrency`` at the API at once; see the module docstring.

    ``cancel`` (an Event) stops every wait at once: jobs already sent stay in the ledger for
    :func:`~playground.pipeline.resume` and come back as :class:`Cancelled` with their ``task_id`` and ``job_id``;
    jobs not yet sent are not sent. ``on_event`` sees :class:`RunEvent` s one at a time, from the pool's threads.
    ``guard``, ``session``, ``account``, ``visitor``, ``out_dir``, ``probe_output`` and ``webhook_url`` are
    :func:`generate` 's: with a webhook a job is not polled before its expected end plus the poll schedule's
    ``webhook_margin``, and a verified delivery (:data:`playground.webhooks.INBOX`) ends its wait at once.
    """

    def __init__(self, client: Client, ledger: Ledger, *, concurrency: int = 2, workers: int = 8,
                 on_event: EventHook | None = None, cancel: threading.Event | None = None,
                 out_dir: str | Path | None = None, probe_output: bool = True, guard: Guard | None = None,
                 session: str = "", account: str = "", visitor: str = "", poll: PollSchedule | None = None,
                 reuse: bool = True, webhook_url: str | None = None):
        if int(concurrency) < 1:
            raise ValueError(f"concurrency: {concurrency} must be at least 1")
        if int(workers) < 1:
            raise ValueError(f"workers: {workers} must be at least 1")
        self.client, self.ledger = client, ledger
        self.concurrency, self.workers = int(concurrency), int(workers)
        self.on_event = on_event
        self.cancel = cancel or threading.Event()
        self.out_dir = out_dir
        self.probe_output, self.guard, self.reuse = probe_output, guard, reuse
        self.session, self.account, self.visitor = session, account, visitor
        self.poll = poll or client.poll
        self.webhook_url = webhook_url
        self._event_lock = threading.Lock()
        self._done: queue.SimpleQueue | None = None
        self._expecting: list[_Job] = []  # jobs whose webhook delivery the inbox may still hand us

    # ---- the scheduler -------------------------------------------------------------------------------------------

    def run(self, jobs: Iterable[tuple[VideoRequest, Media]]) -> list[Result | WaveSpeedError]:
        """Run every job; return one Result or error per job, in input order. Never raises for a job's failure."""
        results: dict[int, Result | WaveSpeedError] = {}
        source = enumerate(jobs)
        exhausted = False
        at_api = 0                 # jobs admitted and not yet ended at the API: the concurrency's count
        in_pool = 0                # operations handed to the pool and not yet reported
        heap: list[tuple[float, int, _Job]] = []
        order = itertools.count()  # ties in the heap never compare jobs
        done: queue.SimpleQueue = queue.SimpleQueue()
        self._done = done
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="runner")

        def hand(job: _Job, operation: Callable[[_Job], Any]) -> None:
            nonlocal in_pool
            in_pool += 1
            pool.submit(self._report, done, job, operation)

        def release(job: _Job) -> None:
            nonlocal at_api
            if job.holds_slot:
                job.holds_slot = False
                at_api -= 1

        try:
            while True:
                while not exhausted and at_api < self.concurrency and not self.cancel.is_set():
                    item = next(source, None)
                    if item is None:
                        exhausted = True
                        break
                    index, (request, media) = item
                    at_api += 1
                    hand(_Job(index, request, media), self._start)
                now = time.monotonic()
                while heap and heap[0][0] <= now and not self.cancel.is_set():
                    _, _, job = heapq.heappop(heap)
                    if job.ended is None and job.index not in results:  # else a webhook ended it meanwhile
                        hand(job, self._poll if job.planned is not None else self._start)
                if self.cancel.is_set():
                    for _, _, job in heap:
                        if job.ended is None and job.index not in results:
                            release(job)
                            results[job.index] = self._cancelled(job)
                    heap.clear()
                    if not exhausted:
                        for index, _ in source:
                            results[index] = Cancelled("Not sent: the run was stopped before this job.")
                        exhausted = True
                if exhausted and in_pool == 0 and not heap:
                    break
                timeout = CANCEL_CHECK_S if not heap else min(CANCEL_CHECK_S, max(0.0, heap[0][0] - now))
                try:
                    job, outcome = done.get(timeout=timeout)
                except queue.Empty:
                    continue
                if isinstance(outcome, _Delivered):  # from the inbox, not the pool
                    if job.ended is not None or job.index in results:
                        continue
                    outcome = outcome.prediction
                    heap[:] = [entry for entry in heap if entry[2] is not job]  # its fallback poll is not needed
                    heapq.heapify(heap)
                else:
                    in_pool -= 1
                    if job.ended is not None and isinstance(outcome, Prediction):
                        continue  # a poll that crossed a webhook delivery: the job is already being finished
                follow_up = self._after(job, outcome, results)
                if job.index in results or job.ended is not None:
                    release(job)
                if follow_up == "poll" and self.cancel.is_set():
                    release(job)
                    results[job.index] = self._cancelled(job)
                elif follow_up is not None:
                    due = time.monotonic() + (self._next_delay(job) if follow_up == "poll" else job.pause)
                    heapq.heappush(heap, (due, next(order), job))
                elif job.index not in results:  # it ended at the API: download it
                    hand(job, self._finish)
        except BaseException:
            # Interrupted (a notebook's stop button): send nothing more, stop waiting; the ledger keeps every job.
            self.cancel.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            for job in self._expecting:
                if job.on_delivery is not None:
                    INBOX.forget(job.task_id, job.on_delivery)
            self._expecting = []
        pool.shutdown(wait=True)
        return [results[i] for i in sorted(results)]

    def _after(self, job: _Job, outcome: Any, results: dict[int, Result | WaveSpeedError]) -> str | None:
        """What an operation's outcome means: the job's result, a poll to schedule ("poll"), a resubmit to wait for
        ("retry"), or (None without a result) a download. A job that ended at the API gives up its slot."""
        if isinstance(outcome, Result):                 # collected, or reused at once (never at the API)
            results[job.index] = outcome
            return None
        if isinstance(outcome, RateLimited) and self._refused(job) and job.attempt < RATE_LIMIT_RETRIES \
                and not self.cancel.is_set():
            job.pause = _rate_limit_delay(job.attempt, outcome.retry_after)
            log.info("job %s: submit rate limited (nothing created); trying again in %.1fs", job.index, job.pause)
            job.planned, job.task_id, job.attempt = None, "", job.attempt + 1
            return "retry"
        if isinstance(outcome, BaseException):
            results[job.index] = self._failed(job, outcome)
            return None
        pred: Prediction = outcome
        if pred.done:
            job.ended = pred
            return None
        return "poll"

    # ---- operations, on the pool ---------------------------------------------------------------------------------

    def _report(self, done: queue.SimpleQueue, job: _Job, operation: Callable[[_Job], Any]) -> None:
        try:
            outcome = operation(job)
        except BaseException as exc:  # reported to the scheduler, which turns it into the job's result
            outcome = exc
        done.put((job, outcome))

    def _emitter(self, job: _Job) -> _Emitter:
        def forward(event: ProgressEvent) -> None:
            self._emit(job, event.phase, event.message, status=event.status, request_id=event.request_id,
                       job_id=event.job_id, estimate=event.estimate)

        return _Emitter(forward if self.on_event else None, job.t0)

    def _start(self, job: _Job) -> Result | Prediction:
        """Plan (reserve the row, or reuse an identical request) and submit: the job's one POST."""
        if self.cancel.is_set():
            raise Cancelled("Not sent: the run was stopped before this job was sent.")
        job.t0 = time.monotonic()
        planned = plan(job.request, job.media, client=self.client, ledger=self.ledger, reuse=self.reuse,
                       guard=self.guard, session=self.session, account=self.account, visitor=self.visitor,
                       out_dir=self.out_dir, emit=self._emitter(job), cancel=self.cancel,
                       probe_output=self.probe_output)
        if isinstance(planned, Result):
            return planned
        job.planned = planned
        planned.webhook_url = self.webhook_url
        pred = submit(planned, client=self.client, ledger=self.ledger)
        job.task_id = pred.id
        if self.webhook_url and not pred.done:
            job.on_delivery = self._delivery_hook(job)
            self._expecting.append(job)
            INBOX.expect(pred.id, job.on_delivery)
        job.expected, job.spread = expected_seconds(self.client, self.ledger, self.ledger.get(planned.job_id))
        job.started = job.last_poll = time.monotonic()
        job.last_status = pred.status
        self._emit(job, _phase_of(pred.status), f"task {pred.status}", status=pred.status, request_id=pred.id,
                   job_id=planned.job_id, estimate=job.expected)
        return pred

    def _delivery_hook(self, job: _Job) -> Callable[[dict], None]:
        done = self._done

        def delivered(data: dict) -> None:
            job.on_delivery = None
            self.ledger.update(job.job_id, completed_by="webhook")
            if done is not None:
                done.put((job, _Delivered(Prediction.from_api(data))))

        return delivered

    def _poll(self, job: _Job) -> Prediction:
        """One GET of the task's result; a changed status goes to the ledger and to ``on_event``."""
        try:
            pred = self.client.get(job.task_id)
        except WaveSpeedError as exc:
            self.ledger.update(job.job_id, error=str(exc))
            raise
        now = time.monotonic()
        job.polls += 1
        if pred.status != job.last_status:
            if not pred.done:
                self.ledger.move(job.job_id, pred.status)
            self._emit(job, _phase_of(pred.status), f"task {pred.status}", status=pred.status,
                       request_id=pred.id, job_id=job.job_id, estimate=job.expected)
        if pred.status == CREATED:
            job.started, job.late = now, 0  # still queued at the API: the expected finish moves with it
        elif job.last_status == CREATED:
            job.started, job.late = (now + job.last_poll) / 2, 0  # it started somewhere in the last gap
        job.last_poll, job.last_status = now, pred.status
        return pred

    def _finish(self, job: _Job) -> Result:
        """Record the end; download and probe a completed task's video (TaskFailed when it has none)."""
        assert job.planned is not None and job.ended is not None
        pred = settle(job.planned, job.ended, client=self.client, ledger=self.ledger)
        return collect(job.planned, pred, client=self.client, ledger=self.ledger, probe_output=self.probe_output)

    # ---- outcomes ------------------------------------------------------------------------------------------------

    def _next_delay(self, job: _Job) -> float:
        elapsed = time.monotonic() - job.started
        if job.on_delivery is not None and job.polls == 0:  # a webhook is due: no poll before its patience runs out
            patience = self.poll.webhook_patience(job.expected, job.spread)
            if elapsed < patience:
                return patience - elapsed
        delay = self.poll.next_delay(elapsed, job.expected, job.spread, job.late, job.polls)
        if elapsed >= self.poll.window(job.expected, job.spread)[1]:
            job.late += 1
        return delay

    def _refused(self, job: _Job) -> bool:
        """The 429 came from the submit, and the ledger says nothing was created."""
        return job.planned is not None and self.ledger.get(job.planned.job_id).status == REJECTED

    def _cancelled(self, job: _Job) -> Cancelled:
        if not job.task_id:
            return Cancelled("Not sent: the run was stopped before this job was sent again.", job_id=job.job_id)
        exc = Cancelled(f"Stopped waiting for task {job.task_id}; it may still finish at the API. Resume it from the "
                        "history to collect the video.", task_id=job.task_id or None, job_id=job.job_id)
        if job.job_id is not None:
            self.ledger.update(job.job_id, error=str(exc))
        self._emit(job, "cancelled", str(exc), status=job.last_status, request_id=job.task_id or None,
                   job_id=job.job_id)
        return exc

    def _failed(self, job: _Job, exc: BaseException) -> WaveSpeedError:
        if not isinstance(exc, WaveSpeedError):
            log.error("job %s: unexpected %s", job.index, type(exc).__name__, exc_info=exc)
            exc = WaveSpeedError(f"Unexpected {type(exc).__name__}: {exc}. The ledger keeps the job.",
                                 task_id=job.task_id or None)
        if getattr(exc, "job_id", None) is None:
            exc.job_id = job.job_id  # type: ignore[attr-defined]
        if not exc.task_id and job.task_id:
            exc.task_id = job.task_id
        phase = "failed" if isinstance(exc, TaskFailed) else "cancelled" if isinstance(exc, Cancelled) else "error"
        log.warning("job %s: %s", job.index, exc)
        self._emit(job, phase, str(exc), status=job.last_status, request_id=job.task_id or None, job_id=job.job_id)
        return exc

    def _emit(self, job: _Job, phase: str, message: str = "", *, status: str | None = None,
              request_id: str | None = None, job_id: int | None = None, estimate: float | None = None) -> None:
        if self.on_event is None:
            return
        event = RunEvent(job.index, phase, time.monotonic() - job.t0, status, request_id, job_id, message, estimate)
        with self._event_lock:
            try:
                self.on_event(event)
            except Exception:  # a broken progress display must not lose a paid job
                log.exception("run event hook failed")


@dataclass(frozen=True)
class _Delivered:
    """A verified webhook delivery for a job, put on the scheduler's queue by the inbox."""

    prediction: Prediction


def _phase_of(status: str | None) -> str:
    return "queued" if status == CREATED else "processing"


def _rate_limit_delay(attempt: int, retry_after: float | None) -> float:
    if retry_after is not None:
        return min(max(retry_after, 0.0), RATE_LIMIT_MAX_DELAY * 2)
    return min(RATE_LIMIT_MAX_DELAY, 0.5 * 2 ** attempt) * random.uniform(0.5, 1.0)


__all__ = ["Runner", "RunEvent", "END_PHASES", "RATE_LIMIT_RETRIES"]
