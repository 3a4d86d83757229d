"""The page's event handlers: named functions of the session service, the page's components and the event's values,
returning ``{component: new value}``. Wired in :mod:`playground.ui.events`; everything they know of money, keys and
the ledger comes from :class:`playground.session.Playground`."""

from __future__ import annotations

import time
from typing import Any

import gradio as gr

from ..contract import find_model, get_model
from ..errors import ValidationError, WaveSpeedError
from ..pricing import format_usd
from ..session import Payer, Playground, RunOutcome
from ..snippets import curl_snippet, python_snippet, webhook_snippet
from . import extras, final, model_form, present
from .context import owner_of, readable, session_of, visitor
from .layout import Page
from .present import history_update

# ---- the form ------------------------------------------------------------------------------------------------


def preview(pg: Playground, page: Page, values: dict) -> dict:
    """As the form changes: the price on the Run button, the request body and the code snippets."""
    form = page.form.read(values)
    model = form.model
    payer = None
    try:
        payer = pg.payer(values.get(page.keys.backend), page.keys.current_key(values))
        label = present.price_label(form.fields(), int(form.batch or 1), model, pg.quote(model, form.fields(), payer))
    except (WaveSpeedError, TypeError, ValueError):
        label = "Run"
    return {page.form.run: gr.update(value=label),
            page.output.request_json: gr.update(value=present.request_preview(form), label=f"POST /api/v3/{model}"),
            **code(pg, page, present.snippet_params(form), model, payer)}


def code(pg: Playground, page: Page, params: dict, model: str, payer: Payer | None, seed_note: str = "") -> dict:
    """The Code tab for ``params``: aimed at the backend the page uses (the local preview's address, with the
    command that serves one, when local)."""
    base_url, local = pg.code_target(payer)
    out = page.output
    return {out.code_note: present.code_note(base_url, local) + seed_note,
            out.curl: curl_snippet(params, model=model, base_url=base_url, local=local),
            out.python: python_snippet(params, model=model, base_url=base_url, local=local),
            out.webhook: webhook_snippet(params, model=model, webhook_url=pg.webhook_url, base_url=base_url,
                                         local=local)}


def check_upload(pg: Playground, field: str, image: Any) -> Any:
    """Refuse a non-image at once, by name, before anyone clicks Run."""
    try:
        pg.check_image(image, field)
    except WaveSpeedError as exc:
        raise readable(exc) from None
    return gr.update()


# ---- a run ---------------------------------------------------------------------------------------------------


def start_run(pg: Playground, page: Page) -> dict:
    return {page.form.run: gr.update(visible=False), page.form.cancel: gr.update(visible=True),
            page.output.status: "Starting…"}


def finish_run(pg: Playground, page: Page) -> dict:
    return {page.form.run: gr.update(visible=True), page.form.cancel: gr.update(visible=False)}


def fail_run(pg: Playground, page: Page, owner: str, request: gr.Request) -> dict:
    return {**finish_run(pg, page),
            page.output.status: pg.stopped_line(session_of(request), owner=owner_of(owner, request))}


def run(pg: Playground, page: Page, values: dict, request: gr.Request,
        progress=gr.Progress()) -> dict:  # noqa: B008 - Gradio's way to ask for a progress bar
    """Run the form (a batch of random seeds when batch > 1) and show the first video, the others in the gallery."""
    session, key = session_of(request), page.keys.current_key(values)
    owner, started = owner_of(page.keys.owner_of(values), request), time.time()
    form = page.form.read(values)
    try:
        payer = pg.payer(values.get(page.keys.backend), key)
        outcome = pg.run_form(form, payer=payer, session=session, visitor=visitor(request), owner=owner,
                              on_status=lambda fraction, line: progress(fraction, desc=line))
    except WaveSpeedError as exc:
        raise readable(pg.refuse(session, exc, owner=owner, since=started)) from None
    history = history_update(pg, page, owner, key)
    if not outcome.results:
        if not outcome.cancelled_jobs:
            raise readable(pg.refuse(session, outcome.errors[0], owner=owner, since=started))
        gr.Info(present.cancelled_line(outcome))
        out = page.output
        return {out.gallery: gr.update(visible=False), out.status: present.cancelled_line(outcome), out.seed: "",
                out.request_id: "", out.cost: "", out.inference: "", out.nsfw_notice: gr.update(visible=False),
                **history}
    for exc in outcome.errors:
        gr.Warning(str(exc))
    first = outcome.results[0]
    params = {**present.snippet_params(form), "seed": first.seed}
    return {**_shown(pg, page, outcome, payer.label, owner, key), **history,
            **code(pg, page, params, first.model, payer, present.seed_note(first.seed))}


