"""The ledger as a visitor may see and touch it: their jobs, one job's video (collected again when gone), cancel."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from typing import Any

from ..contract import MODELS, SPICY
from ..errors import ValidationError, WaveSpeedError
from ..jobs import Job, account_tag
from ..pipeline import resume
from ..pipeline.charges import REFUND_WINDOW_S, settle_recent, unsettled
from ..status import COMPLETED, CREATED, PENDING, PROCESSING, REUSED, UNKNOWN
from .form import MATCH_IMAGE, RunForm
from .payers import Payer

# A job may still show a video after these: anything else ended without one.
_MAY_HAVE_VIDEO = (COMPLETED, CREATED, PROCESSING, PENDING, UNKNOWN)


class History:
    """The part of :class:`~playground.session.Playground` that shows and reaches the ledger's jobs."""

    def visible_jobs(self, owner: str, user_key: str | None, limit: int = 50, *,
                     whole: bool | None = None) -> list[Job]:
        """The jobs this visitor may see, newest first: on a private machine (or with ``whole``) the whole ledger;
        else ``owner`` 's runs and those paid with the visitor's own key. Charges still due among them (a failed
        task's refund, which the API may give hours later) are read again first: see :meth:`settle_late`."""
        jobs = self._visible(owner, user_key, limit, whole)
        if self.settle_late(self.payers_due(jobs, user_key)):
            jobs = self._visible(owner, user_key, limit, whole)
        return jobs

    def _visible(self, owner: str, user_key: str | None, limit: int, whole: bool | None) -> list[Job]:
        if self.whole_ledger if whole is None else whole:
            return self.ledger.jobs(limit=limit)
        seen: dict[int, Job] = {j.id: j for j in self.ledger.jobs(limit=limit, session=owner)}
        if user_key and user_key.strip():
            seen.update({j.id: j for j in self.ledger.jobs(limit=limit, account=account_tag(user_key.strip()))})
        return sorted(seen.values(), key=lambda j: j.id, reverse=True)[:limit]

    def payers_due(self, jobs: Iterable[Job], user_key: str | None) -> list[Payer]:
        """The keys (and the local preview) whose billing may still change a figure of ``jobs``: each unsettled row
        that ended within the refund window and that this visitor's key, the host's or the local preview reaches."""
        now, payers = time.time(), {}
        for job in jobs:
            if not unsettled(job) or now - (job.finished_at or job.updated_at) > REFUND_WINDOW_S:
                continue
            try:
                payer = self.payer_for_job(job, user_key)
            except ValidationError:  # paid with a key this visitor does not hold
                continue
            payers[(payer.kind, payer.account)] = payer
        return list(payers.values())

    def settle_late(self, payers: Iterable[Payer]) -> int:
        """Read again what the API charged and refunded for the recent unsettled jobs of each of ``payers`` (see
        :func:`~playground.pipeline.charges.settle_recent`: at most once a minute per key, one quick search, a slow
        billing endpoint only logged); how many rows changed."""
        changed = 0
        for payer in payers:
            client = self.client(payer)
            try:
                changed += len(settle_recent(client, self.ledger, account=payer.account))
            finally:
                client.close()
        return changed

    def job_for(self, job_id: Any, owner: str, user_key: str | None, *, whole: bool | None = None) -> Job:
        """The visible job numbered ``job_id`` (see :meth:`visible_jobs`); a ValidationError for any other."""
        try:
            wanted = int(job_id)
        except (TypeError, ValueError, OverflowError):
            raise ValidationError("job: pick a row of the history first") from None
        try:
            job = self.ledger.get(wanted)
        except KeyError:
            job = None
        key = (user_key or "").strip()
        if job is not None and ((self.whole_ledger if whole is None else whole) or job.session == owner
                                or (key and job.account == account_tag(key))):
            return job
        raise ValidationError(f"job: {wanted} is not in your history")

    def paid_job(self, job: Job) -> Job:
        """The job that paid for ``job`` 's video: itself, or for a ``reused`` row the job it reused."""
        return self.ledger.get(job.reused_from) if job.reused_from is not None else job

    def params_of(self, job: Job) -> RunForm:
        """The form that would ask for ``job`` again: its fields, and its image by the URL it was uploaded to."""
        p = job.params
        return RunForm(image=None, image_url=p.get("image") if isinstance(p.get("image"), str) else "",
                       prompt=p.get("prompt") or "", duration=p.get("duration", 5),
                       resolution=p.get("resolution", "720p"), aspect_ratio=p.get("aspect_ratio") or MATCH_IMAGE,
                       camera_fixed=bool(p.get("camera_fixed")), generate_audio=bool(p.get("generate_audio")),
                       seed=p.get("seed", -1), batch=1, model=job.model if job.model in MODELS else SPICY)

    def resume_job(self, job: Job, user_key: str | None) -> Job:
        """Collect an unfinished job (or download a finished one's video again) and return its updated row."""
        payer = self.payer_for_job(job, user_key)
        client = self.client(payer)
        try:
            outcomes = resume(client, self.ledger, job_ids=[job.id])
        finally:
            client.close()
        if outcomes and outcomes[0].error and outcomes[0].status != COMPLETED:
            raise WaveSpeedError(f"Job {job.id}: {outcomes[0].error}")
        return self.ledger.get(job.id)

    def job_with_video(self, job_id: Any, session: str, user_key: str | None) -> Job:
        """The visible job ``job_id`` with its video on disk: collected (resumed) first when it has none yet."""
        job = self.job_for(job_id, session, user_key)
        if job.reused_from is not None:  # the video is the paid job's: collect that one if it is gone
            paid = self.paid_job(job)
            if not paid.has_video and paid.status in _MAY_HAVE_VIDEO:
                paid = self.resume_job(paid, user_key)
            return dataclasses.replace(job, video_path=paid.video_path, request_id=paid.request_id)
        if not job.has_video:
            if job.status not in _MAY_HAVE_VIDEO:
                raise ValidationError(f"job {job.id} is {job.status}: it has no video. {job.error}")
            job = self.resume_job(job, user_key)
        if not job.has_video:
            raise WaveSpeedError(f"Job {job.id} is {job.status}; no video yet. {job.error}")
        return job

    def delete_from_api_history(self, job: Job, user_key: str | None) -> str:
        """Remove a job's prediction from the API's history (``POST /api/v3/predictions/delete``), a plainly named
        action of its own: no source says it stops a running task or refunds it, so it promises neither. The ledger
        keeps the row. A job with nothing at the API is refused with why (ValidationError)."""
        if job.status == REUSED:
            raise ValidationError(f"job {job.id} showed job {job.reused_from}'s video again: nothing of it is at the "
                                  "API, so there is nothing to delete")
        if not job.request_id:
            raise ValidationError(f"job {job.id}: it has no task id, so there is nothing at the API to delete")
        client = self.client(self.payer_for_job(job, user_key))
        try:
            client.delete([job.request_id])
        finally:
            client.close()
        running = (" It had not ended: deleting is not known to stop it or refund it, and it can no longer be "
                   "resumed from the API." if job.unfinished else "")
        return (f"Deleted task {job.request_id} (job {job.id}) from the API's history; the ledger keeps the job and "
                f"its video.{running}")
