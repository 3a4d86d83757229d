"""Drafts, finals and sweeps for the page, on top of :class:`playground.session.Playground` (no Gradio).

The vendor's advice, as a workflow: try cheap drafts (480p, short, several seeds or models), compare them, then pay
once for the final. :func:`run_sweep` runs seeds x models on one image through the session's runner (caps, ledger,
cancel) and lays the clips out as a contact sheet and one tiled video playing in sync; :func:`render_final` renders a
finished draft again (same model, image, prompt and seed) at a higher resolution and duration, and the ledger links
the final to its draft.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .caps import start_of_utc_day
from .contract import MODELS, SPICY, VideoRequest, get_model
from .errors import CapExceeded, ValidationError, WaveSpeedError
from .pricing import Quote, format_usd, price_of
from .session import Playground, RunForm, RunOutcome, StatusHook
from .status import COMPLETED
from .sweep import seed_list

MAX_SWEEP_CLIPS = 16
SWEEP_CONCURRENCY = 4


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
    """"4" (that many seeds, 1 to 4, as the notebook's ``seed_sweep(seeds=4)``), or a list "1, 7, 42"."""
    text = str(value if value is not None else "").strip()
    try:
        seeds = seed_list(int(text) if text.isdigit() else [int(part) for part in text.replace(",", " ").split()])
    except (TypeError, ValueError):
        raise ValidationError(f"seeds: {text!r} is neither a count nor a list of whole numbers") from None
    if not seeds:
        raise ValidationError("seeds: give a count (4) or a list (1, 7, 42)")
    return seeds


@dataclass
class SweepPlan:
    """The jobs of a sweep, each priced, before anything is sent."""

    jobs: list[tuple[str, dict]]
    quotes: list[Quote]

    @property
    def total(self) -> float:
        return round(sum(q.usd for q in self.quotes), 6)

    @property
    def label(self) -> str:
        estimate = "" if all(q.confirmed for q in self.quotes) else "~"
        return f"Run sweep · {len(self.jobs)} clips · {estimate}{format_usd(self.total)}"


def plan_sweep(form: RunForm, seeds: Any, models: Iterable[str] | None, *, has_last_image: bool = False
               ) -> SweepPlan:
    """Seeds x models for ``form``'s settings, each checked against its model (a problem names the model)."""
    chosen = list(models or [form.model or SPICY])
    if not chosen:
        raise ValidationError("models: choose at least one model")
    seeds = parse_seeds(seeds)
    if len(seeds) * len(chosen) > MAX_SWEEP_CLIPS:
        raise ValidationError(f"seeds: {len(seeds)} seeds x {len(chosen)} models is over {MAX_SWEEP_CLIPS} clips")
    jobs, quotes = [], []
    for model in chosen:
        get_model(model)  # an unknown model is refused by name
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


@dataclass
class SweepOutcome:
    """A sweep: the notebook's DataFrame (one row per model and seed, in plan order), its contact sheet and tiled
    video, and whether it was cancelled."""

    rows: Any
    plan: SweepPlan
    cancelled: bool = False
    sheet: Path | None = None
    tiled: Path | None = None

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
    if payer.kind == "api" and plan.total > cap + 1e-9:
        raise CapExceeded(f"sweep: {len(plan.jobs)} clips cost {format_usd(plan.total)}, over the maximum of "
                          f"{format_usd(cap)} per sweep; nothing was sent. Ask for fewer seeds or models, or a "
                          "cheaper setting")
    if not payer.capped:
        return
    caps, ledger = pg.caps, pg.ledger
    for (_, fields), quote in zip(plan.jobs, plan.quotes, strict=True):
        caps.check(quote.usd, fields)
    day = start_of_utc_day()
    budgets = ((caps.max_cost_per_session, ledger.spent(account=payer.account, session=session),
                "this session's budget"),
               (caps.max_cost_per_visitor, ledger.spent(since=day, account=payer.account, visitor=visitor),
                "your budget for today"),
               (caps.max_cost_per_day, ledger.spent(since=day, account=payer.account),
                "the host key's budget for today"))
    for limit, spent, what in budgets:
        if limit is not None and plan.total > max(0.0, limit - spent) + 1e-9:
            raise CapExceeded(f"sweep: it costs {format_usd(plan.total)}; {format_usd(max(0.0, limit - spent))} is "
                              f"left of {what} on the host's key. Nothing was sent: use fewer seeds or models, or "
                              "enter your own key.")


def run_sweep(pg: Playground, form: RunForm, seeds: Any, models: Iterable[str] | None, *, payer, session: str,
              visitor: str = "", max_cost: float | None = None, on_events=None) -> SweepOutcome:
    """Price the whole sweep (refused over ``max_cost``, default :func:`max_sweep_cost`, and within the host's caps
    for the host's key), then run it with :func:`playground.sweep.seed_sweep`, the notebook's own function, through
    its runner with bounded concurrency. ``pg.cancel(session)`` stops it: clips not yet sent are never sent, those
    paid stay in the ledger. Then the contact sheet and the tiled video of the clips that finished."""
    from .sweep import SweepHooks, seed_sweep

    source, last = pg.sources(form)
    plan = plan_sweep(form, seeds, models, has_last_image=last is not None)
    check_sweep(pg, plan, payer=payer, session=session, visitor=visitor, max_cost=max_cost)
    chosen = list(dict.fromkeys(model for model, _ in plan.jobs))
    latest: dict[int, Any] = {}

    def on_event(event) -> None:
        latest[event.index] = event
        if on_events is not None:
            on_events(dict(latest))

    guard = pg.caps.guard(pg.ledger, account=payer.account, session=session, visitor=visitor) \
        if payer.capped else None
    client = pg.client(payer)
    try:
        with pg.cancellable(session) as cancel:
            hooks = SweepHooks(on_event=on_event, cancel=cancel, guard=guard, session=session,
                               account=payer.account, visitor=visitor, webhook_url=pg.webhook_for(payer))
            rows = seed_sweep(source, form.prompt, parse_seeds(seeds), model=chosen, client=client,
                              ledger=pg.ledger, last_image=last, out_dir=pg.outputs_dir, progress=False,
                              verbose=False, concurrency=min(SWEEP_CONCURRENCY, len(plan.jobs)), hooks=hooks,
                              **_shared_fields(form, chosen))
            swept = SweepOutcome(rows, plan, cancel.is_set())
    finally:
        client.close()
        if guard is not None:
            guard.release()
    shown = [row for row in swept.clips if not pg.hides(bool(row.get("nsfw")))]
    if shown:
        from .media import Clip, contact_sheet, side_by_side

        clips = [Clip(row["output_path"], int(row["seed"]), row) for row in shown]
        stem = f"sweep-{time.strftime('%Y%m%d-%H%M%S')}-{session[:8] or 'x'}"
        pg.outputs_dir.mkdir(parents=True, exist_ok=True)
        swept.sheet = pg.outputs_dir / f"{stem}-sheet.png"
        contact_sheet(clips).save(swept.sheet)
        swept.tiled = side_by_side(clips, pg.outputs_dir / f"{stem}-tiled.mp4")
    return swept


def final_request(pg: Playground, job_id: Any, resolution: Any, duration: Any, *, session: str,
                  user_key: str | None) -> tuple[Any, VideoRequest]:
    """The draft job and the final it asks for: the draft's model, image, prompt and seed at ``resolution`` and
    ``duration`` (checked against the model)."""
    draft = pg.job_for(job_id, session, user_key)
    if draft.status != COMPLETED:
        raise ValidationError(f"job: {draft.id} is {draft.status}; only a finished draft can be rendered as final")
    fields = {k: v for k, v in draft.params.items() if k not in ("image", "last_image", "prompt")}
    fields.update(resolution=resolution, duration=duration)
    request = VideoRequest.build(draft.model, has_last_image=bool(draft.params.get("last_image")),
                                 prompt=draft.params.get("prompt"), **fields)
    return draft, request


def render_final(pg: Playground, job_id: Any, resolution: Any, duration: Any, *, session: str,
                 user_key: str | None, visitor: str = "", on_status: StatusHook | None = None) -> RunOutcome:
    """Render a finished draft again at ``resolution`` and ``duration`` with the same model, image (its uploaded URL:
    nothing is uploaded again), prompt and seed, paid like the draft was (the same key, within the caps); the ledger
    row of the final names its draft."""
    draft, request = final_request(pg, job_id, resolution, duration, session=session, user_key=user_key)
    payer = pg.payer_for_job(draft, user_key)
    fields = {k: v for k, v in request.fields.items() if k not in ("image", "last_image", "prompt")}
    outcome = pg.run_jobs(draft.params["image"], draft.params.get("prompt"), draft.params.get("last_image"),
                          [(draft.model, fields)], payer=payer, session=session, visitor=visitor,
                          on_status=on_status)
    for result in outcome.results:
        if result.job_id != draft.id:  # an identical request reuses the draft itself: never link a job to itself
            pg.ledger.update(result.job_id, draft_of=draft.id)
    if not outcome.results and outcome.errors:
        raise outcome.errors[0]
    return outcome


def final_label(pg: Playground, job_id: Any, resolution: Any, duration: Any, *, session: str,
                user_key: str | None) -> str:
    """The Render final button: its price ("Render final · $0.52"), or why it cannot run."""
    try:
        _, request = final_request(pg, job_id, resolution, duration, session=session, user_key=user_key)
    except WaveSpeedError:
        return "Render final"
    q = price_of(request)
    return f"Render final · {format_usd(q.usd) if q.confirmed else '~' + format_usd(q.usd)}"


__all__ = ["run_sweep", "plan_sweep", "SweepPlan", "SweepOutcome", "render_final", "final_label", "final_request",
           "parse_seeds", "short_name", "max_sweep_cost", "check_sweep", "MAX_SWEEP_CLIPS"]
