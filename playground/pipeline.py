"""One call from "image + parameters" to "video on disk": validate, upload, ledger, submit, wait, download, probe.

>>> from playground import generate
>>> result = generate("cat.png", prompt="slow zoom in", resolution="480p", duration=4)   # doctest: +SKIP
>>> result.video_path, result.seed, result.cost                                          # doctest: +SKIP

Every request is in the ledger before its POST is sent and after every change, so :func:`resume` can collect what a
crash, a kill or a cancelled wait left behind, and nothing paid for is lost or paid twice.

:func:`generate` builds a :class:`~playground.contract.VideoRequest` and runs the steps every caller shares:
:func:`plan` (price, reserve the ledger row under the caps, or reuse an identical request), :func:`submit` (uploads
and the one POST), :func:`wait` (polling) and :func:`collect` (checked download and probe).
:class:`playground.runner.Runner` runs the same steps for many requests at once.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .client import Client, Prediction, Reconciled, check_video, task_failed
from .contract import SPICY, VideoRequest, typical_inference_seconds
from .errors import (
    AuthError,
    Cancelled,
    InsufficientCredits,
    NotFound,
    OutputExpired,
    OutputInvalid,
    RateLimited,
    SubmitOutcomeUnknown,
    TaskFailed,
    TaskTimeout,
    ValidationError,
    WaveSpeedError,
)
from .images import PreparedImage, check_image_url, is_local_api, is_url, prepare_image
from .jobs import UNSENT_STALE_S, Job, Ledger, SpentReader
from .pricing import quote
from .status import COMPLETED, CREATED, FAILED, LOST, PENDING, REJECTED, UNKNOWN
from .webhooks import INBOX, SECRETS

log = logging.getLogger(__name__)

PHASES = ("validating", "uploading", "submitting", "queued", "processing", "downloading", "probing", "done", "reused")


@dataclass(frozen=True)
class ProgressEvent:
    """Where a generate call is: ``phase`` (see PHASES), the API status, seconds elapsed and expected."""

    phase: str
    elapsed: float
    message: str = ""
    status: str | None = None
    estimate: float | None = None
    request_id: str | None = None
    job_id: int | None = None

    @property
    def fraction(self) -> float | None:
        """A rough 0..1 progress figure for a progress bar; None before the task is submitted."""
        steps = {"validating": 0.0, "uploading": 0.02, "submitting": 0.05, "downloading": 0.95, "probing": 0.98,
                 "done": 1.0, "reused": 1.0}
        if self.phase in steps:
            return steps[self.phase]
        if self.estimate:
            return 0.05 + 0.9 * min(self.elapsed / self.estimate, 0.97)
        return None


ProgressHook = Callable[[ProgressEvent], None]
# guard(cost, params, spent): raise to refuse; ``spent(since=, account=, session=, visitor=)`` reads the ledger.
Guard = Callable[[float, dict, SpentReader], None]
# How an identical request in flight is waited for (see _await_twin).
TWIN_POLL_MAX_S = 1.0
TWIN_SILENT_S = 120.0      # longer than a submit's timeouts: a sent row this quiet may have lost its process
TWIN_DOWNLOAD_GRACE_S = 60.0  # a completed twin's own process is given this long to download before we do


@dataclass
class Result:
    """A finished generation: the video on disk and everything needed to reproduce or account for it."""

    job_id: int
    request_id: str
    model: str
    params: dict
    seed: int
    cost: float
    video_path: Path
    output_url: str
    nsfw: bool
    inference_ms: int | None
    wall_s: float
    reused: bool = False
    info: Any = field(default=None, repr=False)
    request: VideoRequest | None = field(default=None, repr=False)
    completed_by: str = ""  # "webhook" when a verified delivery, not a poll, told us the task ended

    def __str__(self) -> str:
        return f"{self.video_path} (task {self.request_id}, seed {self.seed}, ${self.cost:.3f})"


def default_client() -> Client:
    """See :func:`playground.backend.default_client`: the API when a key is set, else the embedded local API."""
    from .backend import default_client as backend_default

    return backend_default()


@dataclass
class Planned:
    """A request whose ledger row is reserved (its cost counted by the caps), ready to upload and send."""

    request: VideoRequest
    media: Media
    job_id: int
    cost: float
    out_dir: Path
    emit: _Emitter
    t0: float
    body: dict = field(default_factory=dict)  # the POSTed fields with the images' URLs, once submitted
    sent_at: float | None = None
    webhook_url: str | None = None  # where the service delivers the end (see playground.webhooks)


def generate(image: Any, prompt: str | None = None, *, last_image: Any = None, model: str = SPICY,
             client: Client | None = None, ledger: Ledger | None = None, on_progress: ProgressHook | None = None,
             reuse: bool = True, cancel: threading.Event | None = None, timeout: float | None = None,
             out_dir: str | Path | None = None, session: str = "", account: str = "",
             guard: Guard | None = None, probe_output: bool = True, visitor: str = "", webhook_url: str | None = None,
             **params: Any) -> Result:
    """Turn an image (path, bytes, PIL image or URL) into a video on disk.

    ``params`` are the model's fields (duration, resolution, aspect_ratio, camera_fixed, generate_audio, seed).
    A seed of -1 or None is replaced by a concrete random seed that is sent, so every result can be reproduced.
    With ``reuse`` and an explicit seed, an identical request is paid for once, across threads and processes sharing
    the ledger: a completed one is returned at once, one in flight is waited for (and claimed over if it ends without
    a video). ``guard(cost, params, spent)`` may raise (e.g. a spending cap): it runs inside the ledger transaction
    that reserves the job's row, ``spent`` summing the ledger there (see :meth:`Ledger.reserve`). ``visitor`` is
    recorded on the row for per-visitor caps. ``cancel`` stops the wait at once; the job stays in the ledger for
    :func:`resume`. The request is checked (:meth:`VideoRequest.build`) before anything else happens.
    ``webhook_url``: the submit carries ``?webhook=`` so the service POSTs the end there; a receiver in this process
    (:mod:`playground.receiver`) wakes this wait at once, with no result GET; without a delivery by the expected
    finish plus ``client.poll.webhook_margin``, polling takes over.
    """
    t0 = time.monotonic()
    emit = _Emitter(on_progress, t0)
    emit("validating", "checking the inputs")
    request = _build_request(image, model, last_image is not None, prompt=prompt, **params)
    return generate_request(request, image, last_image, client=client, ledger=ledger, reuse=reuse, cancel=cancel,
                            timeout=timeout, out_dir=out_dir, session=session, account=account, guard=guard,
                            probe_output=probe_output, visitor=visitor, emit=emit, webhook_url=webhook_url)


def generate_request(request: VideoRequest, image: Any, last_image: Any = None, *, client: Client | None = None,
                     ledger: Ledger | None = None, on_progress: ProgressHook | None = None, reuse: bool = True,
                     cancel: threading.Event | None = None, timeout: float | None = None,
                     out_dir: str | Path | None = None, session: str = "", account: str = "",
                     guard: Guard | None = None, probe_output: bool = True, visitor: str = "",
                     emit: _Emitter | None = None, webhook_url: str | None = None) -> Result:
    """:func:`generate` for a request already built: plan, submit, wait, collect."""
    emit = emit or _Emitter(on_progress, time.monotonic())
    client = client or default_client()
    ledger = ledger or Ledger()
    media = read_media(image, last_image, client=client, ledger=ledger)
    planned = plan(request, media, client=client, ledger=ledger, reuse=reuse, guard=guard, session=session,
                   account=account, visitor=visitor, out_dir=out_dir, emit=emit, cancel=cancel, timeout=timeout,
                   probe_output=probe_output)
    if isinstance(planned, Result):
        return planned
    planned.webhook_url = webhook_url
    pred = submit(planned, client=client, ledger=ledger)
    pred = wait(planned, pred, client=client, ledger=ledger, cancel=cancel, timeout=timeout)
    return collect(planned, pred, client=client, ledger=ledger, probe_output=probe_output)


def _build_request(image: Any, model: str, has_last_image: bool, **fields: Any) -> VideoRequest:
    """The request, with "image: is required" first among the problems when the picture is missing."""
    try:
        request = VideoRequest.build(model, has_last_image=has_last_image, **fields)
    except ValidationError as exc:
        if image is None:
            raise ValidationError(["image: is required", *exc.problems]) from None
        raise
    if image is None:
        raise ValidationError("image: is required")
    return request


def plan(request: VideoRequest, media: Media, *, client: Client, ledger: Ledger, reuse: bool = True,
         guard: Guard | None = None, session: str = "", account: str = "", visitor: str = "",
         out_dir: str | Path | None = None, emit: _Emitter | None = None, on_progress: ProgressHook | None = None,
         cancel: threading.Event | None = None, timeout: float | None = None,
         probe_output: bool = True) -> Planned | Result:
    """Price the request and reserve its ledger row (the caps' ``guard`` runs in the same transaction).

    With ``reuse`` and an explicit seed, an identical request already paid for is returned as its :class:`Result`
    instead (waited for when it is still in flight), and nothing is reserved."""
    emit = emit or _Emitter(on_progress, time.monotonic())
    out_dir = Path(out_dir) if out_dir else ledger.home / "outputs"
    full = request.params()
    cost = quote(request.model, full).usd
    check = None if guard is None else (lambda spent: guard(cost, full, spent))
    claim = _reserve_or_reuse(client, ledger, model=request.model, full=full,
                              fp=request.fingerprint(client.backend_id, media.hashes), cost=cost, media=media,
                              account=account, session=session, visitor=visitor,
                              once=reuse and request.explicit_seed, check=check, out_dir=out_dir, emit=emit,
                              t0=emit.t0, probe_output=probe_output, cancel=cancel, timeout=timeout)
    if isinstance(claim, Result):
        claim.request = request
        return claim
    return Planned(request, media, claim, cost, out_dir, emit, emit.t0)


def submit(planned: Planned, *, client: Client, ledger: Ledger, emit: _Emitter | None = None) -> Prediction:
    """Upload the images (or reuse fresh uploads), then send the ONE submit POST, recorded before and after.

    A refusal (nothing created) marks the row rejected; a lost reply is reconciled through the history at once and
    otherwise left ``unknown`` for :func:`resume`. Nothing is ever sent twice."""
    emit = emit or planned.emit
    job_id, prepared = planned.job_id, {prep.field: prep for prep in planned.media.uploads}
    images: dict[str, str] = {}
    try:
        for name, source in planned.media.sources.items():
            if name in prepared:
                emit("uploading", f"uploading {name}")
                images[name] = ensure_uploaded(client, ledger, prepared[name])
            else:
                images[name] = source
    except BaseException as exc:
        # The reservation must stop counting: nothing was sent.
        ledger.move(job_id, REJECTED, error=f"not sent: uploading the inputs failed: {exc}"[:500],
                    error_code=getattr(exc, "code", None))
        raise
    body = planned.request.body(images)
    planned.body, planned.sent_at = body, time.time()
    if not ledger.mark_sending(job_id, body, planned.sent_at):
        raise WaveSpeedError(f"Job {job_id} was not sent: its reservation was given up as stale while the inputs "
                             "uploaded (nothing was charged). Run it again.")
    emit("submitting", "sending the request", job_id=job_id)
    model = planned.request.model
    if planned.webhook_url:  # before the POST: a fast task's delivery must find its secret known
        SECRETS.learn(ledger.get(job_id).account, client)
    try:
        pred = client.submit(model, body, webhook=planned.webhook_url, validate_first=False)
    except SubmitOutcomeUnknown as exc:
        ledger.move(job_id, UNKNOWN, error=str(exc))
        pred = _reconcile_now(client, ledger, job_id, model, body, planned.sent_at)
        if pred is None:
            raise
    except (ValidationError, AuthError, InsufficientCredits, RateLimited, NotFound) as exc:
        # The API answered and refused: no task exists, nothing is charged.
        ledger.move(job_id, REJECTED, error=str(exc), error_code=exc.code)
        raise
    except WaveSpeedError as exc:
        ledger.move(job_id, UNKNOWN, error=str(exc))
        raise
    ledger.move(job_id, pred.status, request_id=pred.id)
    return pred


def wait(planned: Planned, pred: Prediction, *, client: Client, ledger: Ledger, emit: _Emitter | None = None,
         cancel: threading.Event | None = None, timeout: float | None = None) -> Prediction:
    """Poll until the task ends (:meth:`Client.wait`); raise TaskFailed when it ends without a video. ``cancel`` and
    ``timeout`` stop the wait only: the job stays in the ledger for :func:`resume`."""
    pred = _wait(client, ledger, planned.job_id, pred, emit or planned.emit, cancel=cancel, timeout=timeout,
                 raise_on_failure=False, record=False, webhook=bool(planned.webhook_url))
    return settle(planned, pred, client=client, ledger=ledger)


def settle(planned: Planned, pred: Prediction, *, client: Client, ledger: Ledger) -> Prediction:
    """Record how an ended task ended; raise TaskFailed when it has no video. A task that could not fetch our upload
    (1402) makes the next try upload afresh."""
    pred = _record_end(ledger, planned.job_id, pred)
    if pred.status == COMPLETED:
        return pred
    if pred.code == 1402:
        for prep in planned.media.uploads:
            ledger.forget_upload(prep.sha256, client.base_url)
    raise task_failed(pred)


def collect(planned: Planned, pred: Prediction, *, client: Client, ledger: Ledger, emit: _Emitter | None = None,
            probe_output: bool = True) -> Result:
    """Download the completed task's video (checked before it counts), probe it, and return the Result."""
    emit = emit or planned.emit
    request = planned.request
    video = _download(client, ledger, planned.job_id, pred, planned.out_dir, request.seed, emit)
    info = _probe(video, emit) if probe_output else None
    emit("done", "done", status=COMPLETED, request_id=pred.id, job_id=planned.job_id)
    return Result(planned.job_id, pred.id, request.model, dict(planned.body or request.fields), request.seed,
                  planned.cost, video, pred.outputs[0], pred.nsfw, pred.inference_ms,
                  time.monotonic() - planned.t0, False, info, request,
                  completed_by=ledger.get(planned.job_id).completed_by)


def expected_seconds(client: Client, ledger: Ledger, job: Job) -> tuple[float | None, float | None]:
    """How long the job's task should take, and the spread: from the ledger's past runs, else the contract."""
    stats = ledger.inference_stats(job.model, job.resolution, job.duration, base_url=client.backend_id)
    if stats:
        return stats
    if job.resolution and job.duration:
        return typical_inference_seconds(job.resolution, job.duration), None
    return None, None


@dataclass
class ResumeOutcome:
    """What :func:`resume` did with one unfinished ledger row."""

    job_id: int
    request_id: str | None
    status: str
    video_path: Path | None = None
    error: str = ""


def resume(client: Client | None = None, ledger: Ledger | None = None, *, on_progress: ProgressHook | None = None,
           out_dir: str | Path | None = None, timeout: float | None = None,
           job_ids: list[int] | None = None) -> list[ResumeOutcome]:
    """Re-poll every unfinished ledger row of this backend and download what is done.

    Rows whose submit reply was lost are first reconciled through the history endpoint. Nothing is ever re-sent.
    """
    client = client or default_client()
    ledger = ledger or Ledger()
    out_dir = Path(out_dir) if out_dir else ledger.home / "outputs"
    outcomes = []
    for job in ledger.unfinished(base_url=client.backend_id):
        if job_ids is not None and job.id not in job_ids:
            continue
        emit = _Emitter(on_progress, time.monotonic())
        try:
            outcomes.append(_resume_one(client, ledger, job, out_dir, emit, timeout))
        except WaveSpeedError as exc:
            outcomes.append(ResumeOutcome(job.id, exc.task_id or job.request_id, ledger.get(job.id).status, None,
                                          str(exc)))
    return outcomes


def _resume_one(client: Client, ledger: Ledger, job: Job, out_dir: Path, emit: _Emitter,
                timeout: float | None) -> ResumeOutcome:
    request_id = job.request_id
    if not request_id:
        if job.status == PENDING and job.sent_at is None:
            if time.time() - job.updated_at < UNSENT_STALE_S:  # reserved and uploading, maybe in another process
                return ResumeOutcome(job.id, None, PENDING, error="not sent yet: its inputs are being uploaded")
            ledger.move(job.id, LOST, error="never sent: the process stopped before the POST")
            return ResumeOutcome(job.id, None, LOST, error="never sent")
        try:
            found = _look_for_lost_task(client, ledger, job.id, job.model, job.params,
                                        job.sent_at or job.created_at)
        except WaveSpeedError as exc:
            return ResumeOutcome(job.id, None, job.status, error=f"could not look for the task yet: {exc}")
        if found.ambiguous:
            return ResumeOutcome(job.id, None, UNKNOWN, error=ledger.get(job.id).error)
        if found.claimed is None:
            ledger.move(job.id, LOST, candidates=[], error="no task was created for this request; nothing was charged")
            return ResumeOutcome(job.id, None, LOST, error="no task was created")
        request_id = found.claimed.id
    try:
        pred = client.get(request_id)
    except NotFound:
        ledger.move(job.id, LOST, error=f"the API no longer knows task {request_id}")
        return ResumeOutcome(job.id, request_id, ledger.get(job.id).status, error="task unknown to the API")
    ledger.move(job.id, pred.status)
    pred = _wait(client, ledger, job.id, pred, emit, timeout=timeout, raise_on_failure=False)
    if pred.status != COMPLETED:
        return ResumeOutcome(job.id, request_id, pred.status, error=ledger.get(job.id).error)
    video = _download(client, ledger, job.id, pred, out_dir, job.seed, emit)
    emit("done", "done", status=COMPLETED, request_id=request_id, job_id=job.id)
    return ResumeOutcome(job.id, request_id, COMPLETED, video)


def _reconcile_now(client: Client, ledger: Ledger, job_id: int, model: str, params: dict,
                   sent_at: float) -> Prediction | None:
    """Look for the task a lost submit created and record it on the row when it is provably ours.

    Returns None when no task was found (or the history could not be read yet); raises SubmitOutcomeUnknown, with
    the candidates stored on the row, when several tasks could be ours and a person must choose (:func:`claim`).
    """
    try:
        found = _look_for_lost_task(client, ledger, job_id, model, params, sent_at)
    except WaveSpeedError as exc:
        log.warning("could not look for the task of job %s yet: %s", job_id, exc)
        return None
    if found.ambiguous:
        exc = SubmitOutcomeUnknown(ledger.get(job_id).error)
        exc.candidates = found.candidate_ids  # type: ignore[attr-defined]
        exc.job_id = job_id  # type: ignore[attr-defined]
        raise exc
    return found.claimed


def _look_for_lost_task(client: Client, ledger: Ledger, job_id: int, model: str, params: dict,
                        sent_at: float) -> Reconciled:
    """Ask the history which task a lost submit created; record a proven one, or the candidates, on the row."""
    found = client.reconcile(model, sent_at=sent_at, params=params, exclude=lambda: _recorded_elsewhere(ledger, job_id))
    if found.claimed is not None:
        log.info("job %s: the lost submit created task %s", job_id, found.claimed.id)
        ledger.move(job_id, found.claimed.status, request_id=found.claimed.id, error="", candidates=[])
    elif found.ambiguous:
        message = ambiguity_message(job_id, found.candidate_ids)
        log.warning("%s", message)
        ledger.move(job_id, UNKNOWN, candidates=found.candidate_ids, error=message)
    return found


def ambiguity_message(job_id: int, candidates: list[str]) -> str:
    """What a person reads when a lost submit could have created any of several tasks."""
    return (f"Job {job_id}: the reply to the submit was lost and {len(candidates)} tasks could be ours: "
            f"{', '.join(candidates)}. None was claimed, so no one else's video is taken as ours; claim the right "
            f"one with `seedance-playground claim {job_id} TASK_ID` or in the History tab.")


def _recorded_elsewhere(ledger: Ledger, job_id: int) -> set[str]:
    """Task ids other rows hold, under any backend: never ours to claim."""
    return {j.request_id for j in ledger.jobs() if j.request_id and j.id != job_id}


def claim(job_id: int, request_id: str, client: Client | None = None, ledger: Ledger | None = None) -> Prediction:
    """Record ``request_id`` as the task of ``job_id``, a row whose submit reply was lost, after checking that the
    API knows the task and that no other row holds it. Then :func:`resume` collects the video.

    >>> claim(7, "a1b2c3")            # doctest: +SKIP
    """
    client = client or default_client()
    ledger = ledger or Ledger()
    request_id = str(request_id or "").strip()
    if not request_id:
        raise ValidationError("task: give the id of the task to claim")
    try:
        job = ledger.get(int(job_id))
    except (KeyError, TypeError, ValueError):
        raise ValidationError(f"job: {job_id} is not in the ledger") from None
    if job.request_id:
        if job.request_id == request_id:
            return client.get(request_id)
        raise ValidationError(f"job: {job.id} already has task {job.request_id}; nothing to claim")
    if job.status == REJECTED or (job.status == PENDING and job.sent_at is None):
        raise ValidationError(f"job: {job.id} was never accepted by the API ({job.status}); no task can be its")
    other = ledger.by_request_id(request_id)
    if other is not None and other.id != job.id:
        raise ValidationError(f"task: {request_id} is already recorded for job {other.id}; it cannot be job "
                              f"{job.id}'s too")
    pred = client.get(request_id)  # NotFound when the API does not know it
    if pred.model and pred.model != job.model:
        raise ValidationError(f"task: {request_id} ran {pred.model}, but job {job.id} asked for {job.model}")
    if _input_differs(pred.raw.get("input"), job.params):
        raise ValidationError(f"task: {request_id} was sent with other inputs than job {job.id}")
    ledger.move(job.id, pred.status, request_id=pred.id, candidates=[], error="")
    log.info("job %s: task %s claimed", job.id, pred.id)
    return pred


def _input_differs(recorded: Any, params: dict) -> bool:
    if not isinstance(recorded, dict):
        return False
    return any(k in recorded and recorded[k] != v for k, v in params.items())


def _wait(client: Client, ledger: Ledger, job_id: int, pred: Prediction, emit: _Emitter, *,
          cancel: threading.Event | None = None, timeout: float | None = None,
          raise_on_failure: bool, record: bool = True, webhook: bool = False) -> Prediction:
    """Poll until the task ends (with ``webhook``, first wait for its delivery); with ``record``, write how it ended
    on the row (else the caller does)."""
    expected, spread = expected_seconds(client, ledger, ledger.get(job_id))
    state = {"status": pred.status}
    if webhook and not pred.done:
        emit(_phase_of(pred.status), "waiting for the webhook", status=pred.status, estimate=expected,
             request_id=pred.id, job_id=job_id)
        patience = client.poll.webhook_patience(expected, spread)
        delivered = INBOX.wait(pred.id, patience if timeout is None else min(timeout, patience), cancel)
        if delivered is not None:
            pred = Prediction.from_api(delivered)
            ledger.update(job_id, completed_by="webhook")
            emit(_phase_of(pred.status), f"task {pred.status} (webhook)", status=pred.status, estimate=expected,
                 request_id=pred.id, job_id=job_id)
        elif cancel is not None and cancel.is_set():
            exc = Cancelled(f"Stopped waiting for task {pred.id}; it may still finish at the API. Resume it to "
                            "collect the video.", task_id=pred.id, job_id=job_id)
            ledger.update(job_id, error=str(exc))
            raise exc
        else:
            log.info("task %s: no webhook within %.0f s; polling", pred.id, patience)

    def on_update(p: Prediction) -> None:
        if p.status != state["status"]:
            state["status"] = p.status
            if not p.done:  # the end is written once, with its outputs, by _record_end
                ledger.move(job_id, p.status)
        emit(_phase_of(p.status), f"task {p.status}", status=p.status, estimate=expected, request_id=p.id,
             job_id=job_id)

    if not pred.done:
        on_update(pred)
        ticker = emit.ticker(lambda: (_phase_of(state["status"]), f"task {state['status']}", state["status"],
                                      expected, pred.id, job_id))
        try:
            pred = client.wait(pred.id, on_update=on_update, timeout=timeout, expected=expected, spread=spread,
                               cancel=cancel, raise_on_failure=False)
        except (Cancelled, TaskTimeout) as exc:
            ledger.update(job_id, error=str(exc))
            raise
        finally:
            ticker.stop()
    if not record:
        return pred
    pred = _record_end(ledger, job_id, pred)
    if raise_on_failure and pred.status != COMPLETED:
        raise task_failed(pred)
    return pred


def _record_end(ledger: Ledger, job_id: int, pred: Prediction) -> Prediction:
    """Write an ended task's outcome on its row. A completion without an output URL is a failure (TaskFailed)."""
    changes: dict[str, Any] = {"outputs": list(pred.outputs), "nsfw": list(pred.has_nsfw_contents),
                               "inference_ms": pred.inference_ms, "finished_at": time.time()}
    if pred.status != COMPLETED:
        changes.update(error=str(task_failed(pred)), error_code=pred.code)
        ledger.move(job_id, pred.status, **changes)
        return pred
    if not pred.outputs:
        changes.update(error=f"task {pred.id} completed without an output URL")
        ledger.move(job_id, FAILED, **changes)
        raise TaskFailed(f"Task {pred.id} completed without an output URL; report it to the API's support.",
                         task_id=pred.id)
    ledger.move(job_id, COMPLETED, **changes, error="")
    return pred


def _download(client: Client, ledger: Ledger, job_id: int, pred: Prediction, out_dir: Path, seed: int | None,
              emit: _Emitter) -> Path:
    """Fetch the output; it becomes the row's video only once the client has checked it is a playable video.

    On any refusal (unsafe URL, not a video, too large, gone, transport) the row keeps its task id and status with
    the reason in ``error`` and no ``video_path``, so :func:`resume` can try again."""
    emit("downloading", "downloading the video", status=pred.status, request_id=pred.id, job_id=job_id)
    # 128 random bits: the outputs folder is served, so a name must not be guessable from the job, task or seed.
    dest = out_dir / f"job{job_id:05d}-seed{seed}-{secrets.token_hex(16)}.mp4"
    try:
        path = client.download(pred.outputs[0], dest, task_id=pred.id)
    except WaveSpeedError as exc:
        ledger.update(job_id, error=str(exc))
        raise
    from .videotags import write_tags

    write_tags(path, ledger.get(job_id))  # the file carries its model, prompt, seed and ids: it can travel alone
    ledger.update(job_id, video_path=str(path), error="")
    return path


def finish_delivered(client: Client, ledger: Ledger, job: Job, delivered: dict, out_dir: Path | None = None
                     ) -> Path | None:
    """Complete ``job`` from a verified webhook delivery nobody in this process waits for (its visitor left, or the
    app restarted since the submit): record the end and download the video, with no result GET. Returns the video,
    or None when the task ended without one (the row says why)."""
    pred = Prediction.from_api(delivered)
    ledger.update(job.id, completed_by="webhook")
    try:
        pred = _record_end(ledger, job.id, pred)
    except TaskFailed:
        return None
    if pred.status != COMPLETED:
        return None
    out_dir = out_dir or ledger.home / "outputs"
    out_dir.mkdir(parents=True, exist_ok=True)
    return _download(client, ledger, job.id, pred, out_dir, job.seed, _Emitter(None, time.monotonic()))


def _probe(path: Path, emit: _Emitter):
    from .media import probe

    emit("probing", "reading the video")
    return probe(path)


def _reuse(job: Job, client: Client, ledger: Ledger, out_dir: Path, emit: _Emitter, t0: float,
           probe_output: bool) -> Result:
    if job.has_video:
        try:
            check_video(job.video_path or "")
        except OutputInvalid as exc:
            # Written by an older version that trusted downloads: never served; fetched again below if possible.
            log.warning("job %s: the file on disk is not a playable video (%s); not reusing it", job.id, exc)
            ledger.update(job.id, video_path=None, error=f"the saved file was not a playable video: {exc}")
            job = ledger.get(job.id)
    if not job.has_video:
        if not job.outputs:
            raise OutputExpired(f"Job {job.id} has no video on disk and no output URL to fetch it again.",
                                task_id=job.request_id)
        pred = Prediction(id=job.request_id or "", model=job.model, status=COMPLETED, outputs=tuple(job.outputs))
        _download(client, ledger, job.id, pred, out_dir, job.seed, emit)
        job = ledger.get(job.id)
    video = Path(job.video_path or "")
    emit("reused", f"reused job {job.id}: identical request already paid for", status=COMPLETED,
         request_id=job.request_id, job_id=job.id)
    info = _probe(video, emit) if probe_output else None
    return Result(job.id, job.request_id or "", job.model, job.params, int(job.seed or 0), job.cost, video,
                  job.outputs[0] if job.outputs else "", any(job.nsfw), job.inference_ms, time.monotonic() - t0,
                  True, info)


def _recordable(params: dict[str, Any], media: Media) -> dict[str, Any]:
    """The params to reserve a row with before uploading: each image to upload named by its content hash."""
    return {k: (f"upload:sha256:{media.hashes[k]}" if isinstance(v, bytes) else v) for k, v in params.items()}


def _reserve_or_reuse(client: Client, ledger: Ledger, *, model: str, full: dict[str, Any], fp: str, cost: float,
                      media: Media, account: str, session: str, visitor: str, once: bool,
                      check: Callable[[SpentReader], None] | None, out_dir: Path, emit: _Emitter, t0: float,
                      probe_output: bool, cancel: threading.Event | None, timeout: float | None) -> int | Result:
    """Reserve the request's ledger row (the caps' ``check`` runs in the same transaction) and return its id; or,
    with ``once``, return an identical request's video instead of paying again: at once when it is done, after
    waiting for it when it is in flight. A twin that ends without a video is claimed over, once per ending."""
    deadline = None if timeout is None else time.monotonic() + timeout
    expired: set[int] = set()
    params = {**full, **{k: v for k, v in media.sources.items() if k not in full}}
    while True:
        reservation = ledger.reserve(base_url=client.backend_id, model=model, params=_recordable(params, media),
                                     fingerprint=fp, cost=cost, account=account, session=session, visitor=visitor,
                                     once=once, check=check, ignore=expired)
        if reservation.job_id is not None:
            return reservation.job_id
        twin = reservation.twin
        assert twin is not None
        if twin.in_flight or not twin.has_video:
            emit("queued", f"waiting for job {twin.id}: an identical request is already paid for", job_id=twin.id,
                 request_id=twin.request_id, status=twin.status)
            twin = _await_twin(client, ledger, twin, out_dir, cancel, deadline)
        if twin.reusable:
            try:
                return _reuse(twin, client, ledger, out_dir, emit, t0, probe_output)
            except OutputExpired:
                log.info("job %s's video is gone and its output expired; paying for a new one", twin.id)
                expired.add(twin.id)
        else:
            log.info("identical job %s ended %s without a video; claiming the request again", twin.id, twin.status)


def _await_twin(client: Client, ledger: Ledger, job: Job, out_dir: Path, cancel: threading.Event | None,
                deadline: float | None) -> Job:
    """Poll the ledger until an identical request in flight ends (or its video is on disk). Its own process does the
    work; if that process seems gone (a sent row silent for TWIN_SILENT_S while the API says it ended, or a lost
    reply never reconciled) this one finishes it as :func:`resume` would: by polling, never by sending again."""
    gap, quiet_since = 0.1, time.monotonic()
    api_done_at: float | None = None
    while True:
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"Stopped waiting for job {job.id}, an identical request; it goes on in the ledger.",
                            task_id=job.request_id)
        if deadline is not None and time.monotonic() >= deadline:
            raise TaskTimeout(f"Job {job.id}, an identical request, is not finished yet; it goes on in the ledger.",
                              task_id=job.request_id)
        if cancel is not None:
            cancel.wait(gap)
        else:
            time.sleep(gap)
        gap = min(gap * 1.5, TWIN_POLL_MAX_S)
        latest = ledger.get(job.id)
        if latest.updated_at != job.updated_at:
            quiet_since = time.monotonic()
        job = latest
        if not job.in_flight:
            # A download that failed records its error: then nobody is downloading, and waiting would only lag.
            owner_downloading = job.reusable and not job.has_video and not job.error and \
                time.time() - job.updated_at < TWIN_DOWNLOAD_GRACE_S
            if not owner_downloading:
                return job
            continue
        if job.status == PENDING and job.sent_at is None:
            if time.time() - job.updated_at > UNSENT_STALE_S:
                return job  # its process stopped before sending: the next reservation marks it lost
            continue
        if time.monotonic() - quiet_since < TWIN_SILENT_S:
            continue
        if job.request_id:
            try:
                done = client.get(job.request_id).done
            except WaveSpeedError as exc:
                log.info("could not ask about job %s's task: %s", job.id, exc)
                done = False
            if not done:
                quiet_since, api_done_at = time.monotonic(), None
                continue
            api_done_at = api_done_at or time.monotonic()
            if time.monotonic() - api_done_at < TWIN_DOWNLOAD_GRACE_S:
                continue
        log.warning("job %s: its process seems gone; finishing it here (nothing is sent again)", job.id)
        try:
            _resume_one(client, ledger, job, out_dir, _Emitter(None, time.monotonic()), None)
        except WaveSpeedError as exc:
            log.warning("could not finish job %s here: %s", job.id, exc)
        quiet_since, api_done_at = time.monotonic(), None


