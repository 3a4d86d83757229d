"""What each job really cost: the API's billing read back into the ledger (``charged_usd``, ``refunded_usd``), so
History shows the charge beside the estimate and the caps count the real charge once it is known."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from ..client import Client
from ..errors import WaveSpeedError
from ..jobs import Job, Ledger
from ..status import COMPLETED, TERMINAL

log = logging.getLogger(__name__)


def unsettled(job: Job) -> bool:
    """A task that ended at the API whose charge is not read yet, or that ended without a video and has no refund
    recorded yet (the real API refunds within hours)."""
    if not job.request_id or job.status not in TERMINAL:
        return False
    return job.charged_usd is None or (job.status != COMPLETED and not job.refunded_usd)


def settle(client: Client, ledger: Ledger, jobs: Iterable[Job] | None = None) -> list[Job]:
    """Read the billing of ``jobs`` (default: this API's ended rows still unsettled) and record it on each row;
    returns the rows changed. A billing endpoint that does not answer changes nothing (logged, not raised): the
    estimate stays what History and the caps show."""
    rows = [j for j in (jobs if jobs is not None else ledger.jobs(base_url=client.backend_id, limit=500))
            if j.base_url == client.backend_id and unsettled(j)]
    if not rows:
        return []
    try:
        charges = client.charges(j.request_id for j in rows)
    except WaveSpeedError as exc:
        log.info("billing not read (%s); the ledger keeps its estimates", exc)
        return []
    changed = []
    for job in rows:
        charge = charges.get(job.request_id)
        if charge is None or (charge.deducted == job.charged_usd and charge.refunded == (job.refunded_usd or 0.0)):
            continue
        ledger.update(job.id, charged_usd=charge.deducted, refunded_usd=charge.refunded)
        changed.append(ledger.get(job.id))
    return changed


def settle_outcomes(client: Client, ledger: Ledger, outcomes: Iterable[Any]) -> list[Job]:
    """:func:`settle` for the jobs a run just ended (its Results, and the errors that name a task)."""
    jobs = []
    for outcome in outcomes:
        if getattr(outcome, "reused", False):
            continue
        task_id = getattr(outcome, "request_id", None) or getattr(outcome, "task_id", None)
        job = ledger.by_request_id(task_id) if isinstance(task_id, str) and task_id else None
        if job is not None:
            jobs.append(job)
    return settle(client, ledger, jobs) if jobs else []


__all__ = ["settle", "settle_outcomes", "unsettled"]
