"""The one driver of every job: ``generate()``, ``resume()``, the page's runs, sweeps, finals and webhooks that
arrive with nobody waiting all go through a :class:`Runner`.

>>> runner = Runner(client, ledger, concurrency=2, on_event=print)                       # doctest: +SKIP
>>> results = runner.run([(VideoRequest.build(seed=s), read_media("cat.png")) for s in (1, 2, 3)])  # doctest: +SKIP

Each job goes plan -> submit -> one wait -> collect through the steps of :mod:`.steps`, :mod:`.waiting`,
:mod:`.collect` and :mod:`.recover`, so the ledger, the caps and the one-payment rules are the same for every caller.
At most ``concurrency`` jobs are at the API at once (from their submit until the API says they ended). The stages
and the scheduler are in :mod:`.schedule`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ..client import Client, PollSchedule, Prediction
from ..contract import VideoRequest
from ..errors import Cancelled, RateLimited, TaskFailed, TaskTimeout, WaveSpeedError
from ..jobs import Job, Ledger
from ..progress import Emitter, ProgressHook, phase_of
from ..status import COMPLETED, IN_FLIGHT, REJECTED
from ..webhooks import Webhooks
from .collect import Result, collect_row, downloading_elsewhere, probe, result_of
from .inputs import Media
from .recover import find_task
from .schedule import Next, RunJob, Scheduler, Stage
from .steps import Guard, Planned, Twin, collect, ended_without_video, plan, record_end, submit
from .waiting import ADOPT, ENDED, Learned, TwinWatch, look, new_clock, setting_of, watch_gap, watch_twin

log = logging.getLogger("playground.runner")

# A 429 on a submit means the POST was refused and nothing was created, so only then is the submit sent again
# (after the client's RetryPolicy delay).
RATE_LIMIT_RETRIES = 8


class Runner:
    """Runs many jobs with at most ``concurrency`` at the API at once; see the module docstring.

    ``cancel`` (an Event) stops every wait at once: jobs already sent stay in the ledger for
    :func:`~playground.pipeline.resume` and come back as :class:`Cancelled` with their ``task_id`` and ``job_id``;
    jobs not yet sent are not sent. ``timeout`` (seconds per job) stops a wait with :class:`TaskTimeout` the same way.
    ``on_event`` sees :class:`~playground.progress.ProgressEvent` s one at a time; ``heartbeat`` (seconds) repeats a
    waiting job's event so a display's clock moves. ``guard``, ``session``, ``account``, ``visitor``, ``out_dir``,
    ``probe_output`` and ``reuse`` are :func:`~playground.pipeline.generate` 's. With ``webhook_url`` each submit
    asks the service to deliver its end there: no result GET before the expected end plus the poll schedule's
    ``webhook_margin``; a verified delivery ends the wait at once, heard through ``webhooks`` (the receiver's, in this
    process) or read from the ledger (received by any replica).
    """

    def __init__(self, client: Client, ledger: Ledger, *, concurrency: int = 2, workers: int = 8,
                 on_event: ProgressHook | None = None, cancel: threading.Event | None = None,
                 out_dir: str | Path | None = None, probe_output: bool = True, guard: Guard | None = None,
                 session: str = "", account: str = "", visitor: str = "", poll: PollSchedule | None = None,
                 reuse: bool = True, webhook_url: str | None = None, webhooks: Webhooks | None = None,
                 timeout: float | None = None, heartbeat: float | None = None):
        if int(concurrency) < 1:
            raise ValueError(f"concurrency: {concurrency} must be at least 1")
        if int(workers) < 1:
            raise ValueError(f"workers: {workers} must be at least 1")
        self.client, self.ledger = client, ledger
        self.concurrency, self.workers = int(concurrency), int(workers)
        self.on_event, self.heartbeat = on_event, heartbeat
        self.cancel = cancel or threading.Event()
        self.out_dir = Path(out_dir) if out_dir else ledger.home / "outputs"
        self.probe_output, self.guard, self.reuse = probe_output, guard, reuse
        self.session, self.account, self.visitor = session, account, visitor
        self.poll = poll or client.poll
        self.webhook_url = webhook_url
        self.webhooks = webhooks or Webhooks()
        self.timeout = timeout
        self._events = threading.Lock()
        self._learned = Learned()
        self._heard: list[RunJob] = []

    # ---- the ways in -----------------------------------------------------------------------------------------

    def run(self, jobs: Iterable[tuple[VideoRequest, Media]]) -> list[Result | WaveSpeedError]:
        """Run every (request, media) job; one Result or error per job, in input order. Never raises for a job's
        failure."""
        return self._drive(RunJob(i, Stage.PLAN, request=r, media=m) for i, (r, m) in enumerate(jobs))

    def resume(self, rows: Iterable[Job]) -> list[Result | WaveSpeedError]:
        """Collect ledger rows left unfinished (never sending anything again): find each one's task, wait for it,
        download its video. One Result or error per row, in order."""
        return self._drive(RunJob(i, Stage.RECOVER, row=row.id) for i, row in enumerate(rows))

    def wait(self, planned: Planned, pred: Prediction) -> Prediction:
        """Wait for one submitted task and record how it ended; its ended Prediction, or TaskFailed when it has no
        video (the step between :func:`~playground.pipeline.submit` and :func:`~playground.pipeline.collect`)."""
        job = RunJob(0, Stage.RECOVER, request=planned.request, media=planned.media, row=planned.job_id,
                     planned=planned, collect=False, ended=pred if pred.done else None)
        (outcome,) = self._drive(iter([job]))
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _drive(self, source: Iterator[RunJob]) -> list:
        scheduler = Scheduler(self._admitted(source), concurrency=self.concurrency, workers=self.workers,
                              cancel=self.cancel, steps=self._step, stop=self._stop, fail=self._fail,
                              heartbeat=self._beat if self.heartbeat else None, relearn=self._relearn)
        self._scheduler = scheduler
        try:
            return scheduler.run()
        finally:
            for job in self._heard:
                if job.on_delivery is not None:
                    self.webhooks.inbox.forget(job.task_id, job.on_delivery)
            self._heard = []

    def _admitted(self, source: Iterator[RunJob]) -> Iterator[RunJob]:
        """The jobs as the scheduler admits them: each one's clock for events and its deadline start then."""
        for job in source:
            job.t0 = time.monotonic()
            job.emit = job.planned.emit if job.planned is not None else \
                Emitter(self.on_event, job.t0, index=job.index, lock=self._events)
            job.deadline = None if self.timeout is None else job.t0 + self.timeout
            yield job

    # ---- the steps, on the pool ------------------------------------------------------------------------------

    def _step(self, stage: Stage) -> Callable[[RunJob], Next]:
        return {Stage.PLAN: self._plan, Stage.TWIN: self._twin, Stage.RECOVER: self._recover,
                Stage.WAIT: self._look, Stage.END: self._end, Stage.HANDOFF: self._handoff}[stage]

    def _plan(self, job: RunJob) -> Next:
        """Reserve the row (or reuse an identical request) and send the job's one POST."""
        if self.cancel.is_set():
            raise Cancelled("Not sent: the run was stopped before this job was sent.")
        planned = plan(job.request, job.media, client=self.client, ledger=self.ledger, reuse=self.reuse,
                       guard=self.guard, session=self.session, account=self.account, visitor=self.visitor,
                       out_dir=self.out_dir, emit=job.emit, probe_output=self.probe_output)
        if isinstance(planned, Result):
            return Next(Stage.DONE, result=planned)
        if isinstance(planned, Twin):
            job.watch = TwinWatch.of(planned.row)
            return Next(Stage.TWIN, delay=watch_gap(0))
        job.planned, job.row = planned, planned.job_id
        planned.webhook_url = self.webhook_url
        if self.webhook_url:  # before the POST: a fast task's delivery must find its secret known
            self.webhooks.secrets.learn(self.ledger.get(planned.job_id).account, self.client)
        try:
            pred = submit(planned, client=self.client, ledger=self.ledger)
        except RateLimited as exc:
            if self.ledger.get(planned.job_id).status != REJECTED or job.attempt >= RATE_LIMIT_RETRIES or \
                    self.cancel.is_set():
                raise
            pause = self.client.retry.delay(job.attempt, exc.retry_after)
            log.info("job %s: submit rate limited (nothing created); trying again in %.1fs", job.index, pause)
            job.planned, job.row, job.attempt = None, None, job.attempt + 1
            return Next(Stage.PLAN, delay=max(pause, 1e-3))
        return self._started(job, pred, webhook=bool(self.webhook_url))

    def _recover(self, job: RunJob) -> Next:
        """A row whose task is known, or to be found (never sent again): on to its wait, or its video."""
        if job.ended is not None:
            return Next(Stage.END)
        row = self.ledger.get(job.row)
        if row.status == COMPLETED:  # ended and recorded: only its video is owed
            job.ended, job.recorded, job.task_id = _prediction_of(row), True, row.request_id or ""
            return Next(Stage.HANDOFF, delay=watch_gap(0)) if downloading_elsewhere(row) else Next(Stage.END)
        task_id = find_task(self.client, self.ledger, row)
        pred = Prediction(id=task_id, model=row.model, status=self.ledger.get(row.id).status)
        webhook = bool(job.planned is not None and job.planned.webhook_url)
        return self._started(job, pred, webhook=webhook, look_now=job.planned is None)

    def _started(self, job: RunJob, pred: Prediction, *, webhook: bool, look_now: bool = False) -> Next:
        """A task is known: its clock starts, its webhook is listened for, and its wait begins (or its end)."""
        row = self.ledger.get(job.row)
        job.task_id, job.setting = pred.id, setting_of(row)
        job.clock = new_clock(self.poll, self.client, self.ledger, row, self._learned)
        if pred.done:
            job.ended = pred
            return Next(Stage.END)
        job.webhook = webhook
        if webhook:
            self._hear(job)
        if pred.status in IN_FLIGHT:  # a resumed row's "unknown" or "pending" is no news of its task
            self._tell(job, pred.status)
        return Next(Stage.WAIT, delay=0.0 if look_now else job.clock.next_delay(time.monotonic()))

    def _hear(self, job: RunJob) -> None:
        scheduler = self._scheduler

        def delivered(data: dict) -> None:
            pred = Prediction.from_api(data)
            if job.ended is None:
                self._tell(job, pred.status, by_webhook=True)  # known now: the end step follows on the pool
            scheduler.deliver(job, pred)

        job.on_delivery = delivered
        self._heard.append(job)
        self.webhooks.inbox.expect(job.task_id, delivered)

    def _look(self, job: RunJob) -> Next:
        """One look on the job's clock: a delivery (this process's, or any replica's in the ledger), else a GET."""
        assert job.clock is not None
        self._relearn(job)
        seen = look(self.client, self.ledger, job.task_id, job.row, job.clock, webhook=job.webhook)
        if seen.pred is not None and seen.changed:
            self._tell(job, seen.pred.status, by_webhook=seen.by_webhook)
        if seen.ended:
            job.ended, job.by_webhook = seen.pred, seen.by_webhook
            return Next(Stage.END)
        return Next(Stage.WAIT, delay=job.clock.next_delay(time.monotonic()))

    def _end(self, job: RunJob) -> Next:
        """Record the end once; the one writer that did collects the video, any other waits for it."""
        pred = job.ended
        assert pred is not None
        if not job.recorded:
            self._tell(job, pred.status, by_webhook=job.by_webhook)
        won = job.recorded or record_end(self.ledger, job.row, pred, by_webhook=job.by_webhook)
        self._learn(job, pred)
        if not pred.completed or not pred.outputs:
            raise ended_without_video(pred, job.planned, self.client, self.ledger)
        if not job.collect:
            return Next(Stage.DONE, result=pred)
        if not won:  # another thread, process or replica recorded it: it downloads, we wait for its video
            return Next(Stage.HANDOFF, delay=watch_gap(0))
        if job.planned is not None and not job.adopted:
            return Next(Stage.DONE, result=collect(job.planned, pred, client=self.client, ledger=self.ledger,
                                                   emit=job.emit, probe_output=self.probe_output))
        return Next(Stage.DONE, result=collect_row(self.ledger.get(job.row), pred, client=self.client,
                                                   ledger=self.ledger, out_dir=self.out_dir, emit=job.emit,
                                                   probe_output=self.probe_output))

    def _handoff(self, job: RunJob) -> Next:
        """Watch a completed row another writer is downloading: its video, or (it failed or went quiet) ours."""
        row = self.ledger.get(job.row)
        if row.has_video:
            video = Path(row.video_path or "")
            info = probe(video, job.emit) if self.probe_output else None
            job.emit("done", "done", status=COMPLETED, request_id=row.request_id, job_id=row.id)
            result = result_of(row, video, info, time.monotonic() - job.t0)
            result.request = job.request
            return Next(Stage.DONE, result=result)
        if downloading_elsewhere(row):
            job.watch_looks += 1
            return Next(Stage.HANDOFF, delay=watch_gap(job.watch_looks))
        if row.status != COMPLETED:
            raise TaskFailed(row.error or f"Job {row.id} ended {row.status} without a video.", task_id=row.request_id)
        job.ended, job.recorded = _prediction_of(row), True
        return Next(Stage.END)

    def _twin(self, job: RunJob) -> Next:
        """Watch an identical request in flight: plan again once it ended (to reuse its video), or finish it here
        when its process seems gone."""
        assert job.watch is not None
        verdict = watch_twin(self.client, self.ledger, job.watch)
        if verdict == ENDED:
            return Next(Stage.PLAN)
        if verdict == ADOPT:
            job.adopted, job.row = True, job.watch.row
            return Next(Stage.RECOVER)
        return Next(Stage.TWIN, delay=watch_gap(job.watch.looks))

    # ---- outcomes, on the scheduler ---------------------------------------------------------------------------

    def _tell(self, job: RunJob, status: str, *, by_webhook: bool = False) -> None:
        """Report a new status of the job's task once (a look and the end step may both have it)."""
        if status == job.told:
            return
        job.told = status
        job.emit(phase_of(status), f"task {status}" + (" (webhook)" if by_webhook else ""), status=status,
                 request_id=job.task_id or None, job_id=job.row,
                 estimate=job.clock.expected if job.clock is not None else None)

    def _learn(self, job: RunJob, pred: Prediction) -> None:
        if job.setting and pred.completed and not job.recorded:
            seconds = pred.inference_ms / 1000 if pred.inference_ms else \
                time.monotonic() - job.clock.started if job.clock is not None else None
            if seconds:
                self._learned.add(job.setting, seconds)

    def _relearn(self, job: RunJob) -> bool:
        """A waiting job without history takes its run's estimate once the run has one; True when it did."""
        if job.clock is None or job.clock.learned or not job.setting:
            return False
        estimate = self._learned.estimate(job.setting)
        if estimate is None:
            return False
        job.clock.learn(*estimate)
        return True

    def _beat(self, job: RunJob) -> None:
        status = job.told
        job.emit(phase_of(status), f"task {status}", status=status, request_id=job.task_id or None, job_id=job.row,
                 estimate=job.clock.expected if job.clock is not None else None)

    def _stop(self, job: RunJob, cancelled: bool) -> WaveSpeedError:
        """A job stopped by ``cancel`` (or its ``timeout``) before it ended: it stays in the ledger."""
        exc = _stopped(job, cancelled, self.timeout)
        if job.stage is Stage.WAIT and job.row is not None:
            self.ledger.update(job.row, error=str(exc))
        if job.row is not None or job.task_id:
            job.emit("cancelled" if cancelled else "error", str(exc), status=job.told,
                     request_id=job.task_id or None, job_id=job.row)
        return exc

    def _fail(self, job: RunJob, exc: BaseException) -> Next:
        if job.adopted and isinstance(exc, WaveSpeedError):
            log.warning("could not finish job %s here: %s", job.row, exc)
            job.restart()
            return Next(Stage.PLAN)
        if not isinstance(exc, WaveSpeedError):
            log.error("job %s: unexpected %s", job.index, type(exc).__name__, exc_info=exc)
            exc = WaveSpeedError(f"Unexpected {type(exc).__name__}: {exc}. The ledger keeps the job.",
                                 task_id=job.task_id or None)
        if getattr(exc, "job_id", None) is None:
            exc.job_id = job.row  # type: ignore[attr-defined]
        if not exc.task_id and job.task_id:
            exc.task_id = job.task_id
        phase = "failed" if isinstance(exc, TaskFailed) else "cancelled" if isinstance(exc, Cancelled) else "error"
        log.warning("job %s: %s", job.index, exc)
        job.emit(phase, str(exc), status=job.told, request_id=job.task_id or None,
                 job_id=job.row)
        return Next(Stage.DONE, result=exc)


