"""Drafts, finals and sweeps for the page, on top of :class:`playground.session.Playground` (no Gradio).

The vendor's advice, as a workflow: try cheap drafts (480p, short, several seeds or models), compare them, then pay
once for the final. :func:`run_sweep` runs seeds x models on one image through the session's runner (caps, ledger,
cancel) and lays the clips out as a contact sheet and one tiled video playing in sync; :func:`render_final` renders a
finished draft again (same model, image, prompt and seed) at a higher resolution and duration, and the ledger links
the final to its draft.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .caps import start_of_utc_day
from .contract import MODELS, SEED_MAX, SPICY, VideoRequest, show
from .errors import CapExceeded, ValidationError, WaveSpeedError
from .pricing import Quote, format_usd, price_of, total
from .session import Payer, Playground, RunForm, RunOutcome, StatusHook
from .status import COMPLETED, REUSED
from .sweep import seed_list

MAX_SWEEP_CLIPS = 16
MAX_SEEDS_TEXT = 200  # characters of the seeds box: 16 seeds of 10 digits fit
SWEEP_CONCURRENCY = 4
# A job a final can be rendered from: a finished draft, or a run that showed one again.
DRAFT_STATUSES = (COMPLETED, REUSED)


def max_sweep_cost() -> float:
    """The most one sweep from the page may cost (``PLAYGROUND_MAX_SWEEP_COST``, default $5)."""
    try:
        return float(os.environ.get("PLAYGROUND_MAX_SWEEP_COST", "") or 5.0)
    except ValueError:
        return 5.0


def short_name(model: str) -> str:
    """The model's name without the family prefix, for labels: "Seedance V1.5 Pro Image-to-Video Spicy" -> "V1.5
    Pro Spicy"."""
    title = MODELS[model].title if model in MODELS else str(model)
    return title.replace("Seedance ", "").replace(" Image-to-Video", "")


def parse_seeds(value: Any) -> list[int]:
    """"4" (that many seeds, 1 to 4, as the notebook's ``seed_sweep(seeds=4)``), or a list "1, 7, 42"; bounded before
    anything is built from it: at most :data:`MAX_SWEEP_CLIPS` seeds, each 0 to ``SEED_MAX``.

    >>> parse_seeds("3"), parse_seeds("1, 7 42")
    ([1, 2, 3], [1, 7, 42])
    """
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ValidationError(f"seeds: expected a count (4) or a list of seeds (1, 7, 42), got {show(value)}")
    text = value.strip()
    if len(text) > MAX_SEEDS_TEXT:
        raise ValidationError(f"seeds: {len(text):,} characters is too long; give a count up to {MAX_SWEEP_CLIPS} "
                              f"or a list of at most {MAX_SWEEP_CLIPS} seeds")
    if text.isdigit():
        if len(text) > 3 or int(text) > MAX_SWEEP_CLIPS:
            raise ValidationError(f"seeds: {show(text)} clips is over the most a sweep may run ({MAX_SWEEP_CLIPS})")
        if int(text) < 1:
            raise ValidationError("seeds: give a count of 1 or more, or a list (1, 7, 42)")
        return seed_list(int(text))
    parts = text.replace(",", " ").split()
    if not parts:
        raise ValidationError("seeds: give a count (4) or a list (1, 7, 42)")
    if len(parts) > MAX_SWEEP_CLIPS:
        raise ValidationError(f"seeds: {len(parts)} seeds is over the most a sweep may run ({MAX_SWEEP_CLIPS})")
    if not all(part.isdigit() and len(part) <= len(str(SEED_MAX)) for part in parts):
        raise ValidationError(f"seeds: {show(text)} is neither a count nor a list of whole numbers from 0 to "
                              f"{SEED_MAX}")
    return seed_list([int(part) for part in parts])


def model_ids(models: Any) -> list[str]:
    """The models a sweep was asked for: a list of known model ids (one message naming ``models`` otherwise)."""
    if models is None:
        return []
    if isinstance(models, str):
        models = [models]
    if not isinstance(models, (list, tuple)) or not all(isinstance(m, str) for m in models):
        raise ValidationError(f"models: expected a list of model ids, got {show(models)}")
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ValidationError(f"models: {show(unknown[0])} is not known; choose from {', '.join(MODELS)}")
    return list(dict.fromkeys(models))


