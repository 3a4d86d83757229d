"""The server side of the playground page, without Gradio: who pays (the visitor's key, or the host's key within
:mod:`playground.caps`), runs and their cancelling, and what each visitor may see and touch in the ledger.

>>> pg = Playground(caps=Caps(), owner_key="")        # doctest: +SKIP
>>> outcome = pg.run(RunForm(image="cat.png", prompt="slow zoom in"), payer=pg.payer(LOCAL_LABEL, ""),
...                  session="s1")                       # doctest: +SKIP

The page (:mod:`playground.ui`) talks to this module only; it never reaches the client, the ledger or the pipeline.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import queue
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import backend as backends
from .caps import CapGuard, Caps, start_of_utc_day, visitor_id
from .client import Client, RetryPolicy
from .contract import MODELS, SEED_MAX, SPICY, VideoRequest, show, validate
from .errors import Cancelled, ValidationError, WaveSpeedError
from .identity import STORAGE_KEY as IDENTITY_KEY
from .identity import BrowserIdentity, load_secret
from .jobs import Job, Ledger, account_tag
from .pipeline import Result, read_media, resume
from .pipeline.charges import settle_outcomes
from .pricing import Quote, format_usd, quote
from .progress import job_fraction
from .receiver import WebhookReceiver
from .runner import END_PHASES, RunEvent, Runner
from .status import COMPLETED, CREATED, PENDING, PROCESSING, REUSED, UNKNOWN
from .webhooks import Webhooks, public_webhook_url

__all__ = ["API_LABEL", "IDENTITY_KEY", "LOCAL_LABEL", "MATCH_IMAGE", "MAX_BATCH", "SAMPLES_DIR", "Job", "Payer",
           "Playground", "Result", "RunForm", "RunOutcome", "default_outputs_dir", "job_fraction", "progress_line",
           "visitor_of"]

log = logging.getLogger(__name__)

LOCAL_LABEL = "Local preview (free)"
API_LABEL = "WaveSpeed API"
MATCH_IMAGE = "match image"
SAMPLES_DIR = Path(__file__).parent / "samples"
MAX_BATCH = 4
MAX_URL_CHARS = 2_048  # the longest address browsers and CDNs reliably take
# A job may still show a video after these: anything else ended without one.
_MAY_HAVE_VIDEO = (COMPLETED, CREATED, PROCESSING, PENDING, UNKNOWN)
QUOTE_TTL_S = 600.0  # the vendor's price for a key, model and setting is asked again after this

ClientFactory = Callable[[str, str], Client]
"""``client_factory(kind, key)``: a Client for ``"local"`` or ``"api"``; ``key`` is "" for the local preview."""
StatusHook = Callable[[float | None, str], None]
"""``on_status(fraction, line)``: a 0..1 figure (None when unknown) and a status line, about twice a second."""


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


def _whole(value: Any) -> Any:
    """A number box's float as the int it shows; anything else unchanged, for the contract to judge by name."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@dataclass(frozen=True)
class RunForm:
    """What a visitor asks for, from the page's form or the /generate arguments, exactly as given: no coercion
    ("false" stays a string and is refused by name, never read as true). ``image`` is Gradio's FileData (a dict)
    or a path; ``image_url`` an http(s) address."""

    image: Any = None
    image_url: Any = None
    prompt: Any = None
    last_image: Any = None
    duration: Any = None
    resolution: Any = None
    aspect_ratio: Any = MATCH_IMAGE
    camera_fixed: Any = None
    generate_audio: Any = None
    seed: Any = -1
    batch: Any = 1
    model: Any = SPICY

    def fields(self) -> dict[str, Any]:
        """The model fields; missing values take the contract's defaults, a missing seed is random (-1). Fields the
        chosen model does not have (audio on Seedance 1.0, say) are left out, as the page hides them."""
        fields: dict[str, Any] = {
            "duration": _whole(self.duration),
            "resolution": self.resolution,
            "camera_fixed": self.camera_fixed,
            "generate_audio": self.generate_audio,
            "seed": -1 if self.seed is None else _whole(self.seed),
        }
        if self.aspect_ratio not in (None, "", MATCH_IMAGE):
            fields["aspect_ratio"] = self.aspect_ratio
        names = MODELS[self.model].names if isinstance(self.model, str) and self.model in MODELS else None
        return {k: v for k, v in fields.items() if v is not None and (names is None or k in names)}

    @property
    def runs(self) -> int:
        """How many jobs the batch slider asks for: 1..MAX_BATCH (a ValidationError naming ``batch`` otherwise,
        never clamped)."""
        batch = _whole(self.batch if self.batch is not None else 1)
        if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= MAX_BATCH:
            raise ValidationError(f"batch: expected a whole number from 1 to {MAX_BATCH}, got {show(batch)}")
        return batch


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


