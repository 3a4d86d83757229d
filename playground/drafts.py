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

from .caps import check_plan
from .contract import MODELS, SEED_MAX, SPICY, ModelSpec, VideoRequest, all_models, find_model, get_model, show
from .contract.spec import some_models
from .errors import ValidationError, WaveSpeedError
from .images import is_url, prepare_image
from .media import Clip, contact_sheet, poster, side_by_side
from .pricing import price_of
from .session import Payer, Playground, RunForm, RunOutcome, StatusHook
from .status import COMPLETED, REUSED
from .sweep import SweepEstimate, SweepHooks, plan_jobs, read_plan, run_planned, seed_list, with_ledger

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
    spec = find_model(model)
    title = spec.title if spec is not None else str(model)
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


def sweepable(spec: ModelSpec) -> bool:
    """Whether a sweep can run ``spec`` (a known model or a catalogue's): it makes a clip from the Run tab's image
    and needs no other medium (a clip to extend is not swept)."""
    required = {p.name for p in spec.media_fields if p.required}
    return not spec.disabled and spec.has("image") and required <= {"image", "last_image"}


def sweep_models() -> list[ModelSpec]:
    """The models a sweep can run, known ones first, in the catalogue's order."""
    return [spec for spec in all_models().values() if sweepable(spec)]


def model_ids(models: Any) -> list[str]:
    """The models a sweep was asked for: a list of ids of models it can run (one message naming ``models``
    otherwise)."""
    if models is None:
        return []
    if isinstance(models, str):
        models = [models]
    if not isinstance(models, (list, tuple)) or not all(isinstance(m, str) for m in models):
        raise ValidationError(f"models: expected a list of model ids, got {show(models)}")
    unknown = [m for m in models if find_model(m) is None or not sweepable(get_model(m))]
    if unknown:
        names = some_models(spec.model_id for spec in sweep_models())
        raise ValidationError(f"models: {show(unknown[0])} is not one a sweep can run; choose from {names}")
    return list(dict.fromkeys(models))


def plan_sweep(form: RunForm, seeds: Any, models: Iterable[str] | None, *, has_last_image: bool = False
               ) -> SweepEstimate:
    """Seeds x models for ``form``'s settings: the one sweep plan (:func:`playground.sweep.plan_jobs`), each job checked
    against its model (a problem names the model) and priced. A field a model lacks is left out for it, as the page
    hides it."""
    chosen = model_ids(models) or model_ids(form.model or SPICY)
    seeds = parse_seeds(seeds)
    if len(seeds) * len(chosen) > MAX_SWEEP_CLIPS:
        raise ValidationError(f"seeds: {len(seeds)} seeds x {len(chosen)} models is over {MAX_SWEEP_CLIPS} clips")
    return plan_jobs(form.prompt, seeds, None, chosen, has_last_image=has_last_image, explicit=(),
                     **_shared_fields(form, chosen))


def held_by_ledger(pg: Playground, plan: SweepEstimate, payer: Payer, form: RunForm) -> SweepEstimate:
    """``plan`` with the clips the ledger already holds marked (see :func:`playground.sweep.with_ledger`): the
    identity the sweep gives each request, asked of the ledger without sending anything (an image URL is not
    fetched). A form without a usable image yet leaves the plan as it is. Catalogue models are priced as the API
    quotes them (:func:`priced`)."""
    plan = priced(pg, plan, payer)
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
    return with_ledger(plan, pg.ledger, backend, hashes)


