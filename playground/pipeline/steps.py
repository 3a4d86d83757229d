"""The steps of one job, plain functions of it that never sleep or poll: :func:`plan` (price, reserve the ledger row
under the caps, or reuse an identical request), :func:`submit` (uploads and the ONE POST), :func:`record_end` (how
the task ended, written once) and :func:`collect` (its video). The one :class:`~playground.pipeline.runner.Runner`
drives them, and waits between them.

Every request is in the ledger before its POST is sent and after every change, so
:func:`~playground.pipeline.resume` can collect what a crash, a kill or a cancelled wait left behind, and nothing
paid for is lost or paid twice.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..client import Client, Prediction, task_failed
from ..contract import MODELS, VideoRequest
from ..errors import (
    AuthError,
    InsufficientCredits,
    NotFound,
    OutputExpired,
    RateLimited,
    SubmitOutcomeUnknown,
    TaskFailed,
    ValidationError,
    WaveSpeedError,
)
from ..jobs import Job, Ledger, SpentReader
from ..pricing import Quote, quote
from ..progress import Emitter
from ..status import COMPLETED, CREATED, FAILED, REJECTED, UNKNOWN
from .collect import Result, download, downloading_elsewhere, probe, reuse_paid
from .inputs import Media, ensure_uploaded
from .recover import reconcile_now

log = logging.getLogger(__name__)

# guard(cost, params, spent): raise to refuse; ``spent(since=, account=, session=, visitor=)`` reads the ledger.
Guard = Callable[[float, dict, SpentReader], None]


@dataclass
class Planned:
    """A request whose ledger row is reserved (its cost counted by the caps), ready to upload and send."""

    request: VideoRequest
    media: Media
    job_id: int
    cost: float
    out_dir: Path
    emit: Emitter
    t0: float
    body: dict = field(default_factory=dict)  # the POSTed fields with the images' URLs, once submitted
    sent_at: float | None = None
    webhook_url: str | None = None  # where the service delivers the end (see playground.webhooks)


@dataclass(frozen=True)
class Twin:
    """What :func:`plan` found instead of reserving: an identical request already paid for and still in flight
    (or its video on its way), whose row the runner watches."""

    row: Job


def plan(request: VideoRequest, media: Media, *, client: Client, ledger: Ledger, reuse: bool = True,
         guard: Guard | None = None, session: str = "", account: str = "", visitor: str = "",
         out_dir: str | Path | None = None, emit: Emitter | None = None,
         probe_output: bool = True) -> Planned | Result | Twin:
    """Price the request and reserve its ledger row (the caps' ``guard`` runs in the same transaction).

    With ``reuse`` and an explicit seed, an identical request already paid for is served instead and nothing is
    reserved: its :class:`Result` when its video is there (fetched again if need be), else a :class:`Twin` to wait
    for while it is in flight."""
    emit = emit or Emitter(None)
    out_dir = Path(out_dir) if out_dir else ledger.home / "outputs"
    full = request.params()
    cost = estimate(client, request).usd
    check = None if guard is None else (lambda spent: guard(cost, full, spent))
    recorded = _recordable({**full, **{k: v for k, v in media.sources.items() if k not in full}}, media)
    fingerprint = request.fingerprint(client.backend_id, media.hashes)
    expired: set[int] = set()
    while True:
        reservation = ledger.reserve(base_url=client.backend_id, model=request.model, params=recorded,
                                     fingerprint=fingerprint, cost=cost, account=account, session=session,
                                     visitor=visitor, once=reuse and request.explicit_seed, check=check,
                                     ignore=expired)
        if reservation.job_id is not None:
            return Planned(request, media, reservation.job_id, cost, out_dir, emit, emit.t0)
        twin = reservation.twin
        assert twin is not None
        if twin.in_flight or downloading_elsewhere(twin):
            emit("queued", f"waiting for job {twin.id}: an identical request is already paid for", job_id=twin.id,
                 request_id=twin.request_id, status=twin.status)
            return Twin(twin)
        try:
            result = reuse_paid(twin, client=client, ledger=ledger, out_dir=out_dir, emit=emit,
                                probe_output=probe_output)
        except OutputExpired:
            log.info("job %s's video is gone and its output expired; paying for a new one", twin.id)
            expired.add(twin.id)
            continue
        result.request = request
        return result


def estimate(client: Client, request: VideoRequest) -> Quote:
    """What the ledger reserves for a request before it is sent: the known models' pricing table (as the caps have
    always counted them), any other model's price from its API (or its catalogue floor when the API does not say)."""
    if request.model in MODELS:
        return quote(request.model, request.params())
    return client.price(request.model, request.params())


