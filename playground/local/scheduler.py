"""The scheduler of the local service: moves tasks created -> processing -> ended, and runs their outputs in a pool.

One thread waits on the service's condition. A created task waits in its account's queue until the account has a
free slot; then it processes, its output is made in a worker pool (or its injected failure is decided at once), and
it ends when the output is ready and, in realistic timing, its modelled inference time has passed. Every step costs
O(1) per task (queues per account, a heap of due times), so thousands of tasks stay cheap.
"""

from __future__ import annotations

import collections
import heapq
import itertools
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from playground import contract

from .accounts import Accounts
from .billing import BillingBook
from .inputs import InputError
from .outputs import Outputs
from .tasks import REFUNDED, Task, TaskState

log = logging.getLogger(__name__)

# Messages of tasks failed by an injected fault; real texts are undocumented, so these say what happened plainly.
FAULT_MESSAGES: dict[int, str] = {
    1200: "Content moderation: the input or the generated video was flagged as violating the content policy "
          "(injected fault)",
    1400: "A required parameter is missing (injected fault)",
    1401: "A parameter is invalid (injected fault)",
    1402: "image: the media URL could not be fetched (injected fault)",
    1403: "Execution failed (injected fault)",
    1405: "Execution failed (injected fault)",
    5000: "Internal error at the model server; try again later (injected fault)",
    5003: "The model is unavailable right now; try again later (injected fault)",
    5004: "The task timed out at the model server (injected fault)",
}


CANCELLED_MESSAGE = "The task was cancelled by the service; it was refunded (injected fault)"
TIMEOUT_CODE = 5004
TIMEOUT_MESSAGE = "The task timed out at the model server; it was refunded (injected fault)"


def fault_message(code: int) -> str:
    return FAULT_MESSAGES.get(code, f"Task failed with code {code} (injected fault)")


class Scheduler:
    """Runs the tasks of one server. Every method but :meth:`start` and :meth:`stop` expects ``cond`` to be held.

    ``on_end`` is called (``cond`` held) with each task that ends, while the server is not stopping.
    """

    def __init__(self, cond: threading.Condition, accounts: Accounts, billing: BillingBook, outputs: Outputs, *,
                 timing: str, speed: float, jitter: float, workers: int,
                 on_end: Callable[[Task], None] | None = None):
        self._cond = cond
        self._accounts = accounts
        self._billing = billing
        self._outputs = outputs
        self._timing = timing
        self._speed = speed
        self._jitter = jitter
        self._jitter_rng = random.Random()
        self.on_end = on_end
        self.stopping = False
        self._waiting: dict[str, collections.deque[Task]] = {}  # per account, oldest first
        self._ready: collections.deque[Task] = collections.deque()  # processing, output decided
        self._due: list[tuple[float, int, Task]] = []  # processing, output ready, waiting for the modelled time
        self._order = itertools.count()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="playground-local-render")
        self._thread = threading.Thread(target=self._run, name="playground-local-scheduler", daemon=True)

    # --- life cycle ---

    def start(self) -> None:
        self._thread.start()

    def stop_accepting(self) -> None:
        with self._cond:
            self.stopping = True
            self._cond.notify_all()

    def stop(self) -> None:
        """End the thread, then let running outputs finish and drop queued ones."""
        self.stop_accepting()
        if self._thread.is_alive():
            self._thread.join()
        self._pool.shutdown(wait=True, cancel_futures=True)

    # --- called by the service (cond held) ---

    def enqueue(self, task: Task) -> None:
        self._waiting.setdefault(task.account, collections.deque()).append(task)
        self._cond.notify_all()

    # --- the thread ---

    def _run(self) -> None:
        with self._cond:
            while not self.stopping:
                now = time.monotonic()
                # Ending a task frees a slot and starting one may end it at once (injected failures): repeat.
                while self._finish_ready(now) | self._start_waiting(now):
                    pass
                timeout = max(0.0, self._due[0][0] - now) if self._due else None
                self._cond.wait(timeout)

    def _finish_ready(self, now: float) -> bool:
        finished = False
        while self._ready:
            task = self._ready.popleft()
            if task.state is not TaskState.PROCESSING:
                continue
            to, code, message = task.outcome
            # A failure or a cancellation ends at once; a completion or a timeout waits for its modelled time.
            if to in (TaskState.FAILED, TaskState.CANCELLED) or task.due is None or now >= task.due:
                self._end(task, to, code=code, error=message)
                finished = True
            else:
                heapq.heappush(self._due, (task.due, next(self._order), task))
        while self._due and self._due[0][0] <= now:
            task = heapq.heappop(self._due)[2]
            if task.state is TaskState.PROCESSING:
                to, code, message = task.outcome
                self._end(task, to, code=code, error=message)
                finished = True
        return finished

    def _start_waiting(self, now: float) -> bool:
        started = False
        for account in list(self._waiting):
            queue = self._waiting[account]
            while queue and self._accounts.has_slot(account):
                task = queue.popleft()
                if task.state is TaskState.CREATED:  # else cancelled while it waited
                    self._begin(task, now)
                    started = True
            if not queue:
                del self._waiting[account]
        return started

    def _begin(self, task: Task, now: float) -> None:
        task.move(TaskState.PROCESSING)
        self._accounts.occupy(task.account)
        if self._timing == "realistic":
            modelled = contract.typical_inference_seconds(task.plan.resolution, task.plan.duration)
            spread = self._jitter
            task.due = now + modelled * self._speed * self._jitter_rng.uniform(1 - spread, 1 + spread)
        if task.planned_end is not None:
            task.outcome = task.planned_end
            self._ready.append(task)
        else:
            self._pool.submit(self._make_output, task)
        log.info("task %s processing", task.id)

    def _end(self, task: Task, to: TaskState, *, code: int | None, error: str) -> None:
        """Move ``task`` to a terminal state; failed, timed-out and cancelled tasks are refunded."""
        was_processing = task.state is TaskState.PROCESSING
        task.move(to, code=code, error=error)
        if was_processing:
            self._accounts.release(task.account)
        if to in REFUNDED:
            self._accounts.refund(task.account, task.price)
            self._billing.refund(task)
        if task.deleted and task.owns_output and task.output is not None:
            task.output.unlink(missing_ok=True)  # out of history: nobody may fetch it
        log.info("task %s %s%s", task.id, to.value, f" (code {code}: {error})" if code else "")
        if self.on_end is not None and not self.stopping:
            self.on_end(task)
        self._cond.notify_all()

    # --- the pool ---

    def _make_output(self, task: Task) -> None:
        if self.stopping or task.state is not TaskState.PROCESSING:
            return
        output: tuple = (None, False)
        try:
            output = self._outputs.make(task)
            outcome: tuple[TaskState, int | None, str] = (TaskState.COMPLETED, None, "")
        except InputError as exc:
            outcome = (TaskState.FAILED, exc.code, str(exc))
        except Exception as exc:  # a render bug must end the task, not the worker
            log.exception("task %s: render failed", task.id)
            outcome = (TaskState.FAILED, 5000, f"internal error while rendering: {exc}")
        path, owned = output
        with self._cond:
            task.outcome = outcome
            task.output, task.owns_output = path, owned
            if task.state is TaskState.PROCESSING:
                self._ready.append(task)
                self._cond.notify_all()
            elif path is not None and owned:  # ended meanwhile: nobody will fetch the file
                path.unlink(missing_ok=True)