def _stopped(job: RunJob, cancelled: bool, timeout: float | None) -> WaveSpeedError:
    """What a stopped job says, by where it stood; ``job_id`` is its ledger row when it has one."""
    if job.stage is Stage.WAIT:
        text = (f"Stopped waiting for task {job.task_id}; it may still finish at the API. Resume it from the history "
                "to collect the video.") if cancelled else \
            (f"Task {job.task_id} is not finished after {timeout or 0:.0f} s of waiting; it goes on at the API. "
             "Resume it later to collect the video.")
    elif job.stage is Stage.TWIN and job.watch is not None:
        text = (f"Stopped waiting for job {job.watch.row}, an identical request" if cancelled else
                f"Job {job.watch.row}, an identical request, is not finished yet") + "; it goes on in the ledger."
    elif job.stage is Stage.HANDOFF:
        text = f"Stopped waiting for job {job.row}'s video, which another process is fetching into the ledger."
    elif job.stage is Stage.RECOVER:
        text = "Not collected: the run was stopped before this job."
    else:
        text = f"Not sent: the run was stopped before this job{' was sent again' if job.attempt else ''}."
    exc = (Cancelled if cancelled else TaskTimeout)(text, task_id=job.task_id or None)
    exc.job_id = job.row if job.stage is not Stage.TWIN else None  # type: ignore[attr-defined]
    return exc


def _prediction_of(row: Job) -> Prediction:
    """A completed row's task as the ledger recorded it."""
    return Prediction(id=row.request_id or "", model=row.model, status=row.status, outputs=tuple(row.outputs),
                      has_nsfw_contents=tuple(bool(x) for x in row.nsfw), inference_ms=row.inference_ms)


__all__ = ["Runner", "RATE_LIMIT_RETRIES"]
