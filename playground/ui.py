"""The Gradio playground: layout and event wiring. No HTTP and no SQL here: handlers call the pipeline, the backend,
the ledger's queries, the pricing table and the operator caps.

>>> demo = build_app()                  # the API when WAVESPEED_API_KEY is set, else the free local preview
>>> demo.launch(**launch_kwargs())      # doctest: +SKIP

Named endpoints for ``gradio_client`` (and MCP when ``gradio[mcp]`` is installed): ``/generate`` and ``/price``.
Every other event is private.

Keys: a visitor's key lives in a per-session ``gr.State`` on the server; it reaches the browser's storage only when
the visitor ticks "remember on this browser", and never the environment, a log, the ledger or the page. The host's
key (``WAVESPEED_API_KEY``) never leaves the server and is spent only within :mod:`playground.caps`.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from . import backend as backends
from .caps import CapGuard, Caps, start_of_utc_day, visitor_id
from .client import Client
from .contract import ASPECT_RATIOS, RESOLUTIONS, SEED_MAX, SPICY, get_model, validate
from .errors import Cancelled, ValidationError, WaveSpeedError
from .jobs import Job, Ledger, account_tag
from .pipeline import ProgressEvent, Result, generate, resume
from .pricing import format_usd, price_table, quote
from .snippets import curl_snippet, python_snippet

log = logging.getLogger(__name__)

LOCAL_LABEL = "Local preview (free)"
API_LABEL = "WaveSpeed API"
MATCH_IMAGE = "match image"
SAMPLES_DIR = Path(__file__).parent / "samples"
MAX_BATCH = 4
# Polling is I/O-bound: many visitors can wait at once without using the CPU.
GENERATE_CONCURRENCY = int(os.environ.get("PLAYGROUND_CONCURRENCY", "16"))
# Delete Gradio's copies of served files older than a day, checked hourly (the ledger keeps its own videos).
DELETE_CACHE = (3600, 86400)

ClientFactory = Callable[[str, str], Client]
"""``client_factory(kind, key)``: a Client for ``"local"`` or ``"api"``; ``key`` is "" for the local preview."""

SAMPLE_PROMPTS = {
    "sunset_beach.jpg": "The waves roll in slowly, the palm sways in the breeze, slow zoom in",
    "mountain_lake.jpg": "Mist drifts over the lake, gentle pan right",
    "lantern_street.jpg": "The lanterns swing softly, rain falls, the camera tilts up",
    "koi_pond.jpg": "The koi swim in lazy circles, ripples spread, static camera",
}

CSS = """
#run-button, #cancel-button {min-height: 52px; font-size: 1.1rem; font-weight: 600;}
#status-line {min-height: 1.6em;}
#nsfw-notice {border-left: 4px solid #f59e0b; padding-left: .6rem;}
#backend-line {margin-top: .3rem;}
.playground-header h1 {margin-bottom: 0;}
"""


# ---- what a run is, independent of the page -------------------------------------------------------------------


@dataclass
class Payer:
    """Which backend and key a run uses, and whether the operator's caps bind it."""

    kind: str          # "local" or "api"
    key: str           # "" for the local preview
    capped: bool       # True when spending the host's key
    label: str         # for the page

    @property
    def account(self) -> str:
        return account_tag(self.key) if self.kind == "api" else ""


@dataclass
class RunOutcome:
    """What a (batch) run produced: results in order, errors of the jobs that failed, and whether it was cancelled."""

    results: list[Result] = field(default_factory=list)
    errors: list[WaveSpeedError] = field(default_factory=list)
    cancelled_jobs: list[int] = field(default_factory=list)
    wall_s: float = 0.0


def _file_path(value: Any, field: str = "image") -> str | None:
    """The server path of an image a visitor sent: only a file in Gradio's upload folder (where the page's and
    gradio_client's uploads land) or a bundled sample. Anything else is refused with one message that says nothing
    about which server files exist. ``value`` is Gradio's FileData (a dict, as unprocessed events get it) or a path.
    """
    if value is None or value == "":
        return None
    if isinstance(value, dict):
        path = value.get("path")
    elif isinstance(value, (str, Path)):
        path = value
    else:
        path = getattr(value, "path", None)
    if not isinstance(path, (str, Path)) or not str(path):
        raise ValidationError(f"{field}: expected an uploaded image file")
    resolved = Path(path).resolve()
    if not any(resolved.is_relative_to(folder) for folder in _upload_folders()):
        raise ValidationError(f"{field}: only files uploaded to this page can be used; upload the image, or give "
                              "its http(s) address as image_url")
    return str(resolved)


def _upload_folders() -> tuple[Path, ...]:
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder()).resolve(), SAMPLES_DIR.resolve()


def _upload_name(value: Any) -> str | None:
    """The file name of an image input, for display (never its folder)."""
    path = value.get("path") if isinstance(value, dict) else value
    return Path(path).name if isinstance(path, (str, Path)) and str(path) else None


def _image_source(image: Any, image_url: Any) -> str | None:
    path = _file_path(image)
    if path:
        return path
    if image_url is None:
        return None
    if not isinstance(image_url, str):
        raise ValidationError(f"image_url: expected text (an http(s) URL), got {type(image_url).__name__}")
    url = image_url.strip()
    if url and not url.lower().startswith(("http://", "https://")):
        raise ValidationError("image_url: give an http(s) address (https://...); other kinds are not fetched")
    return url or None


