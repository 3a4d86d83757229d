"""What each job really cost: the API's billing read back into the ledger (``charged_usd``, ``refunded_usd``), so
History shows the charge beside the estimate and the caps count the real charge once it is known."""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Iterable
from typing import Any

from ..client import Client
from ..errors import WaveSpeedError
from ..jobs import Job, Ledger
from ..status import COMPLETED, TERMINAL

log = logging.getLogger(__name__)

REFUND_WINDOW_S = 4 * 3600.0  # the API refunds a failed task within 3 h (V); an hour's margin
RECHECK_EVERY_S = 60.0  # at most one late read per ledger, backend and key this often
LATE_ROWS = 100  # one billing search: one page of ids

_last_read: weakref.WeakKeyDictionary[Ledger, dict[tuple[str, str | None], float]] = weakref.WeakKeyDictionary()
_last_lock = threading.Lock()


def unsettled(job: Job) -> bool:
    """A task that ended at the API whose charge is not read yet, or that ended without a video and has no refund
    recorded yet (the real API refunds within hours)."""
    if not job.request_id or job.status not in TERMINAL:
        return False
    return job.charged_usd is None or (job.status != COMPLETED and not job.refunded_usd)


def settle(client: Client, ledger: Ledger, jobs: Iterable[Job] | None = None, *, quick: bool = False) -> list[Job]:
    """Read the billing of ``jobs`` (default: this API's ended rows still unsettled) in one search and record it on
    each row; returns the rows changed. A billing endpoint that does not answer changes nothing (logged, not
    raised): the estimate stays what History and the caps show. ``quick``: one short try (see
    :meth:`~playground.client.Client.charges`)."""
    rows = [j for j in (jobs if jobs is not None else ledger.jobs(base_url=client.backend_id, limit=500))
            if j.base_url == client.backend_id and unsettled(j)]
    if not rows:
        return []
    try:
        charges = client.charges([j.request_id for j in rows], quick=quick)
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


def settle_recent(client: Client, ledger: Ledger, *, account: str | None = None, now: float | None = None,
                  every_s: float | None = None, window_s: float = REFUND_WINDOW_S) -> list[Job]:
    """Read again, without anyone asking, the billing of this backend's jobs (``account`` 's only, when given) that
    ended within the refund window and are still unsettled: a failed task whose refund has not come yet, a charge
    not read. Bounded: at most one quick search of the newest :data:`LATE_ROWS` such rows per ``every_s`` (default
    :data:`RECHECK_EVERY_S`) per ledger, backend and account. Returns the rows changed; a slow or failing billing
    endpoint is logged and the estimates stay.

    >>> settle_recent(client, ledger)  # History shown, the CLI's history, the caps about to count  # doctest: +SKIP
    """
    now = time.time() if now is None else now
    key, every = (client.backend_id, account), RECHECK_EVERY_S if every_s is None else every_s
    with _last_lock:  # a refresh loop within the pause costs neither a search nor a read of the ledger
        if now - _last_read.setdefault(ledger, {}).get(key, float("-inf")) < every:
            return []
    rows = [j for j in ledger.jobs(base_url=client.backend_id, account=account, limit=5 * LATE_ROWS)
            if unsettled(j) and now - (j.finished_at or j.updated_at) <= window_s][:LATE_ROWS]
    if not rows:
        return []
    with _last_lock:
        seen = _last_read.setdefault(ledger, {})
        if now - seen.get(key, float("-inf")) < every:  # another thread searched meanwhile
            return []
        seen[key] = now
    return settle(client, ledger, rows, quick=True)


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


__all__ = ["REFUND_WINDOW_S", "settle", "settle_outcomes", "settle_recent", "unsettled"]
