"""What each key was charged: a ``deduct`` row per task at submit and a ``refund`` row when the service gives the
money back (a task that failed, timed out or was cancelled by the service), searched as
``POST /api/v3/billings/search`` does (the contract note, section 3).

A deduct row's order is ``"pre"`` while its task is created or processing and ``"done"`` once it ended; deleting a
prediction from history changes nothing here. A ``refund:later:SECONDS`` fault dates a refund that long after its
task ended, and a search shows no row dated in the future: the refund "comes" later, as the real API's do (within
hours). Rows are kept per account (a digest of the key) and only that account's rows are ever searched. Not locked
on its own: the service calls it under its one lock.

>>> query = BillingQuery.from_body({"page": 1, "page_size": 10, "billing_type": "refund"})
>>> (query.page, query.page_size, query.billing_type, query.newest_first)
(1, 10, 'refund', True)
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidRequest
from .faults import FaultPlan
from .history import iso_time, parse_time
from .tasks import Task

MAX_PAGE_SIZE = 100
BILLING_TYPES = ("deduct", "refund")
SORTS = {"created_at ASC": False, "created_at DESC": True}


@dataclass
class BillingRow:
    """One charge or refund of one task."""

    billing_type: str
    task: Task
    price: float  # USD moved: what was charged, or given back
    created_at: float = field(default_factory=time.time)  # epoch
    uuid: str = field(default_factory=lambda: uuid.uuid4().hex)
    order_uuid: str = ""

    @property
    def updated_at(self) -> float:
        ended = self.task.ended_at
        return ended if self.billing_type == "deduct" and ended is not None else self.created_at

    def item(self) -> dict[str, Any]:
        """The row as the API shows it."""
        task = self.task
        done = self.billing_type == "refund" or task.terminal
        return {
            "uuid": self.uuid,
            "billing_type": self.billing_type,
            "price": self.price,
            "created_at": iso_time(self.created_at),
            "updated_at": iso_time(self.updated_at),
            "access_key_id": task.account,  # the account's digest: the key itself is never kept
            "access_key_name": "local key",
            "order": {"uuid": self.order_uuid, "state": "done" if done else "pre", "price": task.price,
                      "origin_price": task.list_price, "status": "", "ak_id": task.account},
            "prediction": {"uuid": task.id, "model_uuid": task.model, "status": task.status},
        }


def _whole(body: dict[str, Any], name: str, low: int, high: int | None = None) -> int:
    if name not in body:
        raise InvalidRequest(f"{name}: is required")
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        span = f"{low} to {high}" if high is not None else f"at least {low}"
        raise InvalidRequest(f"{name}: expected a whole number, {span}; got {value!r}")
    return value


def _moment(value: Any, name: str) -> float | None:
    """Epoch seconds from milliseconds since the epoch (a string of digits, or a number) or an RFC 3339 time."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip()) / 1000
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value / 1000
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return parse_time(value, name)
        except InvalidRequest:
            pass
    raise InvalidRequest(f"{name}: expected milliseconds since the epoch as a string (\"1735689600000\") or an "
                         f"RFC 3339 time (2025-01-01T00:00:00Z), got {value!r}")


@dataclass(frozen=True)
class BillingQuery:
    page: int
    page_size: int
    billing_type: str | None = None
    prediction_ids: frozenset[str] | None = None
    model: str | None = None
    newest_first: bool = True
    start: float | None = None
    end: float | None = None

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> BillingQuery:
        """The search a request's body asks for; InvalidRequest naming the field when one is wrong."""
        page = _whole(body, "page", 1)
        page_size = _whole(body, "page_size", 1, MAX_PAGE_SIZE)
        kind = body.get("billing_type") or None
        if kind is not None and kind not in BILLING_TYPES:
            raise InvalidRequest(f"billing_type: {kind!r} is not known; choose deduct or refund")
        ids = body.get("prediction_uuids")
        if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, str) for i in ids)):
            raise InvalidRequest(f"prediction_uuids: expected a list of prediction ids, got {ids!r}")
        sort = body.get("sort") or "created_at DESC"
        if sort not in SORTS:
            raise InvalidRequest(f"sort: {sort!r} is not known; choose {' or '.join(SORTS)}")
        model = body.get("model_uuid") or None  # sent by the CLI, undocumented: a model id
        if model is not None and not isinstance(model, str):
            raise InvalidRequest(f"model_uuid: expected a model id, got {model!r}")
        return cls(page, page_size, kind, frozenset(ids) if ids is not None else None, model, SORTS[sort],
                   _moment(body.get("start_time"), "start_time"), _moment(body.get("end_time"), "end_time"))

    def matches(self, row: BillingRow) -> bool:
        return ((self.billing_type is None or row.billing_type == self.billing_type)
                and (self.prediction_ids is None or row.task.id in self.prediction_ids)
                and (self.model is None or row.task.model == self.model)
                and (self.start is None or row.created_at >= self.start)
                and (self.end is None or row.created_at <= self.end))


class BillingBook:
    """Every account's billing rows, oldest first."""

    def __init__(self, faults: FaultPlan | None = None) -> None:
        self._rows: dict[str, list[BillingRow]] = {}
        self._faults = faults

    def deduct(self, task: Task) -> None:
        """The charge of ``task`` at submit."""
        self._rows.setdefault(task.account, []).append(BillingRow("deduct", task, task.price, order_uuid=task.order))

    def refund(self, task: Task) -> None:
        """The money of ``task`` given back: now, or later under a ``refund:later`` fault."""
        later = self._faults.take_delay("refund", "later", task_id=task.id) if self._faults is not None else 0.0
        self._rows.setdefault(task.account, []).append(
            BillingRow("refund", task, task.price, created_at=time.time() + later, order_uuid=task.order))

    def search(self, account: str, query: BillingQuery) -> tuple[int, list[dict[str, Any]]]:
        """(how many of ``account``'s rows match, the requested page of them as the API shows them)."""
        now = time.time()  # a refund dated later has not come yet
        rows = sorted((r for r in self._rows.get(account, []) if r.created_at <= now and query.matches(r)),
                      key=lambda r: r.created_at)  # oldest first; stable, so ties keep the order they were made in
        if query.newest_first:
            rows.reverse()
        start = (query.page - 1) * query.page_size
        return len(rows), [r.item() for r in rows[start:start + query.page_size]]


__all__ = ["BillingBook", "BillingQuery", "BillingRow"]
