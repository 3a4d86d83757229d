"""Draft to final: under a finished result, "Render final" renders the same model, image, prompt and seed again at a
higher resolution and duration, priced on the button. The handlers of that row (its layout:
:mod:`.boxes`, its wiring: :mod:`.events`); the work is
:func:`playground.drafts.render_final`."""

from __future__ import annotations

import time
from typing import Any

import gradio as gr

from .. import drafts
from ..contract import find_model
from ..errors import WaveSpeedError
from ..pricing import format_usd
from ..session import Playground
from .context import owner_of, readable, session_of, visitor
from .present import history_update


def offer(pg: Playground, page: Any, job_id: Any, owner: str, key: str | None) -> dict:
    """Show the final row for a finished job (or a run that reused one): its model's resolutions (the highest
    chosen) and durations (its own)."""
    final = page.final
    try:
        job = pg.job_for(job_id, owner, key)
    except WaveSpeedError:
        return {final.draft: None, final.row: gr.update(visible=False)}
    spec = find_model(job.model)
    if spec is None or job.status not in drafts.DRAFT_STATUSES:
        return {final.draft: None, final.row: gr.update(visible=False)}
    extend = {final.extend_run: drafts.extend_label(pg, job.id, None, 5, session=owner, user_key=key),
              final.extend_duration: 5}
    if not (spec.has("image") and spec.has("duration") and spec.resolutions):  # an extension: extended, not re-rendered
        return {final.draft: job.id, final.row: gr.update(visible=True), **extend,
                final.run: gr.update(value="Render final", interactive=False),
                final.note: f"Job {job.id} (seed {job.seed}, {job.duration} s): Extend continues it."}
    duration = spec.param("duration")
    resolution, seconds = spec.resolutions[-1], int(job.duration or duration.default)
    label = drafts.final_label(pg, job.id, resolution, seconds, session=owner, user_key=key)
    return {final.draft: job.id, final.row: gr.update(visible=True),
            final.resolution: gr.update(choices=list(spec.resolutions), value=resolution),
            final.duration: gr.update(minimum=duration.minimum, maximum=duration.maximum, value=seconds),
            final.run: gr.update(value=label, interactive=True), **extend,
            final.note: f"Draft: job {job.id} (seed {job.seed}, {job.resolution}, {job.duration} s). The final "
                        "renders the same model, image, prompt and seed again; Extend continues it."}


def price(pg: Playground, page: Any, job_id: Any, resolution: Any, duration: Any, key: str, owner: str,
          request: gr.Request) -> dict:
    label = drafts.final_label(pg, job_id, resolution, duration, session=owner_of(owner, request), user_key=key)
    return {page.final.run: gr.update(value=label)}


def render(pg: Playground, page: Any, job_id: Any, resolution: Any, duration: Any, key: str, owner: str,
           request: gr.Request, progress=gr.Progress()) -> dict:  # noqa: B008 - Gradio's way to ask for a bar
    """Render the draft's final and show it (and both in History)."""
    return _follow_up(pg, page, job_id, key, owner, request, progress, drafts.render_final, (resolution, duration),
                      missing="Run a draft first (or show one from History), then render its final.",
                      stopped="The final was cancelled; it stays in History: resume it there.",
                      done=lambda r, wall: (f"Final of job {job_id} done in {wall:.1f} s · "
                                            f"{r.params.get('resolution')} · "))


def extend_price(pg: Playground, page: Any, job_id: Any, prompt: Any, duration: Any, key: str, owner: str,
                 request: gr.Request) -> dict:
    label = drafts.extend_label(pg, job_id, prompt, duration, session=owner_of(owner, request), user_key=key)
    return {page.final.extend_run: gr.update(value=label)}


def extend(pg: Playground, page: Any, job_id: Any, prompt: Any, duration: Any, key: str, owner: str,
           request: gr.Request, progress=gr.Progress()) -> dict:  # noqa: B008 - Gradio's way to ask for a bar
    """Continue the clip shown with the extend model and show the extension (linked to it in History)."""
    return _follow_up(pg, page, job_id, key, owner, request, progress, drafts.extend_clip, (prompt, duration),
                      missing="Run a clip first (or show one from History), then extend it.",
                      stopped="The extension was stopped; it stays in History: resume it there.",
                      done=lambda r, wall: f"Extension of job {job_id} done in {wall:.1f} s · ")


def _follow_up(pg: Playground, page: Any, job_id: Any, key: str, owner: str, request: gr.Request, progress,
               action, args: tuple, *, missing: str, stopped: str, done) -> dict:
    """A paid job that follows a clip shown (its final, its extension): run it, then show it (and History)."""
    session, owner, started = session_of(request), owner_of(owner, request), time.time()
    if job_id is None:
        raise readable(WaveSpeedError(missing))
    try:
        outcome = action(pg, job_id, *args, session=session, user_key=key, visitor=visitor(request), owner=owner,
                         on_status=lambda fraction, line: progress(fraction, desc=line))
    except WaveSpeedError as exc:
        raise readable(pg.refuse(session, exc, owner=owner, since=started)) from None
    if not outcome.results:
        raise readable(WaveSpeedError(stopped))
    result, out = outcome.results[0], page.output
    return {out.video: gr.update(value=None if pg.hides(result.nsfw) else str(result.video_path)),
            out.status: done(result, outcome.wall_s) + f"seed {result.seed} · {format_usd(result.cost)}",
            out.seed: str(result.seed), out.request_id: result.request_id, out.cost: format_usd(result.cost),
            **offer(pg, page, result.job_id, owner, key), **history_update(pg, page, owner, key)}


def outputs(page: Any) -> list[Any]:
    """What :func:`offer` may change (for the events that show a job)."""
    final = page.final
    return [final.draft, final.row, final.resolution, final.duration, final.run, final.note, final.extend_run,
            final.extend_duration]