def _whole(value: Any) -> Any:
    """A number box's float as the int it shows; anything else unchanged, for the contract to judge by name."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _params(duration: Any, resolution: Any, aspect: Any, camera_fixed: Any, audio: Any, seed: Any) -> dict:
    """The model fields from the page's controls or the API's arguments, as given: no coercion ("false" stays a
    string and is refused by name, never read as true), so the contract's validation names any bad field.
    Missing values take the contract's defaults."""
    params: dict[str, Any] = {
        "duration": _whole(duration),
        "resolution": resolution,
        "camera_fixed": camera_fixed,
        "generate_audio": audio,
        "seed": -1 if seed is None else _whole(seed),
    }
    if aspect is not None and aspect != "" and aspect != MATCH_IMAGE:
        params["aspect_ratio"] = aspect
    return {k: v for k, v in params.items() if v is not None}


def _price_label(params: dict, batch: int) -> str:
    q = quote(SPICY, params)
    total = q.usd * batch
    text = format_usd(total) if q.confirmed else f"~{format_usd(total)}"
    return f"Run ×{batch} · {text}" if batch > 1 else f"Run · {text}"


def _status_text(latest: dict[int, ProgressEvent], total: int, done: int, t0: float) -> tuple[float | None, str]:
    """A progress fraction and a status line: phase, elapsed time and estimate."""
    elapsed = time.monotonic() - t0
    events = list(latest.values())
    if not events:
        return 0.0, f"starting · {elapsed:.0f} s"
    lead = max(events, key=lambda e: e.elapsed)
    estimate = f" of ~{lead.estimate:.0f} s" if lead.estimate else ""
    line = f"{lead.phase} · {elapsed:.0f} s{estimate}"
    if total > 1:
        line = f"{done} of {total} done · {line}"
    fractions = [e.fraction for e in events if e.fraction is not None]
    fraction = sum(fractions) / total if fractions else None
    return fraction, line


