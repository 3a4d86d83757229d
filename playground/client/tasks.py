"""The task endpoints (submit once, get, wait) and the :class:`Client` that joins the rooms of the package.

>>> client = Client(api_key="...", base_url="http://127.0.0.1:8000")   # doctest: +SKIP
>>> pred = client.submit(SPICY, {"image": url, "resolution": "480p"})    # doctest: +SKIP
>>> pred = client.wait(pred.id)                                          # doctest: +SKIP
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from ..contract import validate
from ..errors import Cancelled, SubmitOutcomeUnknown, TaskTimeout, ValidationError
from .account import Account
from .billing import Billing
from .catalogue import Models
from .polling import PollClock
from .prediction import Prediction, task_failed
from .reconcile import History
from .transfers import Transfers
from .transport import READ_TIMEOUT, log

UpdateHook = Callable[[Prediction], None]


class Client(Account, Billing, Models, History, Transfers):
    """A WaveSpeed-compatible API client on one ``requests.Session``: the task endpoints here, uploads and downloads
    (:class:`~playground.client.transfers.Transfers`), history and reconcile
    (:class:`~playground.client.reconcile.History`), balance, price and the webhook secret
    (:class:`~playground.client.account.Account`), over one :class:`~playground.client.transport.Transport`.

    ``api_key`` defaults to ``WAVESPEED_API_KEY``; ``base_url`` to ``WAVESPEED_BASE_URL`` or the real API.
    """

    def submit(self, model: str, params: dict[str, Any], *, webhook: str | None = None,
               validate_first: bool = True) -> Prediction:
        """POST the task once. Never retried: a lost reply raises SubmitOutcomeUnknown (see :meth:`reconcile`)."""
        if validate_first:
            self.model_spec(model)  # a model of this API's catalogue is looked up once
            problems = validate(model, params)
            if problems:
                raise ValidationError(problems)
        path = f"/api/v3/{model}"
        kw: dict[str, Any] = {"json": params}
        if webhook:
            kw["params"] = {"webhook": webhook}
        try:
            response = self._send("POST", path, kind="submit", timeout=READ_TIMEOUT["submit"], **kw)
            data = self._unwrap(response) if response.status_code < 500 else None
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            raise SubmitOutcomeUnknown(
                f"The submit reached the API but its reply was lost ({type(exc).__name__}): the task may exist and "
                "be charged. It was not re-sent; run resume or Client.reconcile() to find it.") from None
        if data is None:
            raise SubmitOutcomeUnknown(
                f"The API answered the submit with HTTP {response.status_code}: the task may or may not exist. It was "
                "not re-sent; run resume or Client.reconcile() to find it.", status=response.status_code)
        if not isinstance(data, dict) or not data.get("id"):
            raise SubmitOutcomeUnknown("The submit reply had no task id: it was not re-sent; run resume to look "
                                       "for the task.")
        pred = Prediction.from_api(data)
        log.info("submitted %s as task %s", model, pred.id)
        return pred

    def get(self, task_id: str) -> Prediction:
        """The task's current state (retried on transient failures)."""
        data = self._call("GET", f"/api/v3/predictions/{task_id}/result", kind="result", task_id=task_id)
        return Prediction.from_api(data or {})

    def wait(self, task_id: str, *, on_update: UpdateHook | None = None, timeout: float | None = None,
             expected: float | None = None, spread: float | None = None,
             cancel: threading.Event | None = None, raise_on_failure: bool = True) -> Prediction:
        """Poll until the task ends, on the package's one poll clock (:class:`~playground.client.PollClock`).
        ``on_update`` sees every poll's Prediction. A convenience for a bare task id: the playground's own jobs are
        waited for by :class:`playground.runner.Runner`, which also hears webhooks and learns as jobs finish.

        ``timeout`` stops waiting (TaskTimeout) and ``cancel`` stops it at once (Cancelled); in both cases the task
        goes on at the API and can be resumed by id.
        """
        start = time.monotonic()
        clock = PollClock(self.poll, expected, spread, start)
        while True:
            wake = time.monotonic() + clock.next_delay(time.monotonic())
            if timeout is not None:
                wake = min(wake, start + timeout)
            _sleep_until(wake, cancel)
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"Stopped waiting for task {task_id}; it may still finish at the API. Resume it "
                                "from the history to collect the video.", task_id=task_id)
            if timeout is not None and time.monotonic() - start >= timeout:
                raise TaskTimeout(f"Task {task_id} is not finished after {timeout:.0f} s of waiting; it goes on at "
                                  "the API. Resume it later to collect the video.", task_id=task_id)
            pred = self.get(task_id)
            clock.saw(pred.status, time.monotonic())
            if on_update is not None:
                on_update(pred)
            if pred.done:
                if raise_on_failure and not pred.completed:
                    raise task_failed(pred)
                return pred


def _sleep_until(deadline: float, cancel: threading.Event | None) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return
    if cancel is not None:
        cancel.wait(remaining)
    else:
        time.sleep(remaining)


__all__ = ["Client", "UpdateHook"]
