"""What the local API remembers and does: accounts, tasks and their life cycle, uploads, rendering.

Thread model: HTTP handlers (the uvicorn thread) call in briefly under one condition lock. A scheduler thread moves
tasks from "created" to "processing" when their key has a free slot and ends them when their render (run in a
ThreadPoolExecutor) is done and, in realistic timing, the modelled inference time has passed.
Keys are never stored: accounts are named by a digest of the key.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import logging
import math
import mimetypes
import random
import re
import secrets
import shutil
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from playground import contract, pricing

from .config import LocalConfig
from .faults import FaultPlan
from .inputs import FetchPolicy, InputError, is_loopback, load_image

log = logging.getLogger(__name__)

TERMINAL = ("completed", "failed", "cancelled", "timeout")
HISTORY_STATUSES = ("created", "processing") + TERMINAL
MAX_PAGE_SIZE = 100
RATE_WINDOW_S = 60.0
WEBHOOK_TIMEOUT = (5.0, 10.0)

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


class ApiError(Exception):
    """An error reply: HTTP ``status``, the body's ``code`` and ``message``, optional extra headers."""

    def __init__(self, status: int, message: str, *, code: int | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code if code is not None else status
        self.message = message
        self.headers = headers or {}


def account_id(key: str) -> str:
    """The name an account is kept under: a digest, so the key itself is never held or logged."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


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
    raise ApiError(400, f"{name}: expected an ISO 8601 time such as 2025-01-31T12:00:00Z, got {value!r}")


@dataclass
class Task:
    """One prediction and everything the server needs to run it."""

    id: str
    model: str
    account: str
    input: dict[str, Any]
    params: dict[str, Any]  # input with the model's defaults filled in and the seed resolved
    price: float
    base_url: str
    created_at: float
    output_path: Path
    webhook: str | None = None
    status: str = "created"
    error: str = ""
    code: int | None = None
    nsfw: bool = False
    planned_failure: int | None = None
    started: float | None = None  # monotonic
    due: float | None = None  # monotonic: the earliest end in realistic timing
    finished: float | None = None  # monotonic
    outcome: tuple[int | None, str] | None = None  # render result: (None, "") ok, else (code, message)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def prediction(self) -> dict[str, Any]:
        """The prediction object exactly as the contract shows it (plus ``code`` when the task did not succeed)."""
        done = self.status == "completed"
        inference_ms = 0
        if self.started is not None and self.finished is not None:
            inference_ms = int(round((self.finished - self.started) * 1000))
        data: dict[str, Any] = {
            "id": self.id,
            "model": self.model,
            "outputs": [f"{self.base_url}/media/outputs/{self.id}.mp4"] if done else [],
            "urls": {"get": f"{self.base_url}/api/v3/predictions/{self.id}/result"},
            "has_nsfw_contents": [self.nsfw] if done else [],
            "status": self.status,
            "created_at": iso_time(self.created_at),
            "error": self.error,
            "timings": {"inference": inference_ms},
        }
        if self.code is not None:
            data["code"] = self.code
        return data


@dataclass
class Upload:
    id: str
    filename: str
    size: int
    content_type: str
    token: str
    expires_at: float  # epoch: the PUT URL's end
    path: Path
    done: bool = False
    stored_at: float | None = None  # epoch: when the bytes arrived; served for upload_lifetime_seconds from then


@dataclass
class _Account:
    balance: float
    submits: collections.deque[float] = field(default_factory=collections.deque)  # monotonic, for the rpm limit
    max_in_flight: int = 0


class LocalState:
    """All state of one local API server. Start with :meth:`start`, end with :meth:`stop`."""

    def __init__(self, config: LocalConfig, faults: FaultPlan):
        self.config = config
        self.faults = faults
        self._jitter_rng = random.Random()
        self._owns_dir = config.data_dir is None
        self.data_dir = Path(tempfile.mkdtemp(prefix="playground-local-")) if self._owns_dir else Path(config.data_dir)
        self.uploads_dir = self.data_dir / "uploads"
        self.outputs_dir = self.data_dir / "outputs"
        self.uploads_dir.mkdir(parents=True, exist_ok=True)
        self.outputs_dir.mkdir(parents=True, exist_ok=True)
        self._secret = secrets.token_bytes(32)
        # In every upload URL, so a URL issued by an earlier run of the server (even on the same port and data_dir)
        # is unknown here instead of quietly reaching a file this run never accepted.
        self.instance = secrets.token_hex(8)
        self._cond = threading.Condition()
        self._accounts: dict[str, _Account] = {}
        self._tasks: dict[str, Task] = {}
        self._uploads: dict[str, Upload] = {}
        self._max_in_flight_all = 0
        self._stopping = False
        self.own_port = 0
        self.own_netlocs: set[str] = set()
        self._fetch_policy = FetchPolicy(allow_public=config.allow_fetch, allow_private=config.allow_private_fetch,
                                         timeout=config.fetch_timeout,
                                         upload_lifetime=_duration_text(config.upload_lifetime_seconds))
        self._executor = ThreadPoolExecutor(config.render_workers, thread_name_prefix="playground-local-render")
        self._scheduler = threading.Thread(target=self._schedule, name="playground-local-scheduler", daemon=True)

    # --- life cycle ---------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._scheduler.start()

    def stop_accepting(self) -> None:
        """Mark the server as stopping: held sync-mode replies return and the scheduler ends."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    def stop(self) -> None:
        self.stop_accepting()
        if self._scheduler.is_alive():
            self._scheduler.join()
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self._owns_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    @property
    def stopping(self) -> bool:
        return self._stopping

    # --- accounts -----------------------------------------------------------------------------------------------

    def _account(self, account: str) -> _Account:
        acc = self._accounts.get(account)
        if acc is None:
            acc = self._accounts[account] = _Account(round(float(self.config.balance), 6))
        return acc

    def balance(self, account: str) -> float:
        with self._cond:
            return self._account(account).balance

    def set_balance(self, account: str, usd: float) -> None:
        with self._cond:
            self._account(account).balance = round(float(usd), 6)

    def check_rate(self, account: str) -> None:
        """Count one submit against the key's per-minute limit; ApiError 429 with Retry-After when over it."""
        if self.config.rpm is None:
            return
        now = time.monotonic()
        with self._cond:
            window = self._account(account).submits
            while window and now - window[0] >= RATE_WINDOW_S:
                window.popleft()
            if len(window) >= self.config.rpm:
                retry_after = max(1, math.ceil(RATE_WINDOW_S - (now - window[0])))
                raise ApiError(429, f"rate limit exceeded: at most {self.config.rpm} submits per minute for this "
                                    f"key; retry after {retry_after} s", headers={"Retry-After": str(retry_after)})
            window.append(now)

    def max_in_flight(self, account: str | None = None) -> int:
        with self._cond:
            if account is None:
                return self._max_in_flight_all
            acc = self._accounts.get(account)
            return acc.max_in_flight if acc else 0

    # --- tasks --------------------------------------------------------------------------------------------------

    def submit(self, account: str, model: str, inputs: dict[str, Any], *, base_url: str,
               webhook: str | None = None) -> Task:
        """Validate, price, charge and queue one task; ApiError 400 (nothing charged) when it cannot be accepted."""
        try:
            problems = contract.validate(model, inputs, allow_unknown=True)
        except contract.UnknownModel as exc:
            raise ApiError(400, str(exc)) from None
        if problems:
            raise ApiError(400, "; ".join(problems))
        params = contract.with_defaults(model, inputs)
        if params.get("seed", -1) == -1:
            params["seed"] = secrets.randbelow(contract.SEED_MAX + 1)
        price = round(pricing.estimate_cost(model, inputs), 6)
        task_id = uuid.uuid4().hex
        with self._cond:
            acc = self._account(account)
            if acc.balance + 1e-9 < price:
                raise ApiError(400, "insufficient credits", code=1407)
            acc.balance = round(acc.balance - price, 6)
            task = Task(task_id, model, account, dict(inputs), params, price, base_url, time.time(),
                        self.outputs_dir / f"{task_id}.mp4", webhook=webhook)
            failure = self.faults.take("task", ("fail",))
            task.planned_failure = failure.code if failure else None
            task.nsfw = self.faults.take("task", ("nsfw",)) is not None
            self._tasks[task_id] = task
            self._cond.notify_all()
        log.info("task %s created: %s %s %ss seed %s, $%.4f held", task_id, model, params.get("resolution"),
                 params.get("duration"), params.get("seed"), price)
        return task

    def get(self, account: str, task_id: str) -> dict[str, Any]:
        with self._cond:
            task = self._tasks.get(task_id)
            if task is None or task.account != account:
                raise ApiError(404, "Prediction not found")
            return task.prediction()

    def status(self, task_id: str) -> str | None:
        with self._cond:
            task = self._tasks.get(task_id)
            return task.status if task else None

    def finished_at(self, task_id: str) -> float | None:
        """``time.monotonic()`` when the task ended, for measuring clients' lag; None while it runs."""
        with self._cond:
            task = self._tasks.get(task_id)
            return task.finished if task else None

    def tasks(self) -> list[dict[str, Any]]:
        with self._cond:
            return [t.prediction() for t in self._tasks.values()]

    def history(self, account: str, body: dict[str, Any]) -> dict[str, Any]:
        page = _whole(body.get("page", 1), "page", 1)
        page_size = _whole(body.get("page_size", 20), "page_size", 1)
        if page_size > MAX_PAGE_SIZE:
            raise ApiError(400, f"page_size: {page_size} is out of range; allowed 1 to {MAX_PAGE_SIZE}")
        after = parse_time(body.get("created_after"), "created_after")
        before = parse_time(body.get("created_before"), "created_before")
        model = body.get("model")
        if model is not None and not isinstance(model, str):
            raise ApiError(400, f"model: expected a model id, got {model!r}")
        status = body.get("status")
        if status is not None and status not in HISTORY_STATUSES:
            raise ApiError(400, f"status: {status!r} is not known; choose one of {', '.join(HISTORY_STATUSES)}")
        with self._cond:
            rows = [t for t in self._tasks.values() if t.account == account
                    and (after is None or t.created_at >= after) and (before is None or t.created_at <= before)
                    and (not model or t.model == model) and (not status or t.status == status)]
            rows.sort(key=lambda t: t.created_at, reverse=True)
            start = (page - 1) * page_size
            items = []
            for t in rows[start:start + page_size]:
                item = t.prediction()
                if self.config.history_inputs:
                    item["input"] = dict(t.input)
                items.append(item)
        return {"page": page, "page_size": page_size, "total": len(rows), "items": items}

    def delete(self, account: str, ids: Any) -> dict[str, list[str]]:
        """Cancel (and refund) unfinished tasks, remove finished ones; ids of other keys count as not found."""
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ApiError(400, f"ids: expected a list of prediction ids, got {ids!r}")
        result: dict[str, list[str]] = {"cancelled": [], "deleted": [], "not_found": []}
        with self._cond:
            for task_id in ids:
                task = self._tasks.get(task_id)
                if task is None or task.account != account:
                    result["not_found"].append(task_id)
                elif task.terminal:
                    del self._tasks[task_id]
                    task.output_path.unlink(missing_ok=True)
                    result["deleted"].append(task_id)
                else:
                    self._end(task, "cancelled", code=None, error="cancelled by the user")
                    result["cancelled"].append(task_id)
            self._cond.notify_all()
        if result["cancelled"] or result["deleted"]:
            log.info("delete: %d cancelled, %d removed", len(result["cancelled"]), len(result["deleted"]))
        return result

    def output_file(self, name: str) -> tuple[str | None, Path | None]:
        """(task id, path) of an output file that may be served now; path None when there is none."""
        match = re.fullmatch(r"([0-9a-f]{32})\.mp4", name)
        if match is None:
            return None, None
        task_id = match.group(1)
        with self._cond:
            task = self._tasks.get(task_id)
            if task is not None and task.status != "completed":
                return task_id, None
        path = self.outputs_dir / name
        return task_id, path if path.is_file() else None

    # --- uploads ------------------------------------------------------------------------------------------------

    def new_upload(self, filename: Any, size: Any, content_type: Any, base_url: str) -> dict[str, Any]:
        if not isinstance(filename, str) or not filename.strip():
            raise ApiError(400, "filename: is required (the name of the file to upload)")
        if isinstance(size, bool) or not isinstance(size, int):
            raise ApiError(400, f"size: expected the file's size in bytes as a whole number, got {size!r}")
        if not 0 < size <= self.config.upload_max_bytes:
            raise ApiError(400, f"size: {size} is out of range; allowed 1 to {self.config.upload_max_bytes} bytes")
        if content_type is not None and (not isinstance(content_type, str) or "/" not in content_type):
            raise ApiError(400, f"content_type: expected a MIME type such as image/png, got {content_type!r}")
        name = _safe_filename(filename)
        ctype = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        upload_id = uuid.uuid4().hex
        expires = time.time() + self.config.upload_ticket_seconds
        token = hmac.new(self._secret, f"{upload_id}:{int(expires)}".encode(), hashlib.sha256).hexdigest()
        upload = Upload(upload_id, name, size, ctype, token, expires, self._upload_path(upload_id, name))
        with self._cond:
            self._uploads[upload_id] = upload
        return {
            "download_url": self._download_url(base_url, upload),
            "upload": {
                "method": "PUT",
                "url": f"{base_url}/media/put/{upload_id}?expires={int(expires)}&token={token}",
                "headers": {"Content-Type": ctype},
                "expires_at": iso_time(expires),
            },
        }

    def upload_for_put(self, upload_id: str, token: str, expires: str) -> Upload:
        with self._cond:
            upload = self._uploads.get(upload_id)
        valid = upload is not None and hmac.compare_digest(upload.token, token or "")
        if not valid or expires != str(int(upload.expires_at)):
            raise ApiError(403, "upload URL is not valid: ask POST /api/v3/media/uploads for a new one")
        if time.time() > upload.expires_at:
            raise ApiError(403, "upload URL has expired: ask POST /api/v3/media/uploads for a new one")
        return upload

    def finish_upload(self, upload: Upload, received: int, tmp_path: Path) -> None:
        if received != upload.size:
            tmp_path.unlink(missing_ok=True)
            raise ApiError(400, f"size: the upload has {received} bytes but the ticket declared {upload.size}; "
                                "ask for a new ticket with the right size")
        upload.path.parent.mkdir(parents=True, exist_ok=True)
        tmp_path.replace(upload.path)
        with self._cond:
            upload.done = True
            upload.stored_at = time.time()
        log.info("upload %s stored (%d bytes)", upload.id, received)

    def store_legacy_upload(self, filename: str, data: bytes, base_url: str) -> dict[str, Any]:
        if not data:
            raise ApiError(400, "file: is empty")
        if len(data) > self.config.upload_max_bytes:
            raise ApiError(413, f"file: {len(data)} bytes is over the limit of {self.config.upload_max_bytes}")
        name = _safe_filename(filename or "upload")
        upload_id = uuid.uuid4().hex
        ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        now = time.time()
        upload = Upload(upload_id, name, len(data), ctype, "", now, self._upload_path(upload_id, name), done=True,
                        stored_at=now)
        upload.path.parent.mkdir(parents=True, exist_ok=True)
        upload.path.write_bytes(data)
        with self._cond:
            self._uploads[upload_id] = upload
        kind = ctype.split("/")[0] if ctype.split("/")[0] in ("image", "video", "audio") else "file"
        return {"type": kind, "download_url": self._download_url(base_url, upload), "filename": name,
                "size": len(data)}

    def _upload_path(self, upload_id: str, name: str) -> Path:
        return self.uploads_dir / self.instance / upload_id / name

    def _download_url(self, base_url: str, upload: Upload) -> str:
        return f"{base_url}/media/uploads/{self.instance}/{upload.id}/{upload.filename}"

    def upload_file(self, instance: str, upload_id: str, filename: str) -> tuple[Path | None, str]:
        """(path, content type) of a finished, unexpired upload of this server run; path None when there is none."""
        if instance != self.instance:
            return None, ""
        with self._cond:
            upload = self._uploads.get(upload_id)
            if upload is None or not upload.done or upload.filename != filename or upload.stored_at is None:
                return None, ""
            if time.time() - upload.stored_at > self.config.upload_lifetime_seconds:
                del self._uploads[upload_id]
                upload.path.unlink(missing_ok=True)
                log.info("upload %s expired and was removed", upload_id)
                return None, ""
        return (upload.path, upload.content_type) if upload.path.is_file() else (None, "")

    def local_file(self, url_path: str) -> Path | None:
        """The file behind one of this server's own media URL paths, for reading task inputs without HTTP."""
        parts = url_path.strip("/").split("/")
        if len(parts) == 5 and parts[:2] == ["media", "uploads"]:
            return self.upload_file(parts[2], parts[3], parts[4])[0]
        if len(parts) == 3 and parts[:2] == ["media", "outputs"]:
            return self.output_file(parts[2])[1]
        return None

    # --- scheduling ---------------------------------------------------------------------------------------------

    def _schedule(self) -> None:
        with self._cond:
            while not self._stopping:
                now = time.monotonic()
                # Ending a task frees a slot and starting one may end it at once (injected failures): repeat.
                while self._finish_ready(now) | self._start_waiting(now):
                    pass
                dues = [t.due for t in self._tasks.values()
                        if t.status == "processing" and t.outcome is not None and t.due is not None]
                timeout = max(0.0, min(dues) - now) if dues else None
                self._cond.wait(timeout)

    def _finish_ready(self, now: float) -> bool:
        finished = False
        for task in list(self._tasks.values()):
            if task.status != "processing" or task.outcome is None:
                continue
            code, message = task.outcome
            if code is not None:
                self._end(task, "failed", code=code, error=message)
                finished = True
            elif task.due is None or now >= task.due:
                self._end(task, "completed", code=None, error="")
                finished = True
        return finished

    def _start_waiting(self, now: float) -> bool:
        started = False
        busy = collections.Counter(t.account for t in self._tasks.values() if t.status == "processing")
        for task in list(self._tasks.values()):
            if task.status != "created" or busy[task.account] >= self.config.concurrency:
                continue
            started = True
            busy[task.account] += 1
            task.status = "processing"
            task.started = now
            if self.config.timing == "realistic":
                modelled = contract.typical_inference_seconds(task.params["resolution"], task.params["duration"])
                spread = self.config.jitter
                task.due = now + modelled * self.config.speed * self._jitter_rng.uniform(1 - spread, 1 + spread)
            acc = self._account(task.account)
            acc.max_in_flight = max(acc.max_in_flight, busy[task.account])
            self._max_in_flight_all = max(self._max_in_flight_all, sum(busy.values()))
            if task.planned_failure is not None:
                code = task.planned_failure
                task.outcome = (code, FAULT_MESSAGES.get(code, f"Task failed with code {code} (injected fault)"))
            else:
                self._executor.submit(self._render, task)
            log.info("task %s processing", task.id)
        return started

    def _end(self, task: Task, status: str, *, code: int | None, error: str) -> None:
        """Move ``task`` to a terminal status (caller holds the lock); failed and cancelled tasks are refunded."""
        task.status = status
        task.code = code
        task.error = error
        task.finished = time.monotonic()
        if status in ("failed", "cancelled"):
            acc = self._account(task.account)
            acc.balance = round(acc.balance + task.price, 6)
        log.info("task %s %s%s", task.id, status, f" (code {code}: {error})" if code else "")
        if task.webhook and not self._stopping:
            payload = {"code": 200, "message": "success", "data": task.prediction()}
            try:
                self._executor.submit(_post_webhook, task.webhook, payload)
            except RuntimeError:  # the executor is shutting down
                pass
        self._cond.notify_all()

    def _render(self, task: Task) -> None:
        if self._stopping or task.status != "processing":
            return
        outcome: tuple[int | None, str]
        try:
            from .render import render_video

            image = self._load(task.params["image"], "image")
            last = self._load(task.params["last_image"], "last_image") if task.params.get("last_image") else None
            spec = contract.get_model(task.model)
            render_video(
                image, task.output_path,
                resolution=task.params["resolution"], aspect_ratio=task.params.get("aspect_ratio"),
                duration=int(task.params["duration"]), seed=int(task.params["seed"]),
                prompt=task.params.get("prompt"), camera_fixed=bool(task.params.get("camera_fixed", False)),
                last_image=last, generate_audio=spec.has_audio and bool(task.params.get("generate_audio", False)),
                model_id=task.model,
            )
            outcome = (None, "")
        except InputError as exc:
            outcome = (exc.code, str(exc))
        except Exception as exc:  # a render bug must end the task, not the worker
            log.exception("task %s: render failed", task.id)
            outcome = (5000, f"internal error while rendering: {exc}")
        with self._cond:
            task.outcome = outcome
            if task.status != "processing":  # cancelled meanwhile: nobody will fetch the file
                task.output_path.unlink(missing_ok=True)
            self._cond.notify_all()

    def _load(self, url: str, name: str):
        return load_image(url, field=name, own_netlocs=self.own_netlocs, own_port=self.own_port,
                          local_file=self.local_file, policy=self._fetch_policy)


def _whole(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ApiError(400, f"{name}: expected a whole number of at least {minimum}, got {value!r}")
    return value


def _duration_text(seconds: float) -> str:
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} seconds"


def _safe_filename(name: str) -> str:
    base = re.split(r"[\\/]", name.strip())[-1]
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._") or "upload"
    return base[:120]


def webhook_allowed(url: str) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and is_loopback(parts.hostname)


def _post_webhook(url: str, payload: dict[str, Any]) -> None:
    import requests

    try:
        requests.post(url, json=payload, timeout=WEBHOOK_TIMEOUT)
    except requests.RequestException as exc:
        log.warning("webhook for task %s failed: %s", payload["data"]["id"], type(exc).__name__)
