"""Draft to final: under a finished result, "Render final" renders the same model, image, prompt and seed again at a
higher resolution and duration, priced on the button. Layout, handlers and wiring of that row; the work is
:func:`playground.drafts.render_final`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from .. import drafts
from ..contract import MODELS
from ..errors import WaveSpeedError
from ..pricing import format_usd
from ..session import Playground


@dataclass
class FinalRow:
    """The job shown as the current draft, and the controls that render its final."""

    draft: gr.State
    row: gr.Group
    resolution: gr.Radio
    duration: gr.Slider
    run: gr.Button
    note: gr.Markdown


def final_row() -> FinalRow:
    draft = gr.State(None)
    with gr.Group(visible=False, elem_id="final-row") as row:
        with gr.Row(equal_height=True):
            resolution = gr.Radio(["1080p"], value="1080p", label="Final resolution", scale=3,
                                  elem_id="final-resolution")
            duration = gr.Slider(4, 12, value=5, step=1, label="Final duration (s)", scale=3, elem_id="final-duration")
            run = gr.Button("Render final", variant="primary", scale=2, elem_id="final-button")
        note = gr.Markdown("Same model, image, prompt and seed as the video above, rendered again.")
    return FinalRow(draft, row, resolution, duration, run, note)


def offer(pg: Playground, page: Any, job_id: Any, session: str, key: str | None) -> dict:
    """Show the final row for a finished job: its model's resolutions (the highest chosen) and durations (its own)."""
    final = page.final
    try:
        job = pg.job_for(job_id, session, key)
    except WaveSpeedError:
        return {final.draft: None, final.row: gr.update(visible=False)}
    spec = MODELS.get(job.model)
    if spec is None or not job.completed:
        return {final.draft: None, final.row: gr.update(visible=False)}
    duration = spec.param("duration")
    resolution, seconds = spec.resolutions[-1], int(job.duration or duration.default)
    label = drafts.final_label(pg, job.id, resolution, seconds, session=session, user_key=key)
    return {final.draft: job.id, final.row: gr.update(visible=True),
            final.resolution: gr.update(choices=list(spec.resolutions), value=resolution),
            final.duration: gr.update(minimum=duration.minimum, maximum=duration.maximum, value=seconds),
            final.run: gr.update(value=label, interactive=True),
            final.note: f"Draft: job {job.id} (seed {job.seed}, {job.resolution}, {job.duration} s). The final "
                        "renders the same model, image, prompt and seed again."}


def price(pg: Playground, page: Any, job_id: Any, resolution: Any, duration: Any, key: str,
          request: gr.Request) -> dict:
    from .handlers import session_of

    label = drafts.final_label(pg, job_id, resolution, duration, session=session_of(request), user_key=key)
    return {page.final.run: gr.update(value=label)}


def render(pg: Playground, page: Any, job_id: Any, resolution: Any, duration: Any, key: str,
           request: gr.Request, progress=gr.Progress()) -> dict:  # noqa: B008 - Gradio's way to ask for a bar
    """Render the draft's final and show it (and both in History)."""
    from .handlers import _history, readable, session_of, visitor

    session = session_of(request)
    if job_id is None:
        raise readable(WaveSpeedError("Run a draft first (or show one from History), then render its final."))
    try:
        outcome = drafts.render_final(pg, job_id, resolution, duration, session=session, user_key=key,
                                      visitor=visitor(request),
                                      on_status=lambda fraction, line: progress(fraction, desc=line))
    except WaveSpeedError as exc:
        raise readable(pg.refuse(session, exc)) from None
    if not outcome.results:
        raise readable(WaveSpeedError("The final was cancelled; it stays in History: resume it there."))
    result, out = outcome.results[0], page.output
    return {out.video: gr.update(value=None if pg.hides(result.nsfw) else str(result.video_path)),
            out.status: f"Final of job {job_id} done in {outcome.wall_s:.1f} s · {result.params.get('resolution')} "
                        f"· seed {result.seed} · {format_usd(result.cost)}",
            out.seed: str(result.seed), out.request_id: result.request_id, out.cost: format_usd(result.cost),
            **offer(pg, page, result.job_id, session, key), **_history(pg, page, session, key)}


def outputs(page: Any) -> list[Any]:
    """What :func:`offer` may change (for the events that show a job)."""
    final = page.final
    return [final.draft, final.row, final.resolution, final.duration, final.run, final.note]


def wire(pg: Playground, page: Any) -> None:
    from .events import GENERATING, PRIVATE, bind, private

    final, keys, out = page.final, page.keys, page.output
    for control in (final.resolution, final.duration):
        control.change(bind(price, pg, page), inputs=[final.draft, final.resolution, final.duration, keys.key_state],
                       outputs=final.run, **PRIVATE)
    shows = [out.video, out.status, out.seed, out.request_id, out.cost, *outputs(page), page.history.table]
    final.run.click(bind(render, pg, page), inputs=[final.draft, final.resolution, final.duration, keys.key_state],
                    outputs=shows, **private(show_progress_on=[out.video, out.status], show_progress="full",
                                             **GENERATING))