class Playground:
    """The server side of the page: who pays, the runs in flight, the ledger's views. No Gradio components."""

    def __init__(self, *, client_factory: ClientFactory | None = None, ledger: Ledger | None = None,
                 caps: Caps | None = None, owner_key: str | None = None, model: str = SPICY,
                 shared_history: bool | None = None):
        self.client_factory = client_factory or _default_client_factory
        self.default_factory = client_factory is None
        self.ledger = ledger or Ledger()
        self.caps = caps if caps is not None else Caps.from_env()
        self._owner_key = (owner_key if owner_key is not None else backends.env_key()).strip()
        self.model = model
        # History is each visitor's own (their session's jobs and their own key's) unless the operator opts in.
        self.shared_history = (os.environ.get("PLAYGROUND_SHARED_HISTORY", "").strip().lower() in ("1", "true", "yes")
                               if shared_history is None else shared_history)
        self._cancels: dict[str, threading.Event] = {}
        self._failures: dict[str, str] = {}  # session -> why its last run stopped, for the status line
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Playground(ledger={self.ledger!r}, host key={'set' if self._owner_key else 'not set'})"

    @property
    def has_owner_key(self) -> bool:
        return bool(self._owner_key)

    @property
    def default_backend(self) -> str:
        return API_LABEL if self._owner_key else LOCAL_LABEL

    def payer(self, backend: str | None, user_key: str | None) -> Payer:
        """Who pays for a run on ``backend`` with the visitor's ``user_key`` (may be empty)."""
        user_key = (user_key or "").strip()
        if backend == LOCAL_LABEL:
            return Payer("local", "", False, "the local preview")
        if user_key:
            return Payer("api", user_key, False, "the WaveSpeed API with your key")
        if self._owner_key:
            return Payer("api", self._owner_key, self.caps.any, "the WaveSpeed API with the host's key"
                         + (", within the host's limits" if self.caps.any else ""))
        raise WaveSpeedError("The WaveSpeed API needs a key: enter yours under Backend, or choose the local preview.")

    def client(self, payer: Payer) -> Client:
        return self.client_factory(payer.kind, payer.key)

    # ---- runs ----------------------------------------------------------------------------------------------

    def run(self, image: Any, prompt: str | None, last_image: Any, params: dict, *, batch: int, payer: Payer,
            session: str, on_status: Callable[[float | None, str], None] | None = None,
            visitor: str = "") -> RunOutcome:
        """Run ``batch`` jobs at once (seeds randomised when more than one), reporting status about twice a second.

        Cancelling (see :meth:`cancel`) stops every wait at once; the jobs stay in the ledger for resume.
        """
        batch = max(1, min(MAX_BATCH, int(batch or 1)))
        seeds = [params.get("seed", -1)] if batch == 1 else [random.randint(0, SEED_MAX) for _ in range(batch)]
        cancel = threading.Event()
        with self._lock:
            self._cancels[session] = cancel
        guard: CapGuard | None = None
        if payer.capped:
            guard = self.caps.guard(self.ledger, account=payer.account, session=session, visitor=visitor)
        client = self.client(payer)
        events: queue.Queue[tuple[int, ProgressEvent]] = queue.Queue()
        slots: list[Result | WaveSpeedError | None] = [None] * batch
        t0 = time.monotonic()

        def work(i: int) -> None:
            try:
                slots[i] = generate(image, prompt, last_image=last_image, model=self.model, client=client,
                                    ledger=self.ledger, on_progress=lambda ev: events.put((i, ev)), cancel=cancel,
                                    session=session, account=payer.account, guard=guard, visitor=visitor,
                                    **{**params, "seed": seeds[i]})
            except WaveSpeedError as exc:
                slots[i] = exc
            except Exception as exc:  # noqa: BLE001 - a bug must reach the page as a sentence, not a traceback
                log.exception("job %d of a run failed unexpectedly", i)
                slots[i] = WaveSpeedError(f"Something went wrong in the playground ({type(exc).__name__}); the "
                                          "job, if sent, is in History.")

        workers = [threading.Thread(target=work, args=(i,), name=f"run-{i}", daemon=True) for i in range(batch)]
        try:
            for w in workers:
                w.start()
            latest: dict[int, ProgressEvent] = {}
            while any(w.is_alive() for w in workers):
                try:
                    i, ev = events.get(timeout=0.5)
                    latest[i] = ev
                    while True:
                        i, ev = events.get_nowait()
                        latest[i] = ev
                except queue.Empty:
                    pass
                if on_status is not None:
                    done = sum(1 for s in slots if s is not None)
                    on_status(*_status_text(latest, batch, done, t0))
            for w in workers:
                w.join()
        finally:
            if guard is not None:
                guard.release()
            with self._lock:
                if self._cancels.get(session) is cancel:
                    del self._cancels[session]
            client.close()
        outcome = RunOutcome(wall_s=time.monotonic() - t0)
        for slot in slots:
            if isinstance(slot, Result):
                outcome.results.append(slot)
            elif isinstance(slot, Cancelled):
                job = self.ledger.by_request_id(slot.task_id) if slot.task_id else None
                outcome.cancelled_jobs.append(job.id if job else 0)
            elif isinstance(slot, WaveSpeedError):
                outcome.errors.append(slot)
        return outcome

    def refuse(self, session: str, exc: WaveSpeedError) -> gr.Error:
        """The toast for ``exc``; the reason is kept for the status line (a toast may be missed or gone)."""
        with self._lock:
            self._failures[session] = str(exc)
        return _readable(exc)

    def stopped_line(self, session: str, *, within_s: float = 600.0) -> str:
        """The status line after a run stopped: why, in one sentence; for a paid video the page could not show,
        where it is (History, and the path on a private machine)."""
        with self._lock:
            reason = self._failures.pop(session, "")
        if reason:
            return f"Stopped: {reason.rstrip('.')}. Anything that was sent is in History."
        recent = [j for j in self.ledger.jobs(limit=5, session=session) if time.time() - j.updated_at < within_s]
        shown = next((j for j in recent if j.has_video), None)
        if shown is not None:
            where = "" if self.caps.public else f" (on this machine: {shown.video_path})"
            return (f"Stopped: job {shown.id}'s video was made ({format_usd(shown.cost)}) but could not be shown "
                    f"here. History has it{where}: pick it and press \"Show / download again\".")
        return "Stopped: something went wrong in the playground. Anything that was sent is in History."

    def cancel(self, session: str) -> bool:
        """Stop this session's waits at once. Returns whether a run was in flight."""
        with self._lock:
            event = self._cancels.get(session)
        if event is None:
            return False
        event.set()
        return True

    def forget(self, session: str) -> None:
        with self._lock:
            self._cancels.pop(session, None)

    # ---- ledger views --------------------------------------------------------------------------------------

    def visible_jobs(self, session: str, user_key: str | None, limit: int = 50) -> list[Job]:
        """The jobs this visitor may see: their session's and those paid with their own key; every job only when
        the operator opted in to a shared history (``PLAYGROUND_SHARED_HISTORY=1``, for a private machine)."""
        if self.shared_history:
            return self.ledger.jobs(limit=limit)
        seen: dict[int, Job] = {j.id: j for j in self.ledger.jobs(limit=limit, session=session)}
        if user_key:
            seen.update({j.id: j for j in self.ledger.jobs(limit=limit, account=account_tag(user_key.strip()))})
        return sorted(seen.values(), key=lambda j: j.id, reverse=True)[:limit]

    def job_for(self, job_id: Any, session: str, user_key: str | None) -> Job:
        try:
            wanted = int(job_id)
        except (TypeError, ValueError):
            raise ValidationError("job: pick a row of the history first") from None
        for job in self.visible_jobs(session, user_key, limit=1000):
            if job.id == wanted:
                return job
        raise ValidationError(f"job: {wanted} is not in your history")

    def payer_for_job(self, job: Job, user_key: str | None) -> Payer:
        """The backend and key that own ``job``: needed to resume or cancel it."""
        if job.base_url == backends.LOCAL:
            return Payer("local", "", False, "the local preview")
        user_key = (user_key or "").strip()
        if user_key and account_tag(user_key) == job.account:
            return Payer("api", user_key, False, "your key")
        if self._owner_key and account_tag(self._owner_key) == job.account:
            return Payer("api", self._owner_key, self.caps.any, "the host's key")
        raise ValidationError(f"job {job.id} was paid with another key: enter that key under Backend to reach it")

    def resume_job(self, job: Job, user_key: str | None) -> Job:
        """Collect an unfinished job (or download a finished one's video again) and return its updated row."""
        payer = self.payer_for_job(job, user_key)
        client = self.client(payer)
        try:
            outcomes = resume(client, self.ledger, job_ids=[job.id])
        finally:
            client.close()
        if outcomes and outcomes[0].error and outcomes[0].status not in ("completed",):
            raise WaveSpeedError(f"Job {job.id}: {outcomes[0].error}")
        return self.ledger.get(job.id)

    def cancel_job(self, job: Job, user_key: str | None) -> str:
        """Ask the API to cancel a job still running there; it stays in the history."""
        if not job.request_id:
            raise ValidationError(f"job {job.id}: it has no task id yet, so there is nothing to cancel")
        if not job.unfinished or job.status == "completed":
            raise ValidationError(f"job {job.id} is {job.status}; only unfinished jobs can be cancelled")
        client = self.client(self.payer_for_job(job, user_key))
        try:
            client.delete([job.request_id])
        finally:
            client.close()
        return (f"Asked the API to cancel task {job.request_id} (job {job.id}); generation may not stop at once. "
                "Resume it to record its final state.")

    def balance_text(self, payer: Payer, session: str) -> str:
        """What the page says about the money behind the current backend."""
        if payer.kind == "local":
            return "Free procedural previews rendered on this machine, no key needed."
        if payer.capped or payer.key == self._owner_key:
            return self.budget_text(session)
        client = self.client(payer)
        try:
            return f"Balance of your key: **{format_usd(client.balance())}**"
        finally:
            client.close()

    def budget_text(self, session: str) -> str:
        """The host key's remaining budget for this visitor (never its balance)."""
        caps, account = self.caps, account_tag(self._owner_key)
        parts = []
        if caps.max_cost_per_day is not None:
            left = max(0.0, caps.max_cost_per_day - self.ledger.spent(since=start_of_utc_day(), account=account))
            parts.append(f"{format_usd(left)} left today")
        if caps.max_cost_per_session is not None:
            spent = self.ledger.spent(account=account, session=session)
            parts.append(f"{format_usd(max(0.0, caps.max_cost_per_session - spent))} left in this session")
        limits = "; ".join(caps.describe()) or "no limits set by the host"
        left = (" · " + ", ".join(parts)) if parts else ""
        return f"Host's key: {limits}{left}."