@dataclass
class SweepOutcome:
    """A sweep: the notebook's DataFrame (one row per model and seed, in plan order), its contact sheet and tiled
    video, and whether it was cancelled."""

    rows: Any
    plan: SweepEstimate
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
    """The form's fields for a sweep over ``models`` (a catalogue model's own fields too): a field some model lacks is
    left out when it holds its default (the sweep asks nothing special of it), so the models that have it use that
    default."""
    fields = {k: v for k, v in RunForm(**{**form.__dict__, "model": SPICY}).fields().items() if k != "seed"}
    own = {k: v for k, v in RunForm(**form.__dict__).fields().items() if k != "seed"}
    fields.update({k: v for k, v in own.items() if any(k in get_model(m).names for m in models)})
    for name in list(fields):
        having = [get_model(m) for m in models if name in get_model(m).names]
        if len(having) < len(models) and having and fields[name] == having[0].param(name).default:
            del fields[name]
    return fields


def priced(pg: Playground, plan: SweepEstimate, payer: Payer) -> SweepEstimate:
    """``plan`` with each catalogue model's clips at the price the API quotes for their settings (as the Run button
    has it), rather than the catalogue's floor; the known models keep their table."""
    jobs = []
    for job in plan.jobs:
        if job.model not in MODELS:
            try:
                q = pg.quote(job.model, dict(job.params), payer)
            except WaveSpeedError:
                q = None
            job = replace(job, cost=q.usd, confirmed=q.confirmed) if q is not None else job
        jobs.append(job)
    return replace(plan, jobs=tuple(jobs), confirmed=all(j.confirmed for j in jobs))


def check_sweep(pg: Playground, plan: SweepEstimate, *, payer, session: str, visitor: str = "",
                max_cost: float | None = None) -> None:
    """Refuse the whole sweep, before anything is sent, when it costs more than the maximum per sweep (money only:
    the local preview is free) or, on the host's key, when any clip breaks a cap or the total is over what is left
    of this session's, this visitor's or the day's budget: :func:`playground.caps.check_plan`."""
    cap = max_sweep_cost() if max_cost is None else float(max_cost)
    if payer.capped:
        pg.settle_late([payer])  # a refund that came since counts before the caps do
    check_plan(plan, max_cost=cap if payer.kind == "api" else None, caps=pg.caps if payer.capped else None,
               ledger=pg.ledger, account=payer.account, session=session, visitor=visitor)


def run_sweep(pg: Playground, form: RunForm, seeds: Any, models: Iterable[str] | None, *, payer, session: str,
              visitor: str = "", max_cost: float | None = None, on_events=None,
              owner: str | None = None) -> SweepOutcome:
    """Price the whole sweep (what it will pay, refused over ``max_cost``, default :func:`max_sweep_cost`, and
    within the host's caps for the host's key: :func:`check_sweep`), then run that same plan with
    :func:`playground.sweep.run_planned`, the notebooks' own runner, with bounded concurrency; rows are filed under
    ``owner`` (default the session).
    ``pg.cancel(session)`` stops it at once: clips not yet sent are never sent, those sent stay in the ledger, and no
    sheet or tiled video is made. Otherwise the contact sheet and the tiled video of the clips that finished. Each
    clip with a video gets a poster frame (the gallery's thumbnail); a clip the ledger served again becomes a
    ``reused`` row of the owner's."""
    owner = owner or session
    source, last = pg.sources(form)
    plan = held_by_ledger(pg, plan_sweep(form, seeds, models, has_last_image=last is not None), payer, form)
    check_sweep(pg, plan, payer=payer, session=owner, visitor=visitor, max_cost=max_cost)
    latest: dict[int, Any] = {}

    def on_event(event) -> None:
        latest[event.index] = event
        if on_events is not None:
            on_events(dict(latest))

    guard = pg.caps.guard(pg.ledger, account=payer.account, session=owner, visitor=visitor) \
        if payer.capped else None
    client = pg.client(payer)
    try:
        plan, media = read_plan(plan, source, last, client, pg.ledger, public=pg.caps.public)
        with pg.cancellable(session) as cancel:
            hooks = SweepHooks(on_event=on_event, cancel=cancel, guard=guard, session=owner,
                               account=payer.account, visitor=visitor, webhook_url=pg.webhook_for(payer),
                               webhooks=pg.webhooks, public=pg.caps.public)
            rows = run_planned(plan, media, client, pg.ledger, concurrency=min(SWEEP_CONCURRENCY, plan.n_jobs),
                               out_dir=pg.outputs_dir, hooks=hooks)
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
    if not isinstance(draft.params.get("image"), str):
        raise ValidationError(f"job: {draft.id} ({draft.model}) has no image to render again; extend it instead")
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
    outcome = pg.run_requests(draft.params["image"], draft.params.get("last_image"), [request], payer=payer,
                              session=session, visitor=visitor, on_status=on_status, owner=owner)
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