def visitor_of(headers: Mapping[str, str] | None, host: str | None) -> str:
    """The per-visitor cap's identity: the client address (not the session, which a reload renews)."""
    return visitor_id(headers, host)


def default_outputs_dir() -> Path:
    """Where the default ledger keeps its videos (``PLAYGROUND_HOME/outputs``)."""
    return Ledger().home / "outputs"


def upload_path(value: Any, field: str, folders: Iterable[Path]) -> str | None:
    """The server path of an image a visitor sent: only a file in one of ``folders`` (Gradio's upload folder and the
    samples). Anything else is refused with one message that says nothing about which server files exist."""
    if value is None or value == "":
        return None
    path = value.get("path") if isinstance(value, dict) else value
    if not isinstance(path, (str, Path)):
        path = getattr(value, "path", None)
    if not isinstance(path, (str, Path)) or not str(path):
        raise ValidationError(f"{field}: expected an uploaded image file")
    resolved = Path(path).resolve()
    if not any(resolved.is_relative_to(folder) for folder in folders):
        raise ValidationError(f"{field}: only files uploaded to this page can be used; upload the image, or give "
                              "its http(s) address as image_url")
    return str(resolved)


def _image_url(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"image_url: expected text (an http(s) URL), got {type(value).__name__}")
    url = value.strip()
    if len(url) > MAX_URL_CHARS:
        raise ValidationError(f"image_url: is {len(url):,} characters long; an address is at most {MAX_URL_CHARS:,}")
    if url and not url.lower().startswith(("http://", "https://")):
        raise ValidationError("image_url: give an http(s) address (https://...); other kinds are not fetched")
    return url or None


def _default_client_factory(kind: str, key: str) -> Client:
    return backends.connect(key or None, backend=kind)