def submit(planned: Planned, *, client: Client, ledger: Ledger, emit: Emitter | None = None) -> Prediction:
    """Upload the images (or reuse fresh uploads), then send the ONE submit POST, recorded before and after.

    A refusal (nothing created) marks the row rejected; a lost reply is reconciled through the history at once and
    otherwise left ``unknown`` for :func:`~playground.pipeline.resume`. Nothing is ever sent twice."""
    emit = emit or planned.emit
    job_id = planned.job_id
    images = _upload(planned, client, ledger, emit)
    body = planned.request.body(images)
    planned.body, planned.sent_at = body, time.time()
    if not ledger.mark_sending(job_id, body, planned.sent_at):
        raise WaveSpeedError(f"Job {job_id} was not sent: its reservation was given up as stale while the inputs "
                             "uploaded (nothing was charged). Run it again.")
    emit("submitting", "sending the request", job_id=job_id)
    model = planned.request.model
    try:
        pred = client.submit(model, body, webhook=planned.webhook_url, validate_first=False)
    except SubmitOutcomeUnknown as exc:
        ledger.move(job_id, UNKNOWN, error=str(exc))
        pred = reconcile_now(client, ledger, job_id, model, body, planned.sent_at)
        if pred is None:
            raise
        return pred
    except (ValidationError, AuthError, InsufficientCredits, RateLimited, NotFound) as exc:
        # The API answered and refused: no task exists, nothing is charged.
        ledger.move(job_id, REJECTED, error=str(exc), error_code=exc.code)
        raise
    except WaveSpeedError as exc:
        ledger.move(job_id, UNKNOWN, error=str(exc))
        raise
    # An end is recorded once, by record_end with its outputs: until then a task that ended at once is "created".
    ledger.move(job_id, CREATED if pred.done else pred.status, request_id=pred.id)
    return pred


def _upload(planned: Planned, client: Client, ledger: Ledger, emit: Emitter) -> dict[str, Any]:
    """The media's URLs at the API: uploads (or fresh earlier ones), and URLs as given (a list field's items each).
    A failure releases the reservation: nothing was sent."""
    prepared = {prep.field: prep for prep in planned.media.uploads}

    def url_of(name: str, source: Any) -> str:
        if name not in prepared:
            return source
        emit("uploading", f"uploading {name}")
        return ensure_uploaded(client, ledger, prepared[name])

    urls: dict[str, Any] = {}
    try:
        for name, source in planned.media.sources.items():
            urls[name] = ([url_of(f"{name}[{i}]", item) for i, item in enumerate(source)]
                          if isinstance(source, list) else url_of(name, source))
    except BaseException as exc:
        ledger.move(planned.job_id, REJECTED, error=f"not sent: uploading the inputs failed: {exc}"[:500],
                    error_code=getattr(exc, "code", None))
        raise
    return urls


def record_end(ledger: Ledger, job_id: int, pred: Prediction, *, by_webhook: bool = False) -> bool:
    """Write how the task ended on its row, with its outputs and how the end became known, exactly once: True for
    the one writer (thread, process or replica) that recorded it, who alone collects the video; False when the end
    was already recorded. A completion without an output URL is recorded as a failure."""
    changes: dict[str, Any] = {"outputs": list(pred.outputs), "nsfw": list(pred.has_nsfw_contents),
                               "inference_ms": pred.inference_ms, "finished_at": time.time(),
                               "completed_by": "webhook" if by_webhook else ""}
    if pred.status != COMPLETED:
        return ledger.end(job_id, pred.status, **changes, error=str(task_failed(pred)), error_code=pred.code)
    if not pred.outputs:
        return ledger.end(job_id, FAILED, **changes, error=f"task {pred.id} completed without an output URL")
    return ledger.end(job_id, COMPLETED, **changes, error="")


def ended_without_video(pred: Prediction, planned: Planned | None, client: Client, ledger: Ledger) -> TaskFailed:
    """The error for a task that ended without a video. A task that could not fetch our upload (1402) makes the
    next try upload afresh."""
    if pred.status == COMPLETED:  # completed, but with no output URL
        return TaskFailed(f"Task {pred.id} completed without an output URL; report it to the API's support.",
                          task_id=pred.id)
    if pred.code == 1402 and planned is not None:
        for prep in planned.media.uploads:
            ledger.forget_upload(prep.sha256, client.base_url)
    return task_failed(pred)


def collect(planned: Planned, pred: Prediction, *, client: Client, ledger: Ledger, emit: Emitter | None = None,
            probe_output: bool = True) -> Result:
    """Download the completed task's video (checked before it counts), probe it, and return the Result."""
    emit = emit or planned.emit
    request = planned.request
    video = download(client, ledger, ledger.get(planned.job_id), pred, planned.out_dir, emit)
    info = probe(video, emit) if probe_output else None
    emit("done", "done", status=COMPLETED, request_id=pred.id, job_id=planned.job_id)
    return Result(planned.job_id, pred.id, request.model, dict(planned.body or request.fields), request.seed,
                  planned.cost, video, pred.outputs[0], pred.nsfw, pred.inference_ms,
                  time.monotonic() - planned.t0, False, info, request,
                  completed_by=ledger.get(planned.job_id).completed_by)


def _recordable(params: dict[str, Any], media: Media) -> dict[str, Any]:
    """The params to reserve a row with before uploading: each file to upload named by its content hash."""
    def named(value: Any) -> Any:
        return f"upload:sha256:{hashlib.sha256(value).hexdigest()}" if isinstance(value, bytes) else value

    return {k: ([named(v) for v in value] if isinstance(value, list) else
                f"upload:sha256:{media.hashes[k]}" if isinstance(value, bytes) else value)
            for k, value in params.items()}


__all__ = ["Guard", "Planned", "Twin", "plan", "submit", "record_end", "ended_without_video", "collect"]
