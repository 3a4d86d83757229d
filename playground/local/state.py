"""The local service as one object: the catalogue, accounts and billing, tasks, uploads and the scheduler behind one
lock.

A thin facade over :mod:`.catalogue`, :mod:`.accounts`, :mod:`.billing`, :mod:`.tasks`, :mod:`.uploads`,
:mod:`.outputs` and :mod:`.scheduler`, so the server has one thing to call. It speaks in domain terms: it returns
plain data (:class:`TaskView`, :class:`Upload`) and raises :class:`~.errors.ServiceError`; the server alone knows
HTTP statuses and URLs.

Thread model: HTTP handlers (the uvicorn thread) call in briefly under one condition lock, which the scheduler's
thread waits on. Keys are never stored: accounts are named by a digest of the key.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .accounts import Accounts
from .billing import BillingBook, BillingQuery
from .catalogue import Catalogue, ModelEntry
from .config import LocalConfig
from .errors import InvalidRequest
from .faults import FaultPlan
from .history import HistoryQuery
from .outputs import LoadInput, LoadVideo, Outputs
from .scheduler import CANCELLED_MESSAGE, TIMEOUT_CODE, TIMEOUT_MESSAGE, Scheduler, fault_message
from .tasks import Task, TaskBook, TaskState, TaskView
from .uploads import UploadStore
from .webhooks import WebhookSecrets

log = logging.getLogger(__name__)


class LocalState:
    """All state of one local API server. Start with :meth:`start`, end with :meth:`stop`.

    ``load_input(url, field, decode=True)`` reads a task's input image and ``load_video(url, field)`` the bytes of an
    input clip (the server knows its own URLs); ``notify(webhook, account, view)`` is called when a task submitted
    with a webhook ends (the lock held: keep it short).
    """

    def __init__(self, config: LocalConfig, faults: FaultPlan, *, load_input: LoadInput, load_video: LoadVideo,
                 notify: Callable[[str, str, TaskView], None] | None = None):
        self.config = config
        self.faults = faults
        self.catalogue = Catalogue.load(config.catalogue_path, config.extra_models)  # first: a bad entry stops here
        self._owns_dir = config.data_dir is None
        self.data_dir = Path(tempfile.mkdtemp(prefix="playground-local-")) if self._owns_dir else Path(config.data_dir)
        self.uploads_dir = self.data_dir / "uploads"
        self.outputs_dir = self.data_dir / "outputs"
        self.uploads_dir.mkdir(parents=True, exist_ok=True)
        self.outputs_dir.mkdir(parents=True, exist_ok=True)
        self._cond = threading.Condition()
        self.accounts = Accounts(config.balance, concurrency=config.concurrency, rpm=config.rpm)
        self.billing = BillingBook(faults)
        self.tasks_book = TaskBook()
        self.uploads = UploadStore(self.uploads_dir, max_bytes=config.upload_max_bytes,
                                   ticket_seconds=config.upload_ticket_seconds,
                                   lifetime_seconds=config.upload_lifetime_seconds)
        self.outputs = Outputs(self.outputs_dir, mode=config.render, load_input=load_input, load_video=load_video)
        self.scheduler = Scheduler(self._cond, self.accounts, self.billing, self.outputs, timing=config.timing,
                                   speed=config.speed, jitter=config.jitter, workers=config.render_workers,
                                   on_end=self._ended)
        self._notify = notify
        self.webhook_secrets = WebhookSecrets(config.webhook_secrets)

    # --- life cycle ---

    def start(self) -> None:
        self.scheduler.start()

    def stop_accepting(self) -> None:
        """Mark the server as stopping: held sync-mode replies return and the scheduler ends."""
        self.scheduler.stop_accepting()

    def stop(self) -> None:
        self.scheduler.stop()
        if self._owns_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    @property
    def stopping(self) -> bool:
        return self.scheduler.stopping

    def _ended(self, task: Task) -> None:
        if task.webhook and self._notify is not None:
            self._notify(task.webhook, task.account, task.view())

    # --- accounts ---

    def balance(self, account: str) -> float:
        with self._cond:
            return self.accounts.balance(account)

    def set_balance(self, account: str, usd: float) -> None:
        with self._cond:
            self.accounts.set_balance(account, usd)

    def check_rate(self, account: str) -> None:
        """Count one submit against the key's per-minute limit; RateLimited when over it."""
        now = time.monotonic()
        with self._cond:
            self.accounts.count_submit(account, now)

    def max_in_flight(self, account: str | None = None) -> int:
        with self._cond:
            return self.accounts.max_in_flight(account)

    # --- tasks ---

    def model(self, model_id: str) -> ModelEntry:
        """The catalogue's entry of ``model_id``; InvalidRequest naming it when there is none."""
        return self.catalogue.get(model_id)

    def quote(self, model_id: str, inputs: dict[str, Any]) -> tuple[float, float, float]:
        """(list price, price after discount, discount rate) of ``inputs``; omitted fields priced at their defaults,
        unknown keys ignored; InvalidRequest naming a field whose value the schema refuses."""
        entry = self.model(model_id)
        checked = entry.accept(inputs, partial=True)
        if checked.problems:
            raise InvalidRequest("; ".join(checked.problems))
        listed = entry.list_price(checked.kept)
        rate = self.config.discounts.get(model_id, 0.0)
        return listed, round(listed * (1 - rate), 6), rate

    def submit(self, account: str, model: str, inputs: dict[str, Any], *, webhook: str | None = None) -> TaskView:
        """Validate, price, charge and queue one task; InvalidRequest or InsufficientCredits (nothing charged).

        ``webhook``: where the server posts the task once it ends (see ``notify``).
        """
        task = Task.create(account, self.model(model), inputs, discount=self.config.discounts.get(model, 0.0))
        task.webhook = webhook
        with self._cond:
            self.accounts.charge(account, task.price)
            self.billing.deduct(task)
            task.planned_end = self._planned_end()
            task.nsfw = self.faults.take("task", ("nsfw",)) is not None
            self.tasks_book.add(task)
            self.scheduler.enqueue(task)
            view = task.view()
        plan = task.plan
        log.info("task %s created: %s (%s) %s %ss seed %s, $%.4f held", task.id, model, plan.kind, plan.resolution,
                 plan.duration, plan.seed, task.price)
        return view

    def _planned_end(self) -> tuple[TaskState, int | None, str] | None:
        """How an injected task fault (fail, cancelled, timeout) will end the next task, if one fires."""
        fault = self.faults.take("task", ("fail", "cancelled", "timeout"))
        if fault is None:
            return None
        if fault.action == "cancelled":
            return TaskState.CANCELLED, None, CANCELLED_MESSAGE
        if fault.action == "timeout":
            return TaskState.TIMEOUT, TIMEOUT_CODE, TIMEOUT_MESSAGE
        return TaskState.FAILED, fault.code, fault_message(fault.code)

    def get(self, account: str, task_id: str) -> TaskView:
        """The task ``task_id`` of ``account``; NotFound otherwise."""
        with self._cond:
            return self.tasks_book.owned(account, task_id).view()

    def status(self, task_id: str) -> str | None:
        with self._cond:
            task = self.tasks_book.get(task_id)
            return task.status if task else None

    def finished_at(self, task_id: str) -> float | None:
        """``time.monotonic()`` when the task ended, for measuring clients' lag; None while it runs."""
        with self._cond:
            task = self.tasks_book.get(task_id) or self.tasks_book.deleted(task_id)
            return task.finished if task else None

    def tasks(self) -> list[TaskView]:
        """Every task, oldest first."""
        with self._cond:
            return [t.view() for t in self.tasks_book]

    def history(self, account: str, query: HistoryQuery) -> tuple[int, list[TaskView]]:
        """(how many of ``account``'s tasks match, the requested page of them, newest first)."""
        with self._cond:
            total, page = query.page_of(self.tasks_book.of_account(account))
            return total, [t.view() for t in page]

    def billings(self, account: str, query: BillingQuery) -> tuple[int, list[dict[str, Any]]]:
        """(how many of ``account``'s billing rows match, the requested page of them)."""
        with self._cond:
            return self.billing.search(account, query)

    def delete(self, account: str, ids: Any) -> dict[str, int]:
        """Remove ``account``'s predictions among ``ids`` from history for good; others' and unknown ids are
        ignored. A running task runs on, charged as before: deleting neither stops nor refunds anything."""
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise InvalidRequest(f"ids: expected a list of prediction ids, got {ids!r}")
        deleted = 0
        with self._cond:
            for task_id in dict.fromkeys(ids):
                task = self.tasks_book.get(task_id)
                if task is None or task.account != account:
                    continue
                self.tasks_book.remove(task)
                if task.terminal and task.owns_output and task.output is not None:
                    task.output.unlink(missing_ok=True)
                deleted += 1
        if deleted:
            log.info("delete: %d predictions removed from history", deleted)
        return {"deleted_count": deleted}

    def output_path(self, task_id: str) -> Path | None:
        """The output file of ``task_id`` that may be served now, else None.

        A task of this run serves its output once completed; an id this run does not know serves a file a previous
        run left in ``data_dir``, if any.
        """
        with self._cond:
            if self.tasks_book.was_deleted(task_id):
                return None
            task = self.tasks_book.get(task_id)
            if task is not None:
                path = task.output if task.status == "completed" else None
                return path if path is not None and path.is_file() else None
        path = self.outputs.path_for(task_id)
        return path if path.is_file() else None

