"""The playground's webhook receiver: ``POST /webhooks/wavespeed`` finishes jobs by push, even with nobody watching.

:meth:`WebhookReceiver.handle` takes a delivery's headers and raw body and answers at once (the work happens after,
on a small pool). It checks the signature with the secret of the key that submitted the task (the ledger row names
the account; the app's :class:`playground.webhooks.Webhooks` hold secrets in memory only), so an unsigned, forged,
tampered, stale, oversized or malformed delivery is refused (400/401/413) and changes nothing. A verified delivery
of a task the ledger does not know yet, while a request of that key was sent and its reply (the task id) is not
recorded, is answered 503 with ``Retry-After``: the service delivers it again, by when the id is recorded. Any other
verified delivery of an unknown task is acknowledged and ignored. Deliveries are recorded once in the ledger
(:meth:`playground.jobs.Ledger.record_delivery`), idempotent by task id across every process and replica sharing it.

A verified delivery wakes the run waiting for that task in this process at once (through the ``webhooks`` it shares
with the app's runs); a run waiting on another replica reads it from the ledger on its next look. Either downloads
the video with no result GET. When nobody waits here (the visitor closed the tab, or the app restarted since the
submit), the receiver hands the job to a :class:`~playground.runner.Runner` of its own, which records the end and
downloads the video (only one writer records an end, so a run elsewhere never downloads it a second time).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from .client import Client
from .errors import WaveSpeedError
from .jobs import Job, Ledger
from .pipeline import Runner
from .webhooks import MAX_BODY_BYTES, RECEIVER_PATH, WebhookRejected, Webhooks, task_id_of, verify

log = logging.getLogger(__name__)

# A verified delivery of an unknown task may be ours while a sent request of the same key has no task id recorded yet
# (its reply is on the way): it is answered 503 (retry) for this long after that send.
AWAITED_REPLY_S = 600.0
RETRY_AFTER_S = 2
# How long a delivery nobody waits for is held before the receiver finishes the job itself: a run that submitted a
# moment ago may not have registered its wait yet.
ORPHAN_GRACE_S = 2.0


@dataclass(frozen=True)
class Answer:
    """What to reply to a delivery."""

    status: int
    message: str
    retry_after: int = 0  # seconds, for a retryable refusal (503)


class WebhookReceiver:
    """Verifies deliveries and completes their jobs; see the module docstring.

    ``client_for(job)`` gives a client able to download ``job`` 's output (its backend); ``webhooks`` are the app's
    (the secrets its runs learned, the inbox they listen on); ``secret_for(account)`` may supply a secret they lack
    (e.g. fetched with the host's key after a restart).
    """

    def __init__(self, ledger: Ledger, *, client_for: Callable[[Job], Client], webhooks: Webhooks | None = None,
                 secret_for: Callable[[str], str | None] | None = None, grace: float = ORPHAN_GRACE_S,
                 workers: int = 4):
        self.ledger, self.client_for = ledger, client_for
        self.secret_for = secret_for
        self.webhooks = webhooks or Webhooks()
        self.secrets, self.inbox, self.grace = self.webhooks.secrets, self.webhooks.inbox, grace
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="webhook-receiver")
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.received = self.accepted = 0

    def handle(self, headers: Mapping[str, str], body: bytes) -> Answer:
        """Check one delivery and answer at once; a verified one is completed in the background."""
        with self._lock:
            self.received += 1
        if len(body) > MAX_BODY_BYTES:
            return Answer(413, f"webhook: the body is over {MAX_BODY_BYTES} bytes")
        task_id = task_id_of(body)
        if task_id is None:
            return Answer(400, "webhook: the body is not a JSON prediction with an id")
        job = self.ledger.by_request_id(task_id)
        try:
            if job is None:
                return self._unknown(headers, body)
            secret = self._secret(job.account)
            if not secret:
                return Answer(401, "webhook: no secret is known for the key that submitted this task")
            prediction = verify(secret, headers, body)
        except WebhookRejected as exc:
            log.warning("webhook refused: %s", exc)
            return Answer(exc.status or 401, str(exc))
        # Recorded once in the ledger, whichever process or replica it reaches: repeats are acknowledged, never redone.
        if not self.ledger.record_delivery(task_id, prediction):
            return Answer(200, "duplicate: already handled")
        with self._lock:
            self.accepted += 1
        try:
            self._pool.submit(self._complete, job.id, prediction)
        except RuntimeError:  # shutting down: the service will deliver again, or resume collects it
            return Answer(503, "webhook: the receiver is stopping")
        return Answer(200, "accepted")

    def _unknown(self, headers: Mapping[str, str], body: bytes) -> Answer:
        for account, secret in self.secrets.items():
            try:
                verify(secret, headers, body)
            except WebhookRejected:
                continue
            if self.ledger.sent_without_task(account, since=time.time() - AWAITED_REPLY_S):
                # The submit's reply may still be on its way: refuse for now so the service delivers it again.
                return Answer(503, "webhook: the task is not recorded here yet; deliver it again",
                              retry_after=RETRY_AFTER_S)
            return Answer(200, "ignored: not a task of this playground")
        raise WebhookRejected("webhook: the task is unknown here and the signature matches no known key", status=401)

    def _secret(self, account: str) -> str | None:
        secret = self.secrets.get(account)
        if not secret and self.secret_for is not None:
            secret = self.secret_for(account)
            if secret:
                self.secrets.set(account, secret)
        return secret

    def _complete(self, job_id: int, prediction: dict) -> None:
        try:
            if self.inbox.deliver(prediction):
                return  # the waiting run downloads it
            if self._stopping.wait(self.grace) or self.inbox.taken(prediction["id"]):
                return
            job = self.ledger.get(job_id)
            if job.has_video:
                return
            client = self.client_for(job)
            try:
                # Its first look finds the delivery in the ledger: no result GET.
                (outcome,) = Runner(client, self.ledger, webhooks=self.webhooks, probe_output=False).resume([job])
            finally:
                client.close()
            if isinstance(outcome, WaveSpeedError):
                log.warning("job %s: completing it from its webhook failed: %s; resume collects it", job_id, outcome)
            else:
                log.info("job %s completed by webhook with nobody waiting", job_id)
        except WaveSpeedError as exc:
            log.warning("job %s: completing it from its webhook failed: %s; resume collects it", job_id, exc)
        except Exception:  # noqa: BLE001 - a bug here must not kill the pool; the job stays for resume
            log.exception("job %s: completing it from its webhook failed", job_id)

    def stop(self) -> None:
        self._stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=True)


def add_receiver(app: FastAPI, receiver: WebhookReceiver, path: str = RECEIVER_PATH) -> None:
    """Serve ``receiver`` at ``POST path`` in ``app`` (any FastAPI app), stopping it with the app."""
    app.state.receiver = receiver

    @app.post(path, include_in_schema=False)
    async def webhook(request: Request) -> JSONResponse:
        body = await _read_at_most(request, MAX_BODY_BYTES)
        if body is None:
            return JSONResponse({"message": f"webhook: the body is over {MAX_BODY_BYTES} bytes"}, status_code=413)
        answer = await run_in_threadpool(receiver.handle, dict(request.headers), body)
        headers = {"Retry-After": str(answer.retry_after)} if answer.retry_after else None
        return JSONResponse({"message": answer.message}, status_code=answer.status, headers=headers)

    app.router.on_shutdown.append(receiver.stop)


async def _read_at_most(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is over ``limit`` bytes (never read whole)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


__all__ = ["WebhookReceiver", "Answer", "ORPHAN_GRACE_S", "AWAITED_REPLY_S", "add_receiver"]