def _default_client_factory(kind: str, key: str) -> Client:
    return backends.connect(key or None, backend=kind)


# ---- the page --------------------------------------------------------------------------------------------------


def _session(request: gr.Request | None) -> str:
    return (getattr(request, "session_hash", None) or "anonymous") if request is not None else "anonymous"


def _visitor(request: gr.Request | None) -> str:
    """The per-visitor cap's identity: the client address (not the session, which a reload renews)."""
    client = getattr(request, "client", None)
    return visitor_id(getattr(request, "headers", None), getattr(client, "host", None)) if request is not None else ""


def _readable(exc: WaveSpeedError) -> gr.Error:
    title = {"ValidationError": "Check the inputs", "CapExceeded": "Over the host's limit",
             "AuthError": "Key refused", "InsufficientCredits": "Insufficient credits"}.get(type(exc).__name__)
    return gr.Error(str(exc), title=title or "Error", print_exception=False)


def _history_rows(jobs: list[Job]) -> list[list[Any]]:
    rows = []
    for j in jobs:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(j.created_at))
        rows.append([j.id, when, j.status, j.resolution or "", j.duration or "", "on" if j.audio else "off",
                     j.seed if j.seed is not None else "", format_usd(j.cost), j.request_id or "",
                     "yes" if j.has_video else "", (j.params.get("prompt") or "")[:60]])
    return rows


HISTORY_HEADERS = ["job", "when", "status", "resolution", "s", "audio", "seed", "cost", "request id", "video",
                   "prompt"]


def _pricing_frame():
    table = price_table(SPICY)
    table["column"] = table["resolution"] + table["audio"].map({True: " · audio", False: " · silent"})
    pivot = table.pivot(index="duration_s", columns="column", values="cost_usd")
    order = [f"{r} · {a}" for r in RESOLUTIONS for a in ("audio", "silent")]
    pivot = pivot[order].map(format_usd).reset_index().rename(columns={"duration_s": "seconds"})
    return pivot


def _response_json(result: Result) -> dict:
    return {"id": result.request_id, "model": result.model, "status": "completed", "outputs": [result.output_url],
            "has_nsfw_contents": [result.nsfw], "timings": {"inference": result.inference_ms},
            "reused_from_ledger": result.reused}