@dataclass(frozen=True)
class Media:
    """A request's images, read and checked once: ``sources`` to send (URLs as given, else checked bytes), their
    content ``hashes`` (what identifies the request, not the upload URLs) and the ones to ``uploads``."""

    sources: dict[str, Any]
    hashes: dict[str, str]
    uploads: tuple[PreparedImage, ...]


def read_media(image: Any, last_image: Any = None, *, client: Client | None = None, ledger: Ledger | None = None,
               public: bool = False) -> Media:
    """Read and check ``image`` and ``last_image`` (paths, bytes, PIL images, ``data:`` URIs or URLs); refusals name
    the field.

    ``data:`` URIs are decoded, checked like files and uploaded. A URL the ``ledger`` holds as an upload of ours to
    ``client``'s API is known by its content (so a request given the file and one given its uploaded URL are the same
    request) and needs no check. With a ``client``, any other http(s) URL is asked (HEAD) whether it holds an image
    before anything is paid for: private and loopback hosts only for the local API on a private machine; a
    ``public`` host (a hosted playground) never sends a request there and refuses every unusable URL with one
    sentence (:data:`playground.images.URL_REFUSED`).
    """
    if image is None:
        raise ValidationError("image: is required")
    sources: dict[str, Any] = {}
    hashes: dict[str, str] = {}
    uploads = []
    for name, source in (("image", image), ("last_image", last_image)):
        if source is None:
            continue
        if is_url(source) and not source.startswith("data:"):
            known = ledger.upload_hash(source, client.base_url) if ledger is not None and client is not None else None
            if client is not None and known is None:
                check_image_url(source, name, uniform=public,
                                allow_private=not public and is_local_api(client.base_url, client.backend_id))
            sources[name], hashes[name] = source, known or "url:" + source
        else:
            prep = prepare_image(source, name)
            sources[name], hashes[name] = prep.data, prep.sha256
            uploads.append(prep)
    return Media(sources, hashes, tuple(uploads))


