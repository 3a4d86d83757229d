"""Tasks of the local service: the life cycle as an explicit state type, one task's record, and the task book.

    created ──> processing ──> completed | failed | timeout
       └──────────┴──────────> cancelled (by the service)

Failed, timed-out and cancelled tasks are refunded. Deleting a prediction only takes it out of the book (history
and result): the task itself runs on and stays charged.

:meth:`Task.move` is the one place a task changes state and the one place the allowed moves are checked.
A :class:`TaskView` is what leaves the service: plain data, no URLs (the server composes those).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from playground import status

from .catalogue import ModelEntry, RenderPlan
from .errors import InvalidRequest, NotFound

log = logging.getLogger(__name__)


class TaskState(str, Enum):
    """A task's life cycle at the service, named by the API's own statuses (one vocabulary: playground.status)."""

    CREATED = status.CREATED
    PROCESSING = status.PROCESSING
    COMPLETED = status.COMPLETED
    FAILED = status.FAILED
    CANCELLED = status.CANCELLED
    TIMEOUT = status.TIMEOUT

    @property
    def terminal(self) -> bool:
        return not TRANSITIONS[self]


TRANSITIONS: dict[TaskState, frozenset[TaskState]] = {
    TaskState.CREATED: frozenset({TaskState.PROCESSING, TaskState.CANCELLED}),
    TaskState.PROCESSING: frozenset({TaskState.COMPLETED, TaskState.FAILED, TaskState.CANCELLED, TaskState.TIMEOUT}),
    TaskState.COMPLETED: frozenset(),
    TaskState.FAILED: frozenset(),
    TaskState.CANCELLED: frozenset(),
    TaskState.TIMEOUT: frozenset(),
}
TERMINAL = frozenset(s.value for s in TaskState if s.terminal)
REFUNDED = frozenset({TaskState.FAILED, TaskState.CANCELLED, TaskState.TIMEOUT})  # the price goes back


class IllegalTransition(RuntimeError):
    """A bug in the service: a task was asked to move where its life cycle does not go."""


@dataclass(frozen=True)
class TaskView:
    """A task as the API shows it, without URLs."""

    id: str
    model: str
    status: str
    created_at: float  # epoch
    error: str
    code: int | None
    nsfw: bool
    inference_ms: int
    input: dict[str, Any]

    @property
    def completed(self) -> bool:
        return self.status == TaskState.COMPLETED.value


@dataclass
class Task:
    """One prediction and everything the service needs to run it."""

    id: str
    model: str
    account: str
    input: dict[str, Any]  # the submit's fields the model knows (unknown keys are dropped, as the real server does)
    params: dict[str, Any]  # input with the model's defaults filled in and the seed resolved
    plan: RenderPlan
    list_price: float  # before any discount
    price: float  # what was charged
    created_at: float  # epoch
    state: TaskState = TaskState.CREATED
    error: str = ""
    code: int | None = None
    nsfw: bool = False
    planned_end: tuple[TaskState, int | None, str] | None = None  # an injected fault: how the task will end
    started: float | None = None  # monotonic
    due: float | None = None  # monotonic: the earliest end in realistic timing
    finished: float | None = None  # monotonic
    ended_at: float | None = None  # epoch
    # What making the output gave: COMPLETED with no code, else how the task ends (state, code, message).
    outcome: tuple[TaskState, int | None, str] | None = None
    output: Path | None = None  # the file served once completed
    owns_output: bool = True  # False when the file is shared (protocol mode): never removed with the task
    webhook: str | None = None  # the submitter's URL to call when the task ends
    deleted: bool = False  # taken out of history by its owner; it runs on, and its output is never served
    order: str = ""  # the billing order of its charge

    @classmethod
    def create(cls, account: str, entry: ModelEntry, inputs: dict[str, Any], *, discount: float = 0.0) -> Task:
        """A new task from a submit's body; InvalidRequest naming every problem when the model's schema refuses it.

        Keys the schema does not have are dropped and the task is priced with defaults, as the real server does.
        """
        checked = entry.accept(inputs)
        if checked.problems:
            raise InvalidRequest("; ".join(checked.problems))
        if checked.dropped:
            log.info("submit to %s: unknown keys dropped: %s", entry.model_id, ", ".join(checked.dropped[:20]))
        params = entry.resolve_seed(entry.with_defaults(checked.kept))
        list_price = entry.list_price(checked.kept)
        price = round(list_price * (1 - discount), 6)
        return cls(uuid.uuid4().hex, entry.model_id, account, dict(checked.kept), params, entry.render_plan(params),
                   list_price, price, time.time(), order=uuid.uuid4().hex)

    @property
    def status(self) -> str:
        return self.state.value

    @property
    def terminal(self) -> bool:
        return self.state.terminal

    def move(self, to: TaskState, *, code: int | None = None, error: str = "") -> None:
        """Change state along the life cycle, stamping start and end times; IllegalTransition otherwise."""
        if to not in TRANSITIONS[self.state]:
            raise IllegalTransition(f"task {self.id}: {self.state.value} -> {to.value} is not a move of its life cycle")
        now = time.monotonic()
        self.state = to
        if to is TaskState.PROCESSING:
            self.started = now
        if to.terminal:
            self.finished = now
            self.ended_at = time.time()
            self.code = code
            self.error = error

    def view(self) -> TaskView:
        inference_ms = 0
        if self.started is not None and self.finished is not None:
            inference_ms = int(round((self.finished - self.started) * 1000))
        return TaskView(self.id, self.model, self.status, self.created_at, self.error, self.code, self.nsfw,
                        inference_ms, self.input)


class TaskBook:
    """Every task of one server, by id and by account in creation order (not locked: the service's lock is held)."""

    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}
        self._by_account: dict[str, dict[str, Task]] = {}
        self._deleted: dict[str, Task] = {}  # out of history, kept for the service's own bookkeeping

    def add(self, task: Task) -> None:
        self._tasks[task.id] = task
        self._by_account.setdefault(task.account, {})[task.id] = task

    def get(self, task_id: str) -> Task | None:
        return self._tasks.get(task_id)

    def owned(self, account: str, task_id: str) -> Task:
        """The task ``task_id`` of ``account``; NotFound when there is none (another key's task counts as none)."""
        task = self._tasks.get(task_id)
        if task is None or task.account != account:
            raise NotFound("Prediction not found")
        return task

    def remove(self, task: Task) -> None:
        """Take ``task`` out of history and results for good (the scheduler may still hold it)."""
        task.deleted = True
        self._tasks.pop(task.id, None)
        self._by_account.get(task.account, {}).pop(task.id, None)
        self._deleted[task.id] = task

    def was_deleted(self, task_id: str) -> bool:
        return task_id in self._deleted

    def deleted(self, task_id: str) -> Task | None:
        """A task its owner deleted from history (it may still be running)."""
        return self._deleted.get(task_id)

    def __iter__(self) -> Iterator[Task]:
        return iter(self._tasks.values())

    def of_account(self, account: str) -> list[Task]:
        """``account``'s tasks, oldest first."""
        return list(self._by_account.get(account, {}).values())