@dataclass
class SweepPlan:
    """The jobs of a sweep, each priced, before anything is sent; ``held`` marks the clips the ledger already holds
    (an identical request paid for earlier: the sweep shows its video again, or collects it, and pays nothing)."""

    jobs: list[tuple[str, dict]]
    quotes: list[Quote]
    held: list[bool] = field(default_factory=list)

    @property
    def total(self) -> float:
        """USD for every clip, as if none were held."""
        return round(sum(q.usd for q in self.quotes), 6)

    @property
    def to_pay(self) -> float:
        """USD the sweep will pay: the clips the ledger does not hold."""
        return round(sum(q.usd for i, q in enumerate(self.quotes) if not self.is_held(i)), 6)

    def is_held(self, index: int) -> bool:
        return index < len(self.held) and self.held[index]

    @property
    def label(self) -> str:
        """The Run sweep button: what will be paid, and how many clips the ledger serves at $0.00."""
        count, held = len(self.jobs), sum(self.held)
        # What is paid, marked as unsure as the least sure clip of the sweep.
        paid = replace(total(q for i, q in enumerate(self.quotes) if not self.is_held(i)), kind=total(self.quotes).kind)
        text = f"Run sweep · {count} clips · {paid.short()}"
        if held == count:
            return f"{text} (all {count} already paid: shown again at $0.00)"
        return f"{text} ({held} already paid: $0.00)" if held else text


def plan_sweep(form: RunForm, seeds: Any, models: Iterable[str] | None, *, has_last_image: bool = False
               ) -> SweepPlan:
    """Seeds x models for ``form``'s settings, each checked against its model (a problem names the model)."""
    chosen = model_ids(models) or model_ids(form.model or SPICY)
    seeds = parse_seeds(seeds)
    if len(seeds) * len(chosen) > MAX_SWEEP_CLIPS:
        raise ValidationError(f"seeds: {len(seeds)} seeds x {len(chosen)} models is over {MAX_SWEEP_CLIPS} clips")
    jobs, quotes = [], []
    for model in chosen:
        fields = RunForm(**{**form.__dict__, "model": model}).fields()
        for seed in seeds:
            try:
                request = VideoRequest.build(model, has_last_image=has_last_image, prompt=form.prompt,
                                             **{**fields, "seed": seed})
            except ValidationError as exc:
                raise ValidationError([f"{short_name(model)}: {p}" for p in exc.problems]) from None
            jobs.append((model, {**fields, "seed": seed}))
            quotes.append(price_of(request))
    return SweepPlan(jobs, quotes)


def held_by_ledger(pg: Playground, plan: SweepPlan, payer: Payer, form: RunForm) -> SweepPlan:
    """``plan`` with the clips the ledger already holds marked (see :class:`SweepPlan`): the same identity the sweep
    gives each request (backend, model, fields, the images' content), asked of the ledger without sending anything
    (an image URL is not fetched). A form without a usable image yet leaves the plan as it is."""
    from .images import is_url, prepare_image

    try:
        source, last = pg.sources(form)
        hashes: dict[str, str] = {}
        client = pg.client(payer)
        try:
            for name, value in (("image", source), ("last_image", last)):
                if value is None:
                    continue
                if is_url(value) and not value.startswith("data:"):
                    hashes[name] = pg.ledger.upload_hash(value, client.base_url) or "url:" + value
                else:
                    hashes[name] = prepare_image(value, name).sha256
            backend = client.backend_id
        finally:
            client.close()
    except WaveSpeedError:
        return plan
    unfinished = {job.fingerprint for job in pg.ledger.unfinished(base_url=backend)}
    held = []
    for model, fields in plan.jobs:
        fp = VideoRequest.build(model, has_last_image=last is not None, prompt=form.prompt,
                                **fields).fingerprint(backend, hashes)
        held.append(fp in unfinished or pg.ledger.find_reusable(fp) is not None)
    return replace(plan, held=held)


@dataclass
class SweepOutcome:
    """A sweep: the notebook's DataFrame (one row per model and seed, in plan order), its contact sheet and tiled
    video, and whether it was cancelled."""

    rows: Any
    plan: SweepPlan
    cancelled: bool = False
    sheet: Path | None = None
    tiled: Path | None = None
    posters: dict[int, Path | None] = field(default_factory=dict)  # job id -> its gallery thumbnail

    @property
    def clips(self) -> list[dict]:
        """The rows with a video: what the gallery shows and a draft can be picked from."""
        return [row for row in self.rows.to_dict("records")
                if row.get("status") == COMPLETED and isinstance(row.get("output_path"), str)]


def _shared_fields(form: RunForm, models: list[str]) -> dict:
    """The form's fields for a sweep over ``models``: a field some model lacks is left out when it holds its
    default (the sweep asks nothing special of it), so the models that have it use that default."""
    fields = {k: v for k, v in RunForm(**{**form.__dict__, "model": SPICY}).fields().items() if k != "seed"}
    for name in list(fields):
        having = [MODELS[m] for m in models if name in MODELS[m].names]
        if len(having) < len(models) and having and fields[name] == having[0].param(name).default:
            del fields[name]
    return fields