def ensure_uploaded(client: Client, ledger: Ledger, prep: PreparedImage) -> str:
    """The URL of ``prep`` at the API: an upload of the same bytes still fresh in the ledger, else a new one."""
    # Keyed by the server's URL, not the backend's name: each process's embedded local API is a new server.
    cached = ledger.cached_upload(prep.sha256, client.base_url)
    if cached:
        return cached
    url = client.upload(prep.data, filename=prep.filename)
    ledger.remember_upload(prep.sha256, client.base_url, url)
    return url


def _phase_of(status: str | None) -> str:
    return "queued" if status == CREATED else "processing"


class _Emitter:
    """Calls the progress hook (from the caller's thread and a ticker thread) one event at a time."""

    def __init__(self, hook: ProgressHook | None, t0: float):
        self.hook, self.t0 = hook, t0
        self._lock = threading.Lock()

    def __call__(self, phase: str, message: str = "", *, status: str | None = None, estimate: float | None = None,
                 request_id: str | None = None, job_id: int | None = None) -> None:
        if self.hook is None:
            return
        event = ProgressEvent(phase, time.monotonic() - self.t0, message, status, estimate, request_id, job_id)
        with self._lock:
            try:
                self.hook(event)
            except Exception:  # a broken progress display must not lose a paid job
                log.exception("progress hook failed")

    def ticker(self, describe: Callable[[], tuple], every: float = 1.0) -> _Ticker:
        return _Ticker(self, describe, every)


class _Ticker:
    """Emits a progress event every second while waiting, so elapsed time moves between sparse polls."""

    def __init__(self, emit: _Emitter, describe: Callable[[], tuple], every: float):
        self._stop = threading.Event()
        self._thread = None
        if emit.hook is not None:
            def run() -> None:
                while not self._stop.wait(every):
                    phase, message, status, estimate, request_id, job_id = describe()
                    emit(phase, message, status=status, estimate=estimate, request_id=request_id, job_id=job_id)

            self._thread = threading.Thread(target=run, name="progress-ticker", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