# The model "Extend" continues a clip with (V: fields video, prompt, duration 4-12, resolution, seed).
EXTEND_MODEL = "bytedance/seedance-v1.5-pro/video-extend"


def extension_request(pg: Playground, job_id: Any, prompt: Any, duration: Any, *, session: str,
                      user_key: str | None, whole: bool | None = None) -> tuple[Any, VideoRequest]:
    """The finished clip to continue (the paid job whose video it is) and the extension it asks for: the extend
    model with ``prompt`` and ``duration``, the clip's seed and (where the model allows it) its resolution, checked
    against the extend model of the payer's catalogue (a ValidationError naming the field)."""
    shown = pg.job_for(job_id, session, user_key, whole=whole)
    if shown.status not in DRAFT_STATUSES:
        raise ValidationError(f"job: {shown.id} is {shown.status}; only a finished clip can be extended")
    clip = pg.paid_job(shown)
    if not clip.has_video:
        raise ValidationError(f"job: {shown.id}'s video is not on this server; show it from History first")
    client = pg.client(pg.payer_for_job(clip, user_key))
    try:
        spec = client.model_spec(EXTEND_MODEL)
    finally:
        client.close()
    fields: dict[str, Any] = {"duration": duration}
    if spec.has("seed") and clip.seed is not None:
        fields["seed"] = clip.seed
    if clip.resolution in spec.resolutions:
        fields["resolution"] = clip.resolution
    return clip, VideoRequest.build(EXTEND_MODEL, media=["video"], prompt=prompt, **fields)


def extend_label(pg: Playground, job_id: Any, prompt: Any, duration: Any, *, session: str,
                 user_key: str | None) -> str:
    """The Extend button: its price ("Extend · $0.12"), or plain "Extend" when it cannot be priced yet."""
    try:
        clip, request = extension_request(pg, job_id, prompt or "-", duration, session=session, user_key=user_key)
        price = pg.quote(request.model, request.params(), pg.payer_for_job(clip, user_key))
    except WaveSpeedError:
        return "Extend"
    return f"Extend · {price.short()}"


def extend_clip(pg: Playground, job_id: Any, prompt: Any, duration: Any, *, session: str, user_key: str | None,
                visitor: str = "", on_status: StatusHook | None = None, owner: str | None = None) -> RunOutcome:
    """Continue a finished clip of ``owner`` 's with the extend model, paid like the clip was (the same key, within
    the caps); the extension's ledger row names the clip it ``extends``."""
    owner = owner or session
    clip, request = extension_request(pg, job_id, prompt, duration, session=owner, user_key=user_key)
    outcome = pg.run_requests(None, None, [request], payer=pg.payer_for_job(clip, user_key), session=session,
                              visitor=visitor, on_status=on_status, owner=owner, media={"video": clip.video_path})
    for result in outcome.results:
        if not result.reused:
            pg.ledger.update(result.job_id, extends=clip.id)
    if not outcome.results and outcome.errors:
        raise outcome.errors[0]
    return outcome


__all__ = ["run_sweep", "plan_sweep", "EXTEND_MODEL", "extension_request", "extend_label", "extend_clip",
           "SweepEstimate", "SweepOutcome", "render_final", "final_label", "final_request",
           "parse_seeds", "short_name", "max_sweep_cost", "check_sweep", "held_by_ledger",
           "MAX_SWEEP_CLIPS", "DRAFT_STATUSES"]