def build_app(*, client_factory: ClientFactory | None = None, ledger: Ledger | None = None, caps: Caps | None = None,
              owner_key: str | None = None, shared_history: bool | None = None,
              title: str = "Seedance V1.5 Pro · Image-to-Video Spicy") -> gr.Blocks:
    """The playground's Blocks. Defaults: the ledger in ``PLAYGROUND_HOME``, caps from ``PLAYGROUND_*``, the host
    key from ``WAVESPEED_API_KEY``, and :func:`playground.backend.connect` for clients (the embedded local API
    starts on first use). Tests pass a ``client_factory`` aimed at a local API they started.
    """
    pg = Playground(client_factory=client_factory, ledger=ledger, caps=caps, owner_key=owner_key,
                    shared_history=shared_history)
    spec = get_model(SPICY)
    dur = spec.param("duration")
    defaults = spec.defaults()
    # The samples ship inside the package (site-packages once installed): Gradio serves them as they are. Videos
    # are handed to Gradio through launch(allowed_paths=...) (see launch_kwargs), which copies each into its cache.
    gr.set_static_paths([str(SAMPLES_DIR)])

    with gr.Blocks(title="Seedance Playground", delete_cache=DELETE_CACHE, analytics_enabled=False) as demo:
        key_state = gr.State("")
        stored_key = gr.BrowserState("", storage_key="seedance-playground-key")

        gr.Markdown(f"# {title}\nTurn an image into a 4-12 s video with sound. "
                    f"`{SPICY}` on WaveSpeedAI, or a free local preview.", elem_classes="playground-header")
        with gr.Row(equal_height=True):
            backend = gr.Radio([LOCAL_LABEL, API_LABEL], value=pg.default_backend, label="Backend", scale=2)
            key_box = gr.Textbox(label="WaveSpeed API key", type="password", scale=3,
                                 placeholder="your key (kept on the server for this session only)"
                                 if pg.has_owner_key is False else "optional: use your own key beyond the host's "
                                 "limits")
            remember = gr.Checkbox(label="Remember on this browser", value=False, scale=1)
        backend_line = gr.Markdown(elem_id="backend-line")

        with gr.Row():
            with gr.Column(scale=5):
                image = gr.Image(label="Image", type="filepath", sources=["upload", "clipboard"], height=300)
                image_url = gr.Textbox(label="Image URL", placeholder="https://… (instead of uploading)",
                                       max_lines=1)
                prompt = gr.Textbox(label="Prompt", lines=3,
                                    placeholder="Describe the motion, the camera and the sound…")
                with gr.Accordion("Last frame (optional)", open=False):
                    last_image = gr.Image(label="Last image", type="filepath", sources=["upload", "clipboard"],
                                          height=200)
                duration = gr.Slider(dur.minimum, dur.maximum, value=defaults["duration"], step=1,
                                     label="Duration (s)")
                with gr.Row():
                    resolution = gr.Radio(list(RESOLUTIONS), value=defaults["resolution"], label="Resolution")
                    aspect = gr.Dropdown([MATCH_IMAGE, *ASPECT_RATIOS], value=MATCH_IMAGE, label="Aspect ratio")
                with gr.Row():
                    camera_fixed = gr.Checkbox(value=defaults["camera_fixed"], label="Fixed camera")
                    audio = gr.Checkbox(value=defaults["generate_audio"], label="Generate audio")
                with gr.Row(equal_height=True):
                    seed = gr.Number(value=-1, precision=0, label="Seed (-1: random)", minimum=-1,
                                     maximum=SEED_MAX, scale=4)
                    dice = gr.Button("Randomise", scale=1, size="sm")
                batch = gr.Slider(1, MAX_BATCH, value=1, step=1, label="Batch (seeds randomised)")
                initial = _params(defaults["duration"], defaults["resolution"], MATCH_IMAGE,
                                  defaults["camera_fixed"], defaults["generate_audio"], -1)
                with gr.Row():
                    run_btn = gr.Button(_price_label(initial, 1), variant="primary", elem_id="run-button")
                    cancel_btn = gr.Button("Cancel", variant="stop", visible=False, elem_id="cancel-button")
                gr.Examples(
                    examples=[[str(SAMPLES_DIR / name), text] for name, text in SAMPLE_PROMPTS.items()],
                    inputs=[image, prompt], cache_examples=False, label="Samples (drawn by this project)",
                )
            with gr.Column(scale=6):
                video = gr.Video(label="Video", autoplay=True, loop=True, buttons=["download"], interactive=False,
                                 height=420, elem_id="output-video")
                status = gr.Markdown("Ready.", elem_id="status-line")
                with gr.Row():
                    seed_out = gr.Textbox(label="Seed used", interactive=False, elem_id="seed-used")
                    request_out = gr.Textbox(label="Request id", interactive=False, elem_id="request-id")
                with gr.Row():
                    cost_out = gr.Textbox(label="Cost", interactive=False, elem_id="cost")
                    inference_out = gr.Textbox(label="Inference time", interactive=False)
                nsfw_notice = gr.Markdown(visible=False, elem_id="nsfw-notice")
                gallery = gr.Gallery(label="Batch", visible=False, columns=2, height=300)
                with gr.Tabs():
                    with gr.Tab("Request"):
                        request_json = gr.JSON(label="Request body", value=None)
                    with gr.Tab("Response"):
                        response_json = gr.JSON(label="Response (as recorded)")
                    with gr.Tab("Code"):
                        gr.Markdown("The key is read from `WAVESPEED_API_KEY`: it is never written into the code.")
                        curl_code = gr.Code(label="cURL", language="shell")
                        python_code = gr.Code(label="Python", language="python")
                    with gr.Tab("History"):
                        history = gr.Dataframe(headers=HISTORY_HEADERS, value=[], interactive=False, wrap=True,
                                               label="Your jobs (from the ledger)")
                        with gr.Row(equal_height=True):
                            job_id = gr.Number(label="Job", precision=0, scale=1)
                            reuse_btn = gr.Button("Reuse parameters", scale=1)
                            show_btn = gr.Button("Show / download again", scale=1)
                            resume_btn = gr.Button("Resume", scale=1)
                            remote_cancel_btn = gr.Button("Cancel at the API", variant="stop", scale=1)
                            refresh_btn = gr.Button("Refresh", scale=1)
                        history_note = gr.Markdown()
                    with gr.Tab("Pricing"):
                        gr.Markdown("USD per clip, from the vendor's table: a per-second rate by resolution, half with "
                                    "audio off. The local preview is free.")
                        gr.Dataframe(value=_pricing_frame(), interactive=False)

        # Hidden outputs of the /generate API endpoint (the page uses the richer run event).
        with gr.Row(visible=False):
            api_video = gr.Video(label="video")
            api_details = gr.JSON(label="details")
            api_trigger = gr.Button("generate")

        # ---- handlers --------------------------------------------------------------------------------------

        param_inputs = [duration, resolution, aspect, camera_fixed, audio, seed]

        def describe_backend(choice: str, key: str, request: gr.Request):
            session = _session(request)
            try:
                payer = pg.payer(choice, key)
            except WaveSpeedError as exc:
                return f"**Note:** {exc}"
            try:
                money = pg.balance_text(payer, session)
            except WaveSpeedError as exc:
                money = f"**Note:** {exc}"
            return f"**In use:** {payer.label}. {money}"

        def preview(img, url, text, last, d, r, a, c, au, s, b):
            params = _params(d, r, a, c, au, s)
            # The snippets name an uploaded file by its name only: the server's folders are nobody's business.
            image_name = _upload_name(img)
            body = {"image": url or ("<uploaded on Run>" if image_name else None)}
            if text and str(text).strip():
                body["prompt"] = text
            if _upload_name(last):
                body["last_image"] = "<uploaded on Run>"
            body.update(params)
            snippet_params = {**params, "image": (url if isinstance(url, str) and url.strip() else None)
                              or image_name or "cat.png", "last_image": _upload_name(last), "prompt": text}
            try:
                label = _price_label(params, int(b or 1))
            except (WaveSpeedError, TypeError, ValueError):
                label = "Run"
            return (gr.update(value=label), {k: v for k, v in body.items() if v is not None},
                    curl_snippet(snippet_params), python_snippet(snippet_params))

        gr.on([resolution.change, duration.change, audio.change, batch.change, aspect.change, camera_fixed.change,
               seed.change, prompt.change, image.change, image_url.change, last_image.change],
              preview, inputs=[image, image_url, prompt, last_image, *param_inputs, batch],
              outputs=[run_btn, request_json, curl_code, python_code], preprocess=False,
              api_visibility="private", concurrency_limit=None, show_progress="hidden")
        demo.load(preview, inputs=[image, image_url, prompt, last_image, *param_inputs, batch],
                  outputs=[run_btn, request_json, curl_code, python_code], preprocess=False,
                  api_visibility="private", concurrency_limit=None, show_progress="hidden")

        dice.click(None, None, seed, js=f"() => Math.floor(Math.random() * {SEED_MAX})")

        def check_upload(img, field_name):
            from .images import prepare_image

            try:
                path = _file_path(img, field_name)
                if not path:
                    return gr.update()
                prepare_image(path, field_name)
            except ValidationError as exc:
                raise _readable(exc) from None
            return gr.update()

        image.upload(lambda img: check_upload(img, "image"), inputs=image, outputs=image, preprocess=False,
                     api_visibility="private", concurrency_limit=None, show_progress="hidden")
        last_image.upload(lambda img: check_upload(img, "last_image"), inputs=last_image, outputs=last_image,
                          preprocess=False, api_visibility="private", concurrency_limit=None,
                          show_progress="hidden")

        def store_key(key, keep):
            key = (key or "").strip()
            return key, (key if keep else "")

        def use_key(key, keep, choice, request: gr.Request):
            # One handler sets both the radio and the line, so a slower event cannot overwrite the line.
            key = (key or "").strip()
            choice = API_LABEL if key else choice
            return key, (key if keep else ""), gr.update(value=choice), describe_backend(choice, key, request)

        key_box.change(store_key, inputs=[key_box, remember], outputs=[key_state, stored_key],
                       api_visibility="private", concurrency_limit=None, show_progress="hidden")
        gr.on([key_box.submit, key_box.blur], use_key, inputs=[key_box, remember, backend],
              outputs=[key_state, stored_key, backend, backend_line], api_visibility="private",
              concurrency_limit=None, show_progress="hidden")
        remember.change(lambda key, keep: key if keep else "", inputs=[key_state, remember], outputs=stored_key,
                        api_visibility="private", concurrency_limit=None, show_progress="hidden")
        backend.input(describe_backend, inputs=[backend, key_state], outputs=backend_line,
                      api_visibility="private", concurrency_limit=None, show_progress="hidden")

        def restore(saved, request: gr.Request):
            key = (saved or "").strip()
            choice = API_LABEL if key else pg.default_backend
            if pg.default_factory and choice == LOCAL_LABEL:
                # Warm the embedded local API while the visitor picks an image.
                threading.Thread(target=backends.local_server, name="warm-local-api", daemon=True).start()
            rows = _history_rows(pg.visible_jobs(_session(request), key))
            note = " Key remembered on this browser." if key else ""
            return (key, bool(key), gr.update(value=choice),
                    describe_backend(choice, key, request) + note, rows)

        demo.load(restore, inputs=stored_key, outputs=[key_state, remember, backend, backend_line, history],
                  api_visibility="private", concurrency_limit=None, show_progress="hidden")

        def start_run():
            return gr.update(visible=False), gr.update(visible=True), "Starting…"

        def finish_run():
            return gr.update(visible=True), gr.update(visible=False), gr.update()

        def fail_run(request: gr.Request):
            return gr.update(visible=True), gr.update(visible=False), pg.stopped_line(_session(request))

        def run_page(img, url, text, last, d, r, a, c, au, s, b, choice, typed, key, request: gr.Request,
                     progress=gr.Progress()):  # noqa: B008 - Gradio's way to ask for a progress bar
            session = _session(request)
            # The box holds the freshest key: the visitor may click Run before its blur event stored it.
            key = (typed or "").strip() or key
            try:
                payer = pg.payer(choice, key)
            except WaveSpeedError as exc:
                raise pg.refuse(session, exc) from None
            try:
                source, last_path = _image_source(img, url), _file_path(last, "last_image")
                if source is None:
                    raise ValidationError("image: upload an image or give its URL")
            except ValidationError as exc:
                raise pg.refuse(session, exc) from None

            def on_status(fraction, line):
                progress(fraction, desc=line)

            outcome = pg.run(source, text, last_path, _params(d, r, a, c, au, s), batch=int(b or 1),
                             payer=payer, session=session, on_status=on_status, visitor=_visitor(request))
            rows = _history_rows(pg.visible_jobs(session, key))
            if not outcome.results:
                if outcome.cancelled_jobs:
                    gr.Info("Cancelled. The job stays in History: resume it there to collect the video.")
                    return (gr.update(), gr.update(visible=False),
                            f"Cancelled after {outcome.wall_s:.0f} s: job {outcome.cancelled_jobs[0]} is in "
                            "History; resume it there.", "", "", "", "", gr.update(visible=False), gr.update(),
                            gr.update(), rows)
                raise pg.refuse(session, outcome.errors[0])
            for exc in outcome.errors:
                gr.Warning(str(exc))
            first = outcome.results[0]
            hidden = first.nsfw and pg.caps.hide_nsfw
            notice = ""
            if first.nsfw:
                notice = ("**NSFW:** the API flagged this output as possibly NSFW: "
                          + ("the host hides such outputs." if hidden else "it is not played automatically."))
            video_update = gr.update(value=None if hidden else str(first.video_path), autoplay=not first.nsfw)
            paid = sum(r.cost for r in outcome.results if not r.reused)
            reused = " (reused from the ledger, not paid again)" if first.reused else ""
            line = (f"Done in {outcome.wall_s:.1f} s · {len(outcome.results)} video"
                    f"{'s' if len(outcome.results) > 1 else ''} · {format_usd(paid)} on {payer.label}{reused}")
            if outcome.cancelled_jobs:
                line += f" · {len(outcome.cancelled_jobs)} cancelled"
            items = [(str(r.video_path), f"seed {r.seed}") for r in outcome.results
                     if not (r.nsfw and pg.caps.hide_nsfw)]
            inference = f"{first.inference_ms / 1000:.1f} s" if first.inference_ms is not None else ""
            return (video_update, gr.update(value=items, visible=len(outcome.results) > 1), line,
                    ", ".join(str(r.seed) for r in outcome.results),
                    ", ".join(r.request_id for r in outcome.results),
                    format_usd(paid) + reused, inference, gr.update(value=notice, visible=bool(notice)),
                    first.params if len(outcome.results) == 1 else [r.params for r in outcome.results],
                    _response_json(first) if len(outcome.results) == 1 else
                    [_response_json(r) for r in outcome.results],
                    rows)

        run_outputs = [video, gallery, status, seed_out, request_out, cost_out, inference_out, nsfw_notice,
                       request_json, response_json, history]
        run_inputs = [image, image_url, prompt, last_image, *param_inputs, batch, backend, key_box, key_state]
        running = (run_btn.click(start_run, outputs=[run_btn, cancel_btn, status], api_visibility="private",
                                 concurrency_limit=None, show_progress="hidden")
                   .then(run_page, inputs=run_inputs, outputs=run_outputs, preprocess=False,
                         api_visibility="private", concurrency_limit=GENERATE_CONCURRENCY, concurrency_id="generate",
                         show_progress_on=[video, status]))
        # Gradio's page runs .then only after a success: .failure puts Run back after an error too.
        for after, fn in ((running.then, finish_run), (running.failure, fail_run)):
            after(fn, outputs=[run_btn, cancel_btn, status], api_visibility="private", concurrency_limit=None,
                  show_progress="hidden").then(describe_backend, inputs=[backend, key_state], outputs=backend_line,
                                               api_visibility="private", concurrency_limit=None,
                                               show_progress="hidden")

        def cancel_page(request: gr.Request):
            if not pg.cancel(_session(request)):
                gr.Info("Nothing is running.")

        cancel_btn.click(cancel_page, api_visibility="private", concurrency_limit=None, show_progress="hidden")

        def generate_api(image=None, image_url: str | None = None, prompt: str | None = None, last_image=None,
                         duration: int = 5,
                         resolution: str = "720p", aspect_ratio: str = MATCH_IMAGE, camera_fixed: bool = False,
                         generate_audio: bool = True, seed: int = -1, request: gr.Request = None):
            """Generate one video with Seedance V1.5 Pro Spicy from an image (a file or its URL) and a prompt.

            Runs on the host's default backend (the WaveSpeed API within the host's limits, or the free local
            preview). Returns the MP4 and details: seed used, request id, cost in USD, inference time, NSFW flag.
            """
            session = "api:" + _session(request)
            try:
                payer = pg.payer(pg.default_backend, "")
                source, last_path = _image_source(image, image_url), _file_path(last_image, "last_image")
                if source is None:
                    raise ValidationError("image: upload an image or give its URL")
            except WaveSpeedError as exc:
                raise _readable(exc) from None
            outcome = pg.run(source, prompt, last_path,
                             _params(duration, resolution, aspect_ratio, camera_fixed, generate_audio, seed),
                             batch=1, payer=payer, session=session, visitor=_visitor(request))
            if not outcome.results:
                raise _readable(outcome.errors[0] if outcome.errors else WaveSpeedError("The job was cancelled."))
            r = outcome.results[0]
            details = {"seed": r.seed, "request_id": r.request_id, "cost_usd": r.cost, "reused": r.reused,
                       "inference_ms": r.inference_ms, "nsfw": r.nsfw, "job_id": r.job_id, "params": r.params}
            hidden = r.nsfw and pg.caps.hide_nsfw
            return (None if hidden else str(r.video_path)), details

        api_trigger.click(generate_api, inputs=[image, image_url, prompt, last_image, *param_inputs],
                          outputs=[api_video, api_details], preprocess=False, api_name="generate",
                          concurrency_limit=GENERATE_CONCURRENCY, concurrency_id="generate")

        def price(resolution: str = "720p", duration: int = 5, generate_audio: bool = True) -> float:
            """USD for one Seedance V1.5 Pro Spicy clip at this resolution, duration (4-12 s) and audio setting."""
            params = _params(duration, resolution, None, None, generate_audio, None)
            params.pop("seed")
            # Every field is checked by name, with no coercion: "false" is refused, never read as audio on.
            problems = validate(SPICY, {**params, "image": "https://placeholder.invalid/image.png"})
            if problems:
                raise gr.Error("; ".join(problems), title="Check the inputs")
            return quote(SPICY, params).usd

        gr.api(price, api_name="price", concurrency_limit=None)

        # ---- history -------------------------------------------------------------------------------------

        def pick_row(evt: gr.SelectData):
            row = evt.row_value or []
            return row[0] if row else None

        history.select(pick_row, outputs=job_id, api_visibility="private", concurrency_limit=None,
                       show_progress="hidden")

        def refresh(key, request: gr.Request):
            return _history_rows(pg.visible_jobs(_session(request), key))

        refresh_btn.click(refresh, inputs=key_state, outputs=history, api_visibility="private",
                          concurrency_limit=None)

        def reuse_params(jid, key, request: gr.Request):
            try:
                job = pg.job_for(jid, _session(request), key)
            except WaveSpeedError as exc:
                raise _readable(exc) from None
            p = job.params
            source = p.get("image") if isinstance(p.get("image"), str) else ""
            return (None, source, p.get("prompt") or "", p.get("duration", 5), p.get("resolution", "720p"),
                    p.get("aspect_ratio") or MATCH_IMAGE, bool(p.get("camera_fixed")),
                    bool(p.get("generate_audio")), p.get("seed", -1), 1,
                    f"Parameters of job {job.id} loaded (image by its uploaded URL, kept 7 days).")

        reuse_btn.click(reuse_params, inputs=[job_id, key_state],
                        outputs=[image, image_url, prompt, duration, resolution, aspect, camera_fixed, audio, seed,
                                 batch, history_note], api_visibility="private", concurrency_limit=None)

        def show_job(jid, key, request: gr.Request):
            session = _session(request)
            try:
                job = pg.job_for(jid, session, key)
                if not job.has_video:
                    if job.status not in ("completed", "created", "processing", "pending", "unknown"):
                        raise ValidationError(f"job {job.id} is {job.status}: it has no video. {job.error}")
                    job = pg.resume_job(job, key)
            except WaveSpeedError as exc:
                raise _readable(exc) from None
            if not job.has_video:
                raise gr.Error(f"Job {job.id} is {job.status}; no video yet. {job.error}")
            hidden = any(job.nsfw) and pg.caps.hide_nsfw
            return (gr.update(value=None if hidden else job.video_path, autoplay=not any(job.nsfw)),
                    str(job.seed), job.request_id or "", format_usd(job.cost),
                    f"Job {job.id}: {job.status}.", _history_rows(pg.visible_jobs(session, key)))

        job_outputs = [video, seed_out, request_out, cost_out, history_note, history]
        show_btn.click(show_job, inputs=[job_id, key_state], outputs=job_outputs, api_visibility="private",
                       concurrency_limit=GENERATE_CONCURRENCY, concurrency_id="generate")
        resume_btn.click(show_job, inputs=[job_id, key_state], outputs=job_outputs, api_visibility="private",
                         concurrency_limit=GENERATE_CONCURRENCY, concurrency_id="generate")

        def cancel_remote(jid, key, request: gr.Request):
            session = _session(request)
            try:
                job = pg.job_for(jid, session, key)
                note = pg.cancel_job(job, key)
            except WaveSpeedError as exc:
                raise _readable(exc) from None
            return note, _history_rows(pg.visible_jobs(session, key))

        remote_cancel_btn.click(cancel_remote, inputs=[job_id, key_state], outputs=[history_note, history],
                                api_visibility="private", concurrency_limit=None)

    demo.playground = pg  # for tests and embedding: the server-side state behind the page
    return demo