def check_sweep(pg: Playground, plan: SweepPlan, *, payer, session: str, visitor: str = "",
                max_cost: float | None = None) -> None:
    """Refuse the whole sweep, before anything is sent, when it costs more than the maximum per sweep (money only:
    the local preview is free) or, on the host's key, when any clip breaks a cap or the total is over what is left
    of this session's, this visitor's or the day's budget. Per-job guards still hold during the run."""
    cap = max_sweep_cost() if max_cost is None else float(max_cost)
    if payer.kind == "api" and plan.to_pay > cap + 1e-9:
        raise CapExceeded(f"This sweep's {len(plan.jobs)} clips cost {format_usd(plan.to_pay)}, over the maximum of "
                          f"{format_usd(cap)} per sweep; nothing was sent. Ask for fewer seeds or models, or a "
                          "cheaper setting")
    if not payer.capped:
        return
    caps, ledger = pg.caps, pg.ledger
    for (_, fields), quote in zip(plan.jobs, plan.quotes, strict=True):
        caps.check(quote.usd, fields)
    day = start_of_utc_day()
    budgets = ((caps.max_cost_per_session, ledger.spent(account=payer.account, session=session),
                "this browser's budget"),
               (caps.max_cost_per_visitor, ledger.spent(since=day, account=payer.account, visitor=visitor),
                "your budget for today"),
               (caps.max_cost_per_day, ledger.spent(since=day, account=payer.account),
                "the host key's budget for today"))
    for limit, spent, what in budgets:
        if limit is not None and plan.to_pay > max(0.0, limit - spent) + 1e-9:
            raise CapExceeded(f"This sweep costs {format_usd(plan.to_pay)}; {format_usd(max(0.0, limit - spent))} is "
                              f"left of {what} on the host's key. Nothing was sent: use fewer seeds or models, or "
                              "enter your own key.")


def run_sweep(pg: Playground, form: RunForm, seeds: Any, models: Iterable[str] | None, *, payer, session: str,
              visitor: str = "", max_cost: float | None = None, on_events=None,
              owner: str | None = None) -> SweepOutcome:
    """Price the whole sweep (what it will pay, refused over ``max_cost``, default :func:`max_sweep_cost`, and
    within the host's caps for the host's key), then run it with :func:`playground.sweep.seed_sweep`, the notebook's
    own function, through its runner with bounded concurrency; rows are filed under ``owner`` (default the session).
    ``pg.cancel(session)`` stops it at once: clips not yet sent are never sent, those sent stay in the ledger, and no
    sheet or tiled video is made. Otherwise the contact sheet and the tiled video of the clips that finished. Each
    clip with a video gets a poster frame (the gallery's thumbnail); a clip the ledger served again becomes a
    ``reused`` row of the owner's."""
    from .sweep import SweepHooks, seed_sweep

    owner = owner or session
    source, last = pg.sources(form)
    plan = held_by_ledger(pg, plan_sweep(form, seeds, models, has_last_image=last is not None), payer, form)
    check_sweep(pg, plan, payer=payer, session=owner, visitor=visitor, max_cost=max_cost)
    chosen = list(dict.fromkeys(model for model, _ in plan.jobs))
    latest: dict[int, Any] = {}

    def on_event(event) -> None:
        latest[event.index] = event
        if on_events is not None:
            on_events(dict(latest))

    guard = pg.caps.guard(pg.ledger, account=payer.account, session=owner, visitor=visitor) \
        if payer.capped else None
    client = pg.client(payer)
    try:
        with pg.cancellable(session) as cancel:
            hooks = SweepHooks(on_event=on_event, cancel=cancel, guard=guard, session=owner,
                               account=payer.account, visitor=visitor, webhook_url=pg.webhook_for(payer),
                               webhooks=pg.webhooks, public=pg.caps.public)
            rows = seed_sweep(source, form.prompt, parse_seeds(seeds), model=chosen, client=client,
                              ledger=pg.ledger, last_image=last, out_dir=pg.outputs_dir, progress=False,
                              verbose=False, concurrency=min(SWEEP_CONCURRENCY, len(plan.jobs)), hooks=hooks,
                              **_shared_fields(form, chosen))
            swept = SweepOutcome(rows, plan, cancel.is_set())
    finally:
        client.close()
        if guard is not None:
            guard.release()
    _own_reuses(pg, swept, owner=owner, visitor=visitor, account=payer.account)
    _pictures(pg, swept)
    return swept


def _own_reuses(pg: Playground, swept: SweepOutcome, *, owner: str, visitor: str, account: str) -> None:
    """Each clip the ledger served again becomes a ``reused`` row of ``owner`` 's, named in the clip's row."""
    for index, row in swept.rows.iterrows():
        if bool(row.get("reused")) and row.get("status") == COMPLETED and not _missing(row.get("job_id")):
            original = pg.paid_job(pg.ledger.get(int(row["job_id"])))
            swept.rows.at[index, "job_id"] = pg.ledger.record_reuse(original, account=account, session=owner,
                                                                    visitor=visitor)