def _shown(pg: Playground, page: Page, outcome: RunOutcome, payer_label: str, owner: str, key: str) -> dict:
    out, results = page.output, outcome.results
    first, many = results[0], len(results) > 1
    notice = present.nsfw_notice(first.nsfw, pg.hides(first.nsfw))
    items = [(str(r.video_path), f"seed {r.seed}") for r in results if not pg.hides(r.nsfw)]
    return {
        **final.offer(pg, page, first.job_id, owner, key),
        out.video: gr.update(value=None if pg.hides(first.nsfw) else str(first.video_path), autoplay=not first.nsfw),
        out.gallery: gr.update(value=items, visible=many),
        out.status: present.done_line(outcome, payer_label),
        out.seed: ", ".join(str(r.seed) for r in results),
        out.request_id: ", ".join(r.request_id for r in results),
        out.cost: format_usd(present.paid(outcome)) + present.reused_note(first),
        out.inference: present.inference_text(first.inference_ms),
        out.nsfw_notice: gr.update(value=notice, visible=bool(notice)),
        out.request_json: [r.params for r in results] if many else first.params,
        out.response_json: [present.response_json(r) for r in results] if many else present.response_json(first),
    }


def cancel(pg: Playground, request: gr.Request) -> None:
    if not pg.cancel(session_of(request)):
        gr.Info("Nothing is running.")


# ---- history -------------------------------------------------------------------------------------------------


def pick_row(pg: Playground, page: Page, evt: gr.SelectData) -> dict:
    row = evt.row_value or []
    return {page.history.job_id: row[0] if row else None}


def refresh(pg: Playground, page: Page, key: str, owner: str, request: gr.Request) -> dict:
    return history_update(pg, page, owner_of(owner, request), key)


def reuse_params(pg: Playground, page: Page, job_id: Any, model_now: Any, key: str, owner: str,
                 request: gr.Request) -> dict:
    """Fill the form with everything a job asked for, its model included (its image and other media by the URLs
    they were uploaded to, its model's own fields in their slots); the model's labels and price follow through the
    model's change event, which shows the restored fields rather than the defaults."""
    try:
        job = pg.job_for(job_id, owner_of(owner, request), key)
    except WaveSpeedError as exc:
        raise readable(exc) from None
    form, again = page.form, pg.params_of(job)
    spec = find_model(job.model)
    model = job.model if spec is not None and not model_form.unavailable(spec) else again.model
    spec = get_model(model)
    values = extras.values_of(spec, job.params)
    last = " The last frame is not restored: upload it again." if job.params.get("last_image") else ""
    own = f" Its own fields restored: {', '.join(values)}." if values else ""
    return {form.model: model, form.image: again.image, form.image_url: again.image_url,
            form.prompt: again.prompt, form.duration: again.duration, form.resolution: again.resolution,
            form.aspect: again.aspect_ratio, form.camera_fixed: again.camera_fixed, form.audio: again.generate_audio,
            form.seed: again.seed, form.batch: again.batch, **extras.updates(form.extras, spec, values),
            form.extras.pending: {"model": model, "values": values} if model != model_now else None,
            page.history.note: f"Parameters of job {job.id} loaded ({present.model_name(job.model)}; media by their "
                               f"uploaded URLs, kept 7 days).{own}{last}"}


def check_media_upload(pg: Playground, page: Page, slot: tuple[str, int], value: Any, model: Any) -> Any:
    """Refuse an upload that is not the clip, sound or picture its field takes, by the field's name, at once."""
    spec = find_model(model)
    placed, _ = extras.assign(extras.extra_params(spec)) if spec is not None else ({}, [])
    field = placed[slot].name if slot in placed else slot[0]
    try:
        pg.check_media(value, field, slot[0])
    except WaveSpeedError as exc:
        raise readable(exc) from None
    return gr.update()


def show_job(pg: Playground, page: Page, job_id: Any, key: str, owner: str, request: gr.Request) -> dict:
    """Show a job's video, collecting it first (resume) when it has none yet."""
    owner = owner_of(owner, request)
    try:
        job = pg.job_with_video(job_id, owner, key)
    except WaveSpeedError as exc:
        raise readable(exc) from None
    out, nsfw = page.output, any(job.nsfw)
    return {out.video: gr.update(value=None if pg.hides(nsfw) else job.video_path, autoplay=not nsfw),
            out.seed: str(job.seed), out.request_id: job.request_id or "", out.cost: format_usd(job.cost),
            page.history.note: f"Job {job.id}: {job.status}.", **history_update(pg, page, owner, key),
            **final.offer(pg, page, job.id, owner, key)}


def cancel_remote(pg: Playground, page: Page, job_id: Any, key: str, owner: str, request: gr.Request) -> dict:
    """Delete a visible job's prediction from the API's history (not a cancel: nothing says it stops or refunds);
    why not, in the note, when it cannot be."""
    owner = owner_of(owner, request)
    try:
        text = pg.delete_from_api_history(pg.job_for(job_id, owner, key), key)
    except ValidationError as exc:
        text = present.note(f"Not deleted: {exc}.")
    except WaveSpeedError as exc:
        raise readable(exc) from None
    return {page.history.note: text, **history_update(pg, page, owner, key)}
