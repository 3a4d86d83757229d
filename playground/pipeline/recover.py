"""Rows whose task is not known yet: a submit whose reply was lost, a reservation whose process stopped, a task
the API no longer knows; and claiming a task for such a row by hand.

A task found through the history is claimed only when the client can prove it is ours (its recorded inputs match
the request's). Where the history carries no inputs, or several tasks could be ours, nothing is claimed: the row
stays ``unknown`` with its candidates for a person to choose (:func:`claim`), whatever their number or timing.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ..backend import default_client
from ..client import Client, Prediction, Reconciled
from ..errors import SubmitOutcomeUnknown, ValidationError, WaveSpeedError
from ..jobs import UNSENT_STALE_S, Job, Ledger
from ..status import CREATED, LOST, PENDING, REJECTED, UNKNOWN

log = logging.getLogger(__name__)


class Unresolved(WaveSpeedError):
    """A ledger row that cannot go further now (still being sent, never sent, no task created, or candidates to
    choose from): the message says which, the row's status where it stands. ``job_id`` is the row."""

    def __init__(self, message: str, *, job_id: int, task_id: str | None = None):
        super().__init__(message, task_id=task_id)
        self.job_id = job_id


def find_task(client: Client, ledger: Ledger, row: Job) -> str:
    """The id of the task ``row`` is waiting for: its own, or the one its lost submit created when that one is
    provably ours. Raises :class:`Unresolved` otherwise (a stale unsent reservation is marked lost on the way)."""
    if row.request_id:
        return row.request_id
    if row.status == PENDING and row.sent_at is None:
        if time.time() - row.updated_at < UNSENT_STALE_S:  # reserved and uploading, maybe in another process
            raise Unresolved("not sent yet: its inputs are being uploaded", job_id=row.id)
        ledger.move(row.id, LOST, error="never sent: the process stopped before the POST")
        raise Unresolved("never sent", job_id=row.id)
    try:
        found = look_for_lost_task(client, ledger, row.id, row.model, row.params, row.sent_at or row.created_at)
    except WaveSpeedError as exc:
        raise Unresolved(f"could not look for the task yet: {exc}", job_id=row.id) from None
    if found.ambiguous:
        raise Unresolved(ledger.get(row.id).error, job_id=row.id)
    if found.claimed is None:
        ledger.move(row.id, LOST, candidates=[], error="no task was created for this request; nothing was charged")
        raise Unresolved("no task was created", job_id=row.id)
    return found.claimed.id


def reconcile_now(client: Client, ledger: Ledger, job_id: int, model: str, params: dict,
                  sent_at: float) -> Prediction | None:
    """Right after a lost submit reply: look for the task it created and record it on the row when it is provably
    ours. Returns None when no task was found (or the history could not be read yet); raises SubmitOutcomeUnknown,
    with the candidates stored on the row, when tasks could be ours and a person must choose (:func:`claim`)."""
    try:
        found = look_for_lost_task(client, ledger, job_id, model, params, sent_at)
    except WaveSpeedError as exc:
        log.warning("could not look for the task of job %s yet: %s", job_id, exc)
        return None
    if found.ambiguous:
        exc = SubmitOutcomeUnknown(ledger.get(job_id).error)
        exc.candidates = found.candidate_ids  # type: ignore[attr-defined]
        exc.job_id = job_id  # type: ignore[attr-defined]
        raise exc
    return found.claimed


def look_for_lost_task(client: Client, ledger: Ledger, job_id: int, model: str, params: dict,
                       sent_at: float) -> Reconciled:
    """Ask the history which task a lost submit created; record a proven one, or the candidates, on the row."""
    found = client.reconcile(model, sent_at=sent_at, params=params, exclude=lambda: recorded_elsewhere(ledger, job_id))
    if found.claimed is not None:
        log.info("job %s: the lost submit created task %s", job_id, found.claimed.id)
        ledger.move(job_id, CREATED if found.claimed.done else found.claimed.status, request_id=found.claimed.id,
                    error="", candidates=[])  # an end is recorded once, by record_end, with its outputs
    elif found.ambiguous:
        message = ambiguity_message(job_id, found.candidate_ids)
        log.warning("%s", message)
        ledger.move(job_id, UNKNOWN, candidates=found.candidate_ids, error=message)
    return found


def ambiguity_message(job_id: int, candidates: list[str]) -> str:
    """What a person reads when a lost submit could have created one or several tasks none of which is proven."""
    could = "1 task could be ours" if len(candidates) == 1 else f"{len(candidates)} tasks could be ours"
    return (f"Job {job_id}: the reply to the submit was lost and {could}: {', '.join(candidates)}. None was "
            f"claimed, so no one else's video is taken as ours; claim the right one with `seedance-playground claim "
            f"{job_id} TASK_ID` or in the History tab.")


def recorded_elsewhere(ledger: Ledger, job_id: int) -> set[str]:
    """Task ids other rows hold, under any backend: never ours to claim."""
    return {j.request_id for j in ledger.jobs() if j.request_id and j.id != job_id}


def claim(job_id: int, request_id: str, client: Client | None = None, ledger: Ledger | None = None) -> Prediction:
    """Record ``request_id`` as the task of ``job_id``, a row whose submit reply was lost, after checking that the
    API knows the task and that no other row holds it. Then :func:`~playground.pipeline.resume` collects the video.

    >>> claim(7, "a1b2c3")            # doctest: +SKIP
    """
    client = client or default_client()
    ledger = ledger or Ledger()
    request_id = str(request_id or "").strip()
    if not request_id:
        raise ValidationError("task: give the id of the task to claim")
    job = _claimable(ledger, job_id, request_id)
    if job.request_id == request_id:
        return client.get(request_id)
    pred = client.get(request_id)  # NotFound when the API does not know it
    if pred.model and pred.model != job.model:
        raise ValidationError(f"task: {request_id} ran {pred.model}, but job {job.id} asked for {job.model}")
    if _input_differs(pred.raw.get("input"), job.params):
        raise ValidationError(f"task: {request_id} was sent with other inputs than job {job.id}")
    ledger.move(job.id, CREATED if pred.done else pred.status, request_id=pred.id, candidates=[], error="")
    log.info("job %s: task %s claimed", job.id, pred.id)
    return pred


def _claimable(ledger: Ledger, job_id: Any, request_id: str) -> Job:
    """The row ``job_id`` if ``request_id`` may be claimed for it (ValidationError naming why not)."""
    try:
        job = ledger.get(int(job_id))
    except (KeyError, TypeError, ValueError):
        raise ValidationError(f"job: {job_id} is not in the ledger") from None
    if job.request_id:
        if job.request_id == request_id:
            return job
        raise ValidationError(f"job: {job.id} already has task {job.request_id}; nothing to claim")
    if job.status == REJECTED or (job.status == PENDING and job.sent_at is None):
        raise ValidationError(f"job: {job.id} was never accepted by the API ({job.status}); no task can be its")
    other = ledger.by_request_id(request_id)
    if other is not None and other.id != job.id:
        raise ValidationError(f"task: {request_id} is already recorded for job {other.id}; it cannot be job "
                              f"{job.id}'s too")
    return job


def _input_differs(recorded: Any, params: dict) -> bool:
    if not isinstance(recorded, dict):
        return False
    return any(k in recorded and recorded[k] != v for k, v in params.items())


__all__ = ["Unresolved", "find_task", "reconcile_now", "look_for_lost_task", "ambiguity_message", "claim"]