def _pictures(pg: Playground, swept: SweepOutcome) -> None:
    """Posters for the gallery; the sheet and the tiled video only for a sweep that ran to its end (a cancel means
    stop now, not after a minute of encoding)."""
    from .media import Clip, contact_sheet, poster, side_by_side

    shown = [row for row in swept.clips if not pg.hides(bool(row.get("nsfw")))]
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="poster") as pool:  # one ffmpeg each, at once
        made = list(pool.map(lambda row: poster(row["output_path"]), shown))
    swept.posters = {int(row["job_id"]): path for row, path in zip(shown, made, strict=True)}
    if not shown or swept.cancelled:
        return
    clips = [Clip(row["output_path"], int(row["seed"]), row) for row in shown]
    stem = f"sweep-{secrets.token_hex(16)}"  # the outputs folder is served: 128 random bits, never guessable
    pg.outputs_dir.mkdir(parents=True, exist_ok=True)
    swept.sheet = pg.outputs_dir / f"{stem}-sheet.png"
    contact_sheet(clips).save(swept.sheet)
    swept.tiled = side_by_side(clips, pg.outputs_dir / f"{stem}-tiled.mp4")


def _missing(value: Any) -> bool:
    try:
        return value is None or bool(value != value)  # None, NaN and pandas' NA
    except (TypeError, ValueError):
        return True


def final_request(pg: Playground, job_id: Any, resolution: Any, duration: Any, *, session: str,
                  user_key: str | None, whole: bool | None = None) -> tuple[Any, VideoRequest]:
    """The draft job and the final it asks for: the draft's model, image, prompt and seed at ``resolution`` and
    ``duration`` (checked against the model). ``session`` is whose History the draft must be in (see
    :meth:`Playground.job_for`, and ``whole`` there)."""
    draft = pg.job_for(job_id, session, user_key, whole=whole)
    if draft.status not in DRAFT_STATUSES:
        raise ValidationError(f"job: {draft.id} is {draft.status}; only a finished draft can be rendered as final")
    fields = {k: v for k, v in draft.params.items() if k not in ("image", "last_image", "prompt")}
    fields.update(resolution=resolution, duration=duration)
    request = VideoRequest.build(draft.model, has_last_image=bool(draft.params.get("last_image")),
                                 prompt=draft.params.get("prompt"), **fields)
    return draft, request


def render_final(pg: Playground, job_id: Any, resolution: Any, duration: Any, *, session: str,
                 user_key: str | None, visitor: str = "", on_status: StatusHook | None = None,
                 owner: str | None = None, whole: bool | None = None) -> RunOutcome:
    """Render a finished draft of ``owner`` 's (default: the session's) again at ``resolution`` and ``duration``
    with the same model, image (its uploaded URL: nothing is uploaded again), prompt and seed, paid like the draft
    was (the same key, within the caps); the ledger row of the final names its draft."""
    owner = owner or session
    draft, request = final_request(pg, job_id, resolution, duration, session=owner, user_key=user_key, whole=whole)
    payer = pg.payer_for_job(draft, user_key)
    fields = {k: v for k, v in request.fields.items() if k not in ("image", "last_image", "prompt")}
    outcome = pg.run_jobs(draft.params["image"], draft.params.get("prompt"), draft.params.get("last_image"),
                          [(draft.model, fields)], payer=payer, session=session, visitor=visitor,
                          on_status=on_status, owner=owner)
    paid = pg.paid_job(draft).id
    for result in outcome.results:
        # An identical request reuses the draft's own video: a job is never linked to itself or its copy.
        if result.job_id != draft.id and pg.paid_job(pg.ledger.get(result.job_id)).id != paid:
            pg.ledger.update(result.job_id, draft_of=draft.id)
    if not outcome.results and outcome.errors:
        raise outcome.errors[0]
    return outcome


def final_label(pg: Playground, job_id: Any, resolution: Any, duration: Any, *, session: str,
                user_key: str | None) -> str:
    """The Render final button: its price ("Render final · $0.52"), or why it cannot run. ``session``: the owner."""
    try:
        _, request = final_request(pg, job_id, resolution, duration, session=session, user_key=user_key)
    except WaveSpeedError:
        return "Render final"
    return f"Render final · {price_of(request).short()}"


__all__ = ["run_sweep", "plan_sweep", "SweepPlan", "SweepOutcome", "render_final", "final_label", "final_request",
           "parse_seeds", "short_name", "max_sweep_cost", "check_sweep", "held_by_ledger",
           "MAX_SWEEP_CLIPS", "DRAFT_STATUSES"]