def launch_kwargs(demo: gr.Blocks | None = None) -> dict[str, Any]:
    """What ``demo.launch`` needs besides the defaults: theme, CSS, the folders Gradio may serve files from, and,
    when ``gradio[mcp]`` is installed, the MCP server. Host and port come from ``GRADIO_SERVER_NAME`` /
    ``GRADIO_SERVER_PORT`` as Gradio reads them.

    Gradio serves a returned file only from the working directory, the temp dir or ``allowed_paths``: the videos
    live in ``PLAYGROUND_HOME/outputs`` (anywhere: a home folder, ``/data`` on a Space), so that folder, and only it
    (never the ledger beside it), is allowed, with the bundled samples.
    """
    ledger = getattr(getattr(demo, "playground", None), "ledger", None) or Ledger()
    outputs = ledger.home / "outputs"
    outputs.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {
        "theme": gr.themes.Soft(primary_hue="violet", secondary_hue="indigo", neutral_hue="slate"),
        "css": CSS,
        "allowed_paths": [str(outputs), str(SAMPLES_DIR)],
    }
    if importlib.util.find_spec("mcp") is not None:
        kwargs["mcp_server"] = True
    return kwargs


def serve(*, host: str | None = None, port: int | None = None, share: bool = False) -> None:
    """Build the playground and serve it until stopped (``seedance-playground ui``; ``python app.py`` does the
    same)."""
    demo = build_app()
    kwargs = launch_kwargs(demo)
    if host:
        kwargs["server_name"] = host
    if port:
        kwargs["server_port"] = port
    demo.launch(share=share, **kwargs)