class Playground:
    """Who pays, the runs in flight and the ledger's views for the page's visitors. No Gradio components.

    ``session`` arguments are a visitor's page session (Gradio's session hash: one tab, what Cancel stops);
    ``owner`` is who the ledger files a run under and whose History it joins (the browser's identity, see
    :mod:`playground.identity`; the session when there is none). ``user_key`` is the key the visitor typed (may be
    empty). ``upload_folders`` are where visitors' files may be read from, besides the samples.

    History: on a private machine (``caps.public`` false) every visitor sees the machine's whole ledger; on a public
    host each browser sees its own runs (reloads and restarts included) and the jobs of a key it holds, never
    another visitor's.
    """

    def __init__(self, *, client_factory: ClientFactory | None = None, ledger: Ledger | None = None,
                 caps: Caps | None = None, owner_key: str | None = None, model: str = SPICY,
                 upload_folders: Iterable[str | Path] = (), webhook_url: str | None = None):
        self.client_factory = client_factory or _default_client_factory
        self.default_factory = client_factory is None
        self.ledger = ledger or Ledger()
        self.caps = caps if caps is not None else Caps.from_env()
        self._owner_key = (owner_key if owner_key is not None else backends.env_key()).strip()
        self.model = model
        self.identity = BrowserIdentity(load_secret(self.ledger.home))
        self.upload_folders = (*(Path(f).resolve() for f in upload_folders), SAMPLES_DIR.resolve())
        # Where the service delivers the end of each run's tasks (None: polling only). PLAYGROUND_PUBLIC_URL, or the
        # Space's own address; the receiver (see receiver()) must be served there.
        self.webhook_url = webhook_url if webhook_url is not None else public_webhook_url()
        # This app's webhook secrets and the inbox where its receiver meets its runs (shared by both, never global).
        self.webhooks = Webhooks()
        owner_secret = os.environ.get("WAVESPEED_WEBHOOK_SECRET", "").strip()
        if owner_secret and self._owner_key:
            self.webhooks.secrets.set(account_tag(self._owner_key), owner_secret)
        self._quotes: dict[tuple, tuple[float, Quote]] = {}
        self._cancels: dict[str, threading.Event] = {}
        self._failures: dict[str, tuple[str, bool]] = {}  # session -> why its run stopped, and whether it sent
        self._local_url: str | None = None  # the local preview's address, once asked (the Code tab shows it)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Playground(ledger={self.ledger!r}, host key={'set' if self._owner_key else 'not set'})"

    @property
    def has_owner_key(self) -> bool:
        return bool(self._owner_key)

    @property
    def default_backend(self) -> str:
        return API_LABEL if self._owner_key else LOCAL_LABEL

    @property
    def outputs_dir(self) -> Path:
        """The folder of the ledger's videos: the only one besides the samples the page may serve files from."""
        return self.ledger.home / "outputs"

    @property
    def whole_ledger(self) -> bool:
        """Whether History shows every job of the ledger: on a private machine, yes; on a public host, never."""
        return not self.caps.public

    def owner_of(self, token: Any, session: str) -> str:
        """The ledger owner for a browser's stored identity ``token`` (see :mod:`playground.identity`); a session
        without a valid one (a script over the API, a browser that keeps no storage) owns what it runs by its
        session."""
        return self.identity.owner(token) or session

    def hides(self, nsfw: bool) -> bool:
        """Whether an output flagged ``nsfw`` is kept off the page (the host's choice)."""
        return bool(nsfw) and self.caps.hide_nsfw

    # ---- who pays ------------------------------------------------------------------------------------------

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

    def quote(self, model: str, fields: dict, payer: Payer | None) -> Quote:
        """What one request costs, as the Run button says it: with a key, the vendor's price endpoint (asked once per
        key, model and priced fields, then kept for :data:`QUOTE_TTL_S`); otherwise the table, marked as an estimate
        where the contract does not confirm it. ValidationError for fields the model refuses."""
        priced = {k: v for k, v in fields.items() if k not in ("seed", "prompt", "image", "last_image")}
        # The price does not depend on the prompt or the image: a form without them yet still shows it.
        problems = validate(model, {"image": "https://placeholder.invalid/i.png", "prompt": "-", **priced})
        if problems:
            raise ValidationError(problems)
        table = quote(model, priced)
        if payer is None or payer.kind != "api":
            return table
        cache_key = (payer.account, model, json.dumps(priced, sort_keys=True))
        with self._lock:
            hit = self._quotes.get(cache_key)
        if hit is not None and time.monotonic() - hit[0] < QUOTE_TTL_S:
            return hit[1]
        client = self.client(payer)
        client.retry = RetryPolicy(attempts=1)  # the page waits for this: one try, then the table
        try:
            live = client.price(model, priced)
        except WaveSpeedError:
            live = table
        finally:
            client.close()
        with self._lock:
            self._quotes[cache_key] = (time.monotonic(), live)
        return live

    def code_target(self, payer: Payer | None) -> tuple[str, bool]:
        """Where the Code tab's snippets send their requests, and whether that is the free local preview: the real
        API for a key; for the local preview on a private machine the playground's own (it runs as shown while the
        app does), on a public host the one ``seedance-playground local --port 8000`` serves (a Space's own preview
        is out of a visitor's reach)."""
        from .client import DEFAULT_BASE_URL
        from .snippets import LOCAL_URL

        if payer is None or payer.kind != "local":
            return DEFAULT_BASE_URL, False
        if self.caps.public:
            return LOCAL_URL, True
        with self._lock:
            known = self._local_url
        if known is None:
            client = self.client(payer)
            known = client.base_url
            client.close()
            with self._lock:
                self._local_url = known
        return known, True

    def warm_local(self) -> None:
        """Start the embedded local API in the background (while the visitor picks an image), when it is ours."""
        if self.default_factory:
            threading.Thread(target=backends.local_server, name="warm-local-api", daemon=True).start()

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
            parts.append(f"{format_usd(max(0.0, caps.max_cost_per_session - spent))} left on this browser")
        limits = "; ".join(caps.describe()) or "no limits set by the host"
        left = (" · " + ", ".join(parts)) if parts else ""
        return f"Host's key: {limits}{left}."

    # ---- what a visitor sent -------------------------------------------------------------------------------

    def upload_path(self, value: Any, field: str = "image") -> str | None:
        """The server path of an uploaded file (see :func:`upload_path`)."""
        return upload_path(value, field, self.upload_folders)

    def check_image(self, value: Any, field: str = "image") -> None:
        """Refuse (ValidationError naming ``field``) an upload that is not a usable image, before any run."""
        from .images import prepare_image

        path = self.upload_path(value, field)
        if path:
            prepare_image(path, field)

    def sources(self, form: RunForm) -> tuple[str, str | None]:
        """The image (an uploaded file or an http(s) URL) and the optional last image of ``form``, checked."""
        source = self.upload_path(form.image, "image") or _image_url(form.image_url)
        last = self.upload_path(form.last_image, "last_image")
        if source is None:
            raise ValidationError("image: upload an image or give its URL")
        return source, last

    # ---- runs ----------------------------------------------------------------------------------------------

    def run(self, image: Any, prompt: str | None, last_image: Any, params: dict, *, batch: int, payer: Payer,
            session: str, on_status: StatusHook | None = None, visitor: str = "", model: Any = None,
            owner: str | None = None) -> RunOutcome:
        """Run ``batch`` jobs at once (seeds randomised when more than one), reporting status about twice a second.

        Cancelling (see :meth:`cancel`) stops every wait at once; the jobs stay in the ledger for resume.
        """
        batch = max(1, min(MAX_BATCH, int(batch or 1)))
        seeds = [params.get("seed", -1)] if batch == 1 else [random.randint(0, SEED_MAX) for _ in range(batch)]
        model = self.model if model is None else model
        return self.run_jobs(image, prompt, last_image, [(model, {**params, "seed": seed}) for seed in seeds],
                             payer=payer, session=session, on_status=on_status, visitor=visitor, owner=owner)

    def run_jobs(self, image: Any, prompt: str | None, last_image: Any, jobs: list[tuple[Any, dict]], *,
                 payer: Payer, session: str, on_status: StatusHook | None = None, visitor: str = "",
                 concurrency: int | None = None, owner: str | None = None,
                 on_events: Callable[[dict[int, RunEvent]], None] | None = None) -> RunOutcome:
        """Run ``jobs`` ((model, fields) pairs) on one image at once, at most ``concurrency`` at the API (default:
        all), with the session's cancel, the caps and the ledger (rows filed under ``owner``, default the session);
        results in input order. ``on_events`` sees each job's latest :class:`RunEvent` by index, about twice a second
        (a per-clip progress view). A job served from the ledger gets a ``reused`` row of the owner's."""
        owner = owner or session
        cancel = threading.Event()
        with self._lock:
            self._cancels[session] = cancel
        guard: CapGuard | None = None
        if payer.capped:
            guard = self.caps.guard(self.ledger, account=payer.account, session=owner, visitor=visitor)
        client = self.client(payer)
        t0 = time.monotonic()
        try:
            slots = self._run_jobs(client, image, prompt, last_image, jobs, cancel=cancel, guard=guard,
                                   payer=payer, session=owner, visitor=visitor, on_status=on_status,
                                   concurrency=concurrency or len(jobs), on_events=on_events)
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

    def run_form(self, form: RunForm, *, payer: Payer, session: str, on_status: StatusHook | None = None,
                 visitor: str = "", owner: str | None = None) -> RunOutcome:
        """:meth:`run` what ``form`` asks for; a bad image is refused (ValidationError) before anything is sent."""
        source, last = self.sources(form)
        return self.run(source, form.prompt, last, form.fields(), batch=form.runs, payer=payer, session=session,
                        on_status=on_status, visitor=visitor, model=form.model, owner=owner)

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

    def _run_jobs(self, client: Client, image: Any, prompt: str | None, last_image: Any,
                  jobs: list[tuple[Any, dict]], *, cancel: threading.Event, guard: CapGuard | None, payer: Payer,
                  session: str, visitor: str, on_status: StatusHook | None, concurrency: int,
                  on_events: Callable[[dict[int, RunEvent]], None] | None = None) -> list[Result | WaveSpeedError]:
        """Run each of ``jobs`` (model fields, seeds concrete or -1) through the one :class:`~playground.runner.Runner`
        (a batch is a run of seeds, like a sweep); results or errors in input order, the status about twice a second.

        The inputs are checked once, before anything is sent: a bad field or image fails every job alike.
        """
        try:
            media = read_media(image, last_image, client=client, ledger=self.ledger, public=self.caps.public)
            requests = [VideoRequest.build(model, has_last_image=last_image is not None, prompt=prompt, **fields)
                        for model, fields in jobs]
        except WaveSpeedError as exc:
            return [exc] * len(jobs)
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
                                             "anything sent is in History.")] * len(jobs))

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
                on_status(*progress_line(latest, len(jobs), len(ended), time.monotonic() - t0))
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

    # ---- the ledger, as this visitor may see it ------------------------------------------------------------

    def visible_jobs(self, owner: str, user_key: str | None, limit: int = 50, *,
                     whole: bool | None = None) -> list[Job]:
        """The jobs this visitor may see, newest first: on a private machine (or with ``whole``) the whole ledger;
        else ``owner`` 's runs and those paid with the visitor's own key."""
        if self.whole_ledger if whole is None else whole:
            return self.ledger.jobs(limit=limit)
        seen: dict[int, Job] = {j.id: j for j in self.ledger.jobs(limit=limit, session=owner)}
        if user_key and user_key.strip():
            seen.update({j.id: j for j in self.ledger.jobs(limit=limit, account=account_tag(user_key.strip()))})
        return sorted(seen.values(), key=lambda j: j.id, reverse=True)[:limit]

    def job_for(self, job_id: Any, owner: str, user_key: str | None, *, whole: bool | None = None) -> Job:
        """The visible job numbered ``job_id`` (see :meth:`visible_jobs`); a ValidationError for any other."""
        try:
            wanted = int(job_id)
        except (TypeError, ValueError, OverflowError):
            raise ValidationError("job: pick a row of the history first") from None
        try:
            job = self.ledger.get(wanted)
        except KeyError:
            job = None
        key = (user_key or "").strip()
        if job is not None and ((self.whole_ledger if whole is None else whole) or job.session == owner
                                or (key and job.account == account_tag(key))):
            return job
        raise ValidationError(f"job: {wanted} is not in your history")

    def paid_job(self, job: Job) -> Job:
        """The job that paid for ``job`` 's video: itself, or for a ``reused`` row the job it reused."""
        return self.ledger.get(job.reused_from) if job.reused_from is not None else job

    def params_of(self, job: Job) -> RunForm:
        """The form that would ask for ``job`` again: its fields, and its image by the URL it was uploaded to."""
        p = job.params
        return RunForm(image=None, image_url=p.get("image") if isinstance(p.get("image"), str) else "",
                       prompt=p.get("prompt") or "", duration=p.get("duration", 5),
                       resolution=p.get("resolution", "720p"), aspect_ratio=p.get("aspect_ratio") or MATCH_IMAGE,
                       camera_fixed=bool(p.get("camera_fixed")), generate_audio=bool(p.get("generate_audio")),
                       seed=p.get("seed", -1), batch=1, model=job.model if job.model in MODELS else SPICY)

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

    # ---- webhooks ------------------------------------------------------------------------------------------------

    def webhook_for(self, payer: Payer) -> str | None:
        """The webhook a run by ``payer`` asks for: the app's public receiver for the WaveSpeed API; none for the
        local preview, which runs beside the page, polls in milliseconds and calls only loopback URLs (waiting for a
        delivery that cannot come would cost every preview the webhook's patience)."""
        return self.webhook_url if payer.kind == "api" else None

    def receiver(self) -> WebhookReceiver:
        """The webhook receiver for this playground's ledger (serve it at ``/webhooks/wavespeed``: playground.web)."""
        return WebhookReceiver(self.ledger, client_for=self._download_client, webhooks=self.webhooks,
                               secret_for=self._known_secret)

    def _download_client(self, job: Job) -> Client:
        """A client that can fetch ``job`` 's output: its own backend's, keyless for a visitor's key (downloads send
        no key)."""
        try:
            return self.client(self.payer_for_job(job, None))
        except ValidationError:
            return Client(api_key="", base_url=job.base_url)

    def _known_secret(self, account: str) -> str | None:
        """The webhook secret of a key this server holds (the host's, or the local preview's), fetched with that key
        when a delivery for its jobs needs it (after a restart, say). A visitor's key is never kept, so deliveries for
        their jobs verify only while this process remembers the secret; resume collects the rest."""
        if self._owner_key and account == account_tag(self._owner_key):
            payer = Payer("api", self._owner_key, self.caps.any, "the host's key")
        elif account == "":
            payer = Payer("local", "", False, "the local preview")
        else:
            return None
        client = self.client(payer)
        try:
            return self.webhooks.secrets.learn(account, client)
        finally:
            client.close()

    def resume_job(self, job: Job, user_key: str | None) -> Job:
        """Collect an unfinished job (or download a finished one's video again) and return its updated row."""
        payer = self.payer_for_job(job, user_key)
        client = self.client(payer)
        try:
            outcomes = resume(client, self.ledger, job_ids=[job.id])
        finally:
            client.close()
        if outcomes and outcomes[0].error and outcomes[0].status != COMPLETED:
            raise WaveSpeedError(f"Job {job.id}: {outcomes[0].error}")
        return self.ledger.get(job.id)

    def job_with_video(self, job_id: Any, session: str, user_key: str | None) -> Job:
        """The visible job ``job_id`` with its video on disk: collected (resumed) first when it has none yet."""
        job = self.job_for(job_id, session, user_key)
        if job.reused_from is not None:  # the video is the paid job's: collect that one if it is gone
            paid = self.paid_job(job)
            if not paid.has_video and paid.status in _MAY_HAVE_VIDEO:
                paid = self.resume_job(paid, user_key)
            return dataclasses.replace(job, video_path=paid.video_path, request_id=paid.request_id)
        if not job.has_video:
            if job.status not in _MAY_HAVE_VIDEO:
                raise ValidationError(f"job {job.id} is {job.status}: it has no video. {job.error}")
            job = self.resume_job(job, user_key)
        if not job.has_video:
            raise WaveSpeedError(f"Job {job.id} is {job.status}; no video yet. {job.error}")
        return job

    def delete_from_api_history(self, job: Job, user_key: str | None) -> str:
        """Remove a job's prediction from the API's history (``POST /api/v3/predictions/delete``), a plainly named
        action of its own: no source says it stops a running task or refunds it, so it promises neither. The ledger
        keeps the row. A job with nothing at the API is refused with why (ValidationError)."""
        if job.status == REUSED:
            raise ValidationError(f"job {job.id} showed job {job.reused_from}'s video again: nothing of it is at the "
                                  "API, so there is nothing to delete")
        if not job.request_id:
            raise ValidationError(f"job {job.id}: it has no task id, so there is nothing at the API to delete")
        client = self.client(self.payer_for_job(job, user_key))
        try:
            client.delete([job.request_id])
        finally:
            client.close()
        running = (" It had not ended: deleting is not known to stop it or refund it, and it can no longer be "
                   "resumed from the API." if job.unfinished else "")
        return (f"Deleted task {job.request_id} (job {job.id}) from the API's history; the ledger keeps the job and "
                f"its video.{running}")
