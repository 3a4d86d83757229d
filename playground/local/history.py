"""The history query (``POST /api/v3/predictions``): its filters, checked, and one page of an account's tasks; and
the API's way of writing times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .errors import InvalidRequest
from .tasks import Task, TaskState

MAX_PAGE_SIZE = 100
HISTORY_STATUSES = tuple(s.value for s in TaskState)


def iso_time(epoch: float) -> str:
    """ISO 8601 in UTC with milliseconds and Z, as the API writes ``created_at``."""
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(value: Any, name: str) -> float | None:
    """Epoch seconds from an ISO 8601 string (or a number of epoch seconds); None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
            return moment.timestamp()
    raise InvalidRequest(f"{name}: expected an ISO 8601 time such as 2025-01-31T12:00:00Z, got {value!r}")


def _whole(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidRequest(f"{name}: expected a whole number of at least {minimum}, got {value!r}")
    return value


@dataclass(frozen=True)
class HistoryQuery:
    page: int = 1
    page_size: int = 20
    created_after: float | None = None
    created_before: float | None = None
    model: str | None = None
    status: str | None = None

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> HistoryQuery:
        """The query of a history request's body; InvalidRequest naming the field when one is wrong."""
        page = _whole(body.get("page", 1), "page", 1)
        page_size = _whole(body.get("page_size", 20), "page_size", 1)
        if page_size > MAX_PAGE_SIZE:
            raise InvalidRequest(f"page_size: {page_size} is out of range; allowed 1 to {MAX_PAGE_SIZE}")
        after = parse_time(body.get("created_after"), "created_after")
        before = parse_time(body.get("created_before"), "created_before")
        model = body.get("model")
        if model is not None and not isinstance(model, str):
            raise InvalidRequest(f"model: expected a model id, got {model!r}")
        status = body.get("status")
        if status is not None and status not in HISTORY_STATUSES:
            raise InvalidRequest(f"status: {status!r} is not known; choose one of {', '.join(HISTORY_STATUSES)}")
        return cls(page, page_size, after, before, model, status)

    def matches(self, task: Task) -> bool:
        return ((self.created_after is None or task.created_at >= self.created_after)
                and (self.created_before is None or task.created_at <= self.created_before)
                and (not self.model or task.model == self.model) and (not self.status or task.status == self.status))

    def page_of(self, tasks: list[Task]) -> tuple[int, list[Task]]:
        """(how many match, the requested page of them newest first) of ``tasks`` given oldest first."""
        rows = [t for t in tasks if self.matches(t)]
        rows.sort(key=lambda t: t.created_at, reverse=True)
        start = (self.page - 1) * self.page_size
        return len(rows), rows[start:start + self.page_size]
