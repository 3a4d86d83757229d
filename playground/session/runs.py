"""Runs of a visitor: a batch or any list of jobs on one image through the one Runner, with the session's cancel, the
caps and the ledger; what the status line says while it runs and after it stopped."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..caps import CapGuard
from ..client import Client
from ..contract import VideoRequest, get_model
from ..errors import Cancelled, WaveSpeedError
from ..pipeline import Result, read_media
from ..pipeline.charges import settle_outcomes
from ..pricing import format_usd
from ..progress import job_fraction
from ..runner import END_PHASES, RunEvent, Runner
from ..status import REUSED
from .form import MAX_BATCH, RunForm, batch_requests
from .payers import Payer

log = logging.getLogger(__name__)

StatusHook = Callable[[float | None, str], None]
"""``on_status(fraction, line)``: a 0..1 figure (None when unknown) and a status line, about twice a second."""


@dataclass
class RunOutcome:
    """What a (batch) run produced: results in order, errors of the jobs that failed, and whether it was cancelled."""

    results: list[Result] = field(default_factory=list)
    errors: list[WaveSpeedError] = field(default_factory=list)
    cancelled_jobs: list[int] = field(default_factory=list)
    wall_s: float = 0.0


def progress_line(latest: Mapping[int, Any], total: int, done: int, elapsed: float) -> tuple[float | None, str]:
    """A progress fraction and a status line for a run of ``total`` jobs: the leading job's phase, the elapsed
    time and its estimate. ``latest`` holds each job's last event by index: anything with ``phase``, ``elapsed``
    and ``estimate`` (a pipeline ProgressEvent, a runner RunEvent).

    >>> progress_line({}, 1, 0, 3.2)
    (0.0, 'starting · 3 s')
    """
    events = list(latest.values())
    if not events:
        return 0.0, f"starting · {elapsed:.0f} s"
    lead = max(events, key=lambda e: e.elapsed)
    estimate = f" of ~{lead.estimate:.0f} s" if lead.estimate else ""
    line = f"{lead.phase} · {elapsed:.0f} s{estimate}"
    if total > 1:
        line = f"{done} of {total} done · {line}"
    fractions = [f for f in (job_fraction(e.phase, e.elapsed, e.estimate) for e in events) if f is not None]
    return (sum(fractions) / total if fractions else None), line


class Runs:
    """The part of :class:`~playground.session.Playground` that runs jobs and stops them."""

    def run(self, image: Any, prompt: str | None, last_image: Any, params: dict, *, batch: int, payer: Payer,
            session: str, on_status: StatusHook | None = None, visitor: str = "", model: Any = None,
            owner: str | None = None) -> RunOutcome:
        """Run ``batch`` jobs of ``params`` at once (seeds randomised when more than one): :meth:`run_form` for a
        script that has the image's path and the model's fields rather than a form."""
        runs = max(1, min(MAX_BATCH, int(batch or 1)))
        try:
            requests = batch_requests(self.model if model is None else model, prompt, params, runs,
                                      has_last_image=last_image is not None)
        except WaveSpeedError as exc:  # as a run whose every job failed alike, nothing sent
            return self._outcome([exc] * runs, 0.0)
        return self.run_requests(image, last_image, requests, payer=payer, session=session, on_status=on_status,
                                 visitor=visitor, owner=owner)

    def run_form(self, form: RunForm, *, payer: Payer, session: str, on_status: StatusHook | None = None,
                 visitor: str = "", owner: str | None = None) -> RunOutcome:
        """Run what ``form`` asks for: its images checked (a bad one is refused, ValidationError, before anything is
        sent), then read once into :class:`~playground.contract.VideoRequest` s (see :meth:`RunForm.requests`)."""
        source, last = self.sources(form)
        extra = self.extra_media(form)  # a clip to extend, a sound, reference pictures: checked like the image
        given = [name for name, value in (("image", source), ("last_image", last)) if value is not None]
        runs = form.runs
        try:
            requests = form.requests(has_last_image=last is not None, default_model=self.model,
                                     media=[*given, *extra])
        except WaveSpeedError as exc:  # as a run whose every job failed alike, nothing sent
            return self._outcome([exc] * runs, 0.0)
        media = {"image": source, "last_image": last, **extra} if extra else None
        return self.run_requests(source, last, requests, payer=payer, session=session, on_status=on_status,
                                 visitor=visitor, owner=owner, media=media)

    def run_requests(self, image: Any, last_image: Any, requests: list[VideoRequest], *, payer: Payer, session: str,
                     on_status: StatusHook | None = None, visitor: str = "", concurrency: int | None = None,
                     owner: str | None = None, media: dict[str, Any] | None = None,
                     on_events: Callable[[dict[int, RunEvent]], None] | None = None) -> RunOutcome:
        """Run ``requests`` on one image at once, at most ``concurrency`` at the API (default: all), with the
        session's cancel, the caps and the ledger (rows filed under ``owner``, default the session); results in
        input order. ``on_events`` sees each job's latest :class:`RunEvent` by index, about twice a second (a
        per-clip progress view). ``media`` gives the media by field instead of ``image`` and ``last_image`` (a clip
        to extend, say). A job served from the ledger gets a ``reused`` row of the owner's. Cancelling (see
        :meth:`cancel`) stops every wait at once; the jobs stay in the ledger for resume."""
        owner = owner or session
        cancel = threading.Event()
        with self._lock:
            self._cancels[session] = cancel
        guard: CapGuard | None = None
        if payer.capped:
            self.settle_late([payer])  # a refund that came since counts before the caps do
            guard = self.caps.guard(self.ledger, account=payer.account, session=owner, visitor=visitor)
        client = self.client(payer)
        t0 = time.monotonic()
        try:
            slots = self._run_requests(client, image, last_image, requests, cancel=cancel, guard=guard,
                                       payer=payer, session=owner, visitor=visitor, on_status=on_status,
                                       concurrency=concurrency or len(requests), on_events=on_events, media=media)
            slots = [self.note_reuse(slot, owner=owner, visitor=visitor, account=payer.account)
                     if isinstance(slot, Result) else slot for slot in slots]
        finally:
            if guard is not None:
                guard.release()
            with self._lock:
                if self._cancels.get(session) is cancel:
                    del self._cancels[session]
            client.close()
        return self._outcome(slots, time.monotonic() - t0)

    def note_reuse(self, result: Result, *, owner: str, visitor: str = "", account: str = "") -> Result:
        """A run served from the ledger becomes a row of ``owner`` 's own (status ``reused``, $0.00) so their History
        shows it; ``result`` comes back naming that row. Anything else comes back as it is."""
        if not result.reused:
            return result
        original = self.ledger.get(result.job_id)
        if original.status == REUSED and original.session == owner:
            return result
        if original.reused_from is not None:
            original = self.ledger.get(original.reused_from)
        row = self.ledger.record_reuse(original, account=account, session=owner, visitor=visitor)
        return dataclasses.replace(result, job_id=row)

    def _run_requests(self, client: Client, image: Any, last_image: Any, requests: list[VideoRequest], *,
                      cancel: threading.Event, guard: CapGuard | None, payer: Payer, session: str, visitor: str,
                      on_status: StatusHook | None, concurrency: int,
                      on_events: Callable[[dict[int, RunEvent]], None] | None = None,
                      media: dict[str, Any] | None = None) -> list[Result | WaveSpeedError]:
        """Run each of ``requests`` through the one :class:`~playground.runner.Runner` (a batch is a run of seeds,
        like a sweep); results or errors in input order, the status about twice a second.

        The images are checked once, before anything is sent: a bad one fails every job alike.
        """
        try:
            kinds = {p.name: p.kind for r in requests for p in get_model(r.model).media_fields}
            if media is None and image is None and not any(get_model(r.model).has("image") for r in requests):
                media = {}  # text-to-video: no media at all
            media = read_media(image, last_image, media=media, kinds=kinds, client=client, ledger=self.ledger,
                               public=self.caps.public)
        except WaveSpeedError as exc:
            return [exc] * len(requests)
        events: queue.SimpleQueue[RunEvent] = queue.SimpleQueue()
        runner = Runner(client, self.ledger, concurrency=concurrency, workers=min(8, 2 * concurrency),
                        on_event=events.put, cancel=cancel, guard=guard, session=session, account=payer.account,
                        visitor=visitor, webhook_url=self.webhook_for(payer), webhooks=self.webhooks)
        slots: list[list[Result | WaveSpeedError]] = []
        t0 = time.monotonic()

        def work() -> None:
            try:
                slots.append(runner.run([(request, media) for request in requests]))
                settle_outcomes(client, self.ledger, slots[-1])  # what the API really charged, onto History
            except Exception as exc:  # noqa: BLE001 - a bug must reach the page as a sentence, not a traceback
                log.exception("a run failed unexpectedly")
                slots.append([WaveSpeedError(f"Something went wrong in the playground ({type(exc).__name__}); "
                                             "anything sent is in History.")] * len(requests))

        thread = threading.Thread(target=work, name="run", daemon=True)
        thread.start()
        latest: dict[int, RunEvent] = {}
        ended: set[int] = set()
        while thread.is_alive():
            thread.join(0.5)
            while not events.empty():
                event = events.get()
                latest[event.index] = event
                if event.phase in END_PHASES:
                    ended.add(event.index)
            if on_status is not None:
                on_status(*progress_line(latest, len(requests), len(ended), time.monotonic() - t0))
            if on_events is not None:
                on_events(dict(latest))
        return slots[0]

    def _outcome(self, slots: list[Result | WaveSpeedError], wall_s: float) -> RunOutcome:
        outcome = RunOutcome(wall_s=wall_s)
        for slot in slots:
            if isinstance(slot, Result):
                outcome.results.append(slot)
            elif isinstance(slot, Cancelled):
                outcome.cancelled_jobs.append(slot.job_id or 0)
            elif isinstance(slot, WaveSpeedError):
                outcome.errors.append(slot)
        return outcome

    def cancel(self, session: str) -> bool:
        """Stop this session's waits at once. Returns whether a run was in flight."""
        with self._lock:
            event = self._cancels.get(session)
        if event is None:
            return False
        event.set()
        return True

    @contextlib.contextmanager
    def cancellable(self, session: str) -> Iterator[threading.Event]:
        """A cancel event for a run of ``session`` (a sweep, say) that :meth:`cancel` sets; forgotten afterwards."""
        event = threading.Event()
        with self._lock:
            self._cancels[session] = event
        try:
            yield event
        finally:
            with self._lock:
                if self._cancels.get(session) is event:
                    del self._cancels[session]

    def forget(self, session: str) -> None:
        with self._lock:
            self._cancels.pop(session, None)

    def refuse(self, session: str, exc: WaveSpeedError, *, owner: str | None = None,
               since: float | None = None) -> WaveSpeedError:
        """Keep why ``session``'s run stopped for its status line (a toast may be missed or gone), and whether it
        sent anything: a request of ``owner`` 's sent at or after ``since`` (a wall-clock time; None: not known, so
        assume so). Returns ``exc``."""
        sent = since is None or self.sent_since(owner or session, since) > 0
        with self._lock:
            self._failures[session] = (str(exc), sent)
        return exc

    def sent_since(self, owner: str, since: float) -> int:
        """How many of ``owner`` 's requests were sent at or after ``since`` (wall-clock seconds)."""
        return sum(1 for j in self.ledger.jobs(limit=64, session=owner) if j.sent_at and j.sent_at >= since)

    def stopped_line(self, session: str, *, owner: str | None = None, within_s: float = 600.0) -> str:
        """The status line after a run stopped: why, in one sentence, and "Anything that was sent is in History."
        only when something was; for a paid video the page could not show, where it is (History, and the path on a
        private machine)."""
        with self._lock:
            reason, sent = self._failures.pop(session, ("", False))
        if reason:
            return f"Stopped: {reason.rstrip('.')}." + (" Anything that was sent is in History." if sent else "")
        recent = [j for j in self.ledger.jobs(limit=5, session=owner or session)
                  if time.time() - j.updated_at < within_s]
        shown = next((j for j in recent if j.has_video), None)
        if shown is not None:
            where = "" if self.caps.public else f" (on this machine: {shown.video_path})"
            return (f"Stopped: job {shown.id}'s video was made ({format_usd(shown.cost)}) but could not be shown "
                    f"here. History has it{where}: pick it and press \"Show / download again\".")
        if any(j.sent_at for j in recent):
            return "Stopped: something went wrong in the playground. Anything that was sent is in History."
        return "Stopped: something went wrong in the playground; nothing was sent."
