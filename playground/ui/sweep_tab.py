"""The Sweep tab: the seed-sweep notebook's flow in the page. N seeds (or a list) and one or more models on the Run
tab's image, prompt and settings, priced in total before anything is sent; live progress per clip; then the clips, a
contact sheet and one tiled video playing in sync. Picking a clip makes it the draft for "Render final". The work is
:func:`playground.drafts.run_sweep` (the session's runner, caps and ledger)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import gradio as gr

from .. import drafts
from ..contract import MODELS, SPICY
from ..errors import WaveSpeedError
from ..pricing import format_usd
from ..session import Playground
from . import final

NOTE = "**Note:** "


@dataclass
class SweepTab:
    seeds: gr.Textbox
    models: gr.CheckboxGroup
    run: gr.Button
    cancel: gr.Button
    progress: gr.Markdown
    gallery: gr.Gallery
    sheet: gr.Image
    tiled: gr.Video
    clips: gr.State  # the job id of each clip shown, in gallery order


def sweep_tab() -> SweepTab:
    with gr.Tab("Sweep", elem_id="sweep-tab"):
        gr.Markdown("Drafts side by side: the Run tab's image, prompt and settings, for several seeds and models. "
                    "Everything is priced before anything is sent.")
        with gr.Row(equal_height=True):
            seeds = gr.Textbox(value="4", label="Seeds (a count, or a list: 1, 7, 42)", scale=2, elem_id="sweep-seeds")
            models = gr.CheckboxGroup([(m.title, m.model_id) for m in MODELS.values()], value=[SPICY],
                                      label="Models", scale=5, elem_id="sweep-models")
        with gr.Row():
            run = gr.Button("Run sweep", variant="primary", elem_id="sweep-run")
            cancel = gr.Button("Cancel sweep", variant="stop", visible=False, elem_id="sweep-cancel")
        progress = gr.Markdown(elem_id="sweep-progress")
        gallery = gr.Gallery(label="Clips (pick one to render its final)", columns=4, height=260,
                             elem_id="sweep-gallery")
        sheet = gr.Image(label="Contact sheet", type="filepath", interactive=False, elem_id="sweep-sheet")
        tiled = gr.Video(label="Side by side, in sync", autoplay=True, loop=True, interactive=False,
                         elem_id="sweep-tiled")
        clips = gr.State([])
    return SweepTab(seeds, models, run, cancel, progress, gallery, sheet, tiled, clips)


def _plan_label(page: Any, values: dict) -> tuple[str, str]:
    """The Run sweep button's label with the sweep's price, and why there is none (a field's problem) or ""."""
    tab, form = page.sweep, page.form.read(values)
    try:
        return drafts.plan_sweep(form, values.get(tab.seeds), values.get(tab.models) or [],
                                 has_last_image=bool(form.last_image)).label, ""
    except WaveSpeedError as exc:
        return "Run sweep", str(exc)
    except (TypeError, ValueError):
        return "Run sweep", ""


def price(pg: Playground, page: Any, values: dict) -> dict:
    label, problem = _plan_label(page, values)
    shown = values.get(page.sweep.progress) or ""
    # A problem is noted where the sweep's progress goes; the note goes once fixed, a finished sweep's summary stays.
    note = f"{NOTE}{problem}" if problem else ("" if shown.startswith(NOTE) else gr.update())
    return {page.sweep.run: gr.update(value=label), page.sweep.progress: note}


def progress_table(plan: drafts.SweepPlan, latest: dict) -> str:
    """One row per clip: its model, seed, price and where it is."""
    rows = ["| clip | model | seed | price | state |", "|---|---|---|---|---|"]
    for i, ((model, fields), quote) in enumerate(zip(plan.jobs, plan.quotes, strict=True)):
        event = latest.get(i)
        state = "waiting" if event is None else f"{event.phase} · {event.elapsed:.0f} s"
        rows.append(f"| {i + 1} | {drafts.short_name(model)} | {fields['seed']} | {format_usd(quote.usd)} | {state} |")
    return "\n".join(rows)


def run(pg: Playground, page: Any, values: dict, request: gr.Request):
    """Run the sweep in the background, yielding the per-clip progress, then the clips, sheet and tiled video."""
    from .handlers import readable, session_of, visitor

    tab, session, key = page.sweep, session_of(request), page.keys.current_key(values)
    form, seeds, models = page.form.read(values), values.get(tab.seeds), values.get(tab.models) or []
    try:
        payer = pg.payer(values.get(page.keys.backend), key)
        plan = drafts.plan_sweep(form, seeds, models, has_last_image=bool(form.last_image))
    except WaveSpeedError as exc:
        raise readable(exc) from None
    latest: dict = {}
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["swept"] = drafts.run_sweep(pg, form, seeds, models, payer=payer, session=session,
                                            visitor=visitor(request), on_events=latest.update)
        except WaveSpeedError as exc:
            box["error"] = exc

    thread = threading.Thread(target=work, name="sweep", daemon=True)
    thread.start()
    while thread.is_alive():
        yield {tab.progress: progress_table(plan, latest)}
        thread.join(0.5)
    if "error" in box:
        raise readable(pg.refuse(session, box["error"]))
    yield _shown(pg, page, box["swept"], latest, session, key)


def _shown(pg: Playground, page: Any, swept: drafts.SweepOutcome, latest: dict, session: str, key: str) -> dict:
    from .handlers import _history

    tab, clips = page.sweep, swept.clips
    shown = [row for row in clips if not pg.hides(bool(row.get("nsfw")))]
    paid = sum(float(row["cost"]) for row in clips if not row.get("reused"))
    summary = f"{len(clips)} of {len(swept.plan.jobs)} clips · {format_usd(paid)} paid"
    if swept.cancelled or len(clips) < len(swept.plan.jobs):
        summary += " · stopped: clips not sent were never sent; any sent are in History to resume"
    return {tab.progress: progress_table(swept.plan, latest) + "\n\n" + summary,
            tab.gallery: [(row["output_path"], f"{drafts.short_name(row['model'])} · seed {row['seed']}")
                          for row in shown],
            tab.sheet: str(swept.sheet) if swept.sheet else None,
            tab.tiled: str(swept.tiled) if swept.tiled else None,
            tab.clips: [int(row["job_id"]) for row in shown], **_history(pg, page, session, key)}


def start(pg: Playground, page: Any) -> dict:
    return {page.sweep.run: gr.update(visible=False), page.sweep.cancel: gr.update(visible=True)}


def finish(pg: Playground, page: Any) -> dict:
    return {page.sweep.run: gr.update(visible=True), page.sweep.cancel: gr.update(visible=False)}


def pick(pg: Playground, page: Any, clips: list, key: str, request: gr.Request, evt: gr.SelectData) -> dict:
    """A clip becomes the current draft: shown above, with its "Render final" row."""
    from .handlers import session_of

    if not clips or evt.index is None or evt.index >= len(clips):
        return {}
    session, job_id = session_of(request), clips[evt.index]
    job = pg.job_for(job_id, session, key)
    return {page.output.video: job.video_path, page.output.seed: str(job.seed),
            page.output.request_id: job.request_id or "", page.output.status: f"Draft: job {job.id} from the sweep.",
            **final.offer(pg, page, job_id, session, key)}


def wire(pg: Playground, page: Any) -> None:
    from . import handlers as h
    from .events import GENERATING, PRIVATE, bind, private

    tab, form, keys, out = page.sweep, page.form, page.keys, page.output
    inputs = {*form.fields, tab.seeds, tab.models, keys.backend, keys.key, keys.key_state}
    priced = {"fn": bind(price, pg, page), "inputs": {*form.fields, tab.seeds, tab.models, tab.progress},
              "outputs": [tab.run, tab.progress],
              "preprocess": False, **PRIVATE}
    gr.on([tab.seeds.change, tab.models.change, form.resolution.change, form.duration.change, form.audio.change,
           form.model.change], **priced)
    outputs = [tab.progress, tab.gallery, tab.sheet, tab.tiled, tab.clips, page.history.table]
    running = (tab.run.click(bind(start, pg, page), outputs=[tab.run, tab.cancel], **PRIVATE)
               .then(bind(run, pg, page), inputs=inputs, outputs=outputs, preprocess=False,
                     **private(show_progress="minimal", **GENERATING)))
    for after in (running.then, running.failure):
        after(bind(finish, pg, page), outputs=[tab.run, tab.cancel], **PRIVATE)
    tab.cancel.click(bind(h.cancel, pg), **PRIVATE)
    tab.gallery.select(bind(pick, pg, page), inputs=[tab.clips, keys.key_state],
                       outputs=[out.video, out.seed, out.request_id, out.status, *final.outputs(page)], **PRIVATE)
