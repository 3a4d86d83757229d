"""The page's event handlers: named functions of the session service, the page's components and the event's values,
returning ``{component: new value}``. Wired in :mod:`playground.ui.events`; everything they know of money, keys and
the ledger comes from :class:`playground.session.Playground`."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ..errors import WaveSpeedError
from ..pricing import format_usd
from ..session import API_LABEL, LOCAL_LABEL, Playground, RunOutcome, visitor_of
from ..snippets import curl_snippet, python_snippet, webhook_snippet
from . import final, present
from .guard import readable
from .layout import Page


def session_of(request: gr.Request | None) -> str:
    return (getattr(request, "session_hash", None) or "anonymous") if request is not None else "anonymous"


def visitor(request: gr.Request | None) -> str:
    """The per-visitor cap's identity: the client address (not the session, which a reload renews)."""
    if request is None:
        return ""
    return visitor_of(getattr(request, "headers", None), getattr(getattr(request, "client", None), "host", None))


def _history(pg: Playground, page: Page, session: str, key: str | None) -> dict:
    return {page.history.table: present.history_rows(pg.visible_jobs(session, key))}


# ---- backend and key ---------------------------------------------------------------------------------------------


def backend_text(pg: Playground, choice: str, key: str, session: str) -> str:
    """The line under the backend choice: who pays, and the money behind it."""
    try:
        payer = pg.payer(choice, key)
    except WaveSpeedError as exc:
        return present.note(exc)
    try:
        money = pg.balance_text(payer, session)
    except WaveSpeedError as exc:
        money = present.note(exc)
    return present.backend_line(payer.label, money)


def describe_backend(pg: Playground, page: Page, choice: str, key: str, request: gr.Request) -> dict:
    return {page.keys.line: backend_text(pg, choice, key, session_of(request))}


def store_key(pg: Playground, page: Page, key: str, keep: bool) -> dict:
    key = (key or "").strip()
    return {page.keys.key_state: key, page.keys.stored_key: key if keep else ""}


def use_key(pg: Playground, page: Page, key: str, keep: bool, choice: str, request: gr.Request) -> dict:
    """A typed key switches to the API: one handler sets the radio and the line, so no slower event overwrites it."""
    key = (key or "").strip()
    choice = API_LABEL if key else choice
    return {**store_key(pg, page, key, keep), page.keys.backend: gr.update(value=choice),
            page.keys.line: backend_text(pg, choice, key, session_of(request))}


def remember_key(pg: Playground, page: Page, key: str, keep: bool) -> dict:
    return {page.keys.stored_key: key if keep else ""}


def restore(pg: Playground, page: Page, saved: str, request: gr.Request) -> dict:
    """On load: the key remembered on this browser (if any), the backend line and this visitor's history."""
    key = (saved or "").strip()
    choice = API_LABEL if key else pg.default_backend
    if choice == LOCAL_LABEL:
        pg.warm_local()
    line = backend_text(pg, choice, key, session_of(request)) + (" Key remembered on this browser." if key else "")
    return {page.keys.key_state: key, page.keys.remember: bool(key), page.keys.backend: gr.update(value=choice),
            page.keys.line: line, **_history(pg, page, session_of(request), key)}


# ---- the form ------------------------------------------------------------------------------------------------


def preview(pg: Playground, page: Page, values: dict) -> dict:
    """As the form changes: the price on the Run button, the request body and the code snippets."""
    form = page.form.read(values)
    model = form.model
    try:
        payer = pg.payer(values.get(page.keys.backend), page.keys.current_key(values))
        label = present.price_label(form.fields(), int(form.batch or 1), model, pg.quote(model, form.fields(), payer))
    except (WaveSpeedError, TypeError, ValueError):
        label = "Run"
    params = present.snippet_params(form)
    return {page.form.run: gr.update(value=label),
            page.output.request_json: gr.update(value=present.request_preview(form), label=f"POST /api/v3/{model}"),
            page.output.curl: curl_snippet(params, model=model),
            page.output.python: python_snippet(params, model=model),
            page.output.webhook: webhook_snippet(params, model=model, webhook_url=pg.webhook_url)}


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


def fail_run(pg: Playground, page: Page, request: gr.Request) -> dict:
    return {**finish_run(pg, page), page.output.status: pg.stopped_line(session_of(request))}


def run(pg: Playground, page: Page, values: dict, request: gr.Request,
        progress=gr.Progress()) -> dict:  # noqa: B008 - Gradio's way to ask for a progress bar
    """Run the form (a batch of random seeds when batch > 1) and show the first video, the others in the gallery."""
    session, key = session_of(request), page.keys.current_key(values)
    try:
        payer = pg.payer(values.get(page.keys.backend), key)
        outcome = pg.run_form(page.form.read(values), payer=payer, session=session, visitor=visitor(request),
                              on_status=lambda fraction, line: progress(fraction, desc=line))
    except WaveSpeedError as exc:
        raise readable(pg.refuse(session, exc)) from None
    history = _history(pg, page, session, key)
    if not outcome.results:
        if not outcome.cancelled_jobs:
            raise readable(pg.refuse(session, outcome.errors[0]))
        gr.Info("Cancelled. The job stays in History: resume it there to collect the video.")
        out = page.output
        return {out.gallery: gr.update(visible=False), out.status: present.cancelled_line(outcome), out.seed: "",
                out.request_id: "", out.cost: "", out.inference: "", out.nsfw_notice: gr.update(visible=False),
                **history}
    for exc in outcome.errors:
        gr.Warning(str(exc))
    return {**_shown(pg, page, outcome, payer.label, session, key), **history}


def _shown(pg: Playground, page: Page, outcome: RunOutcome, payer_label: str, session: str, key: str) -> dict:
    out, results = page.output, outcome.results
    first, many = results[0], len(results) > 1
    notice = present.nsfw_notice(first.nsfw, pg.hides(first.nsfw))
    items = [(str(r.video_path), f"seed {r.seed}") for r in results if not pg.hides(r.nsfw)]
    return {
        **final.offer(pg, page, first.job_id, session, key),
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


def refresh(pg: Playground, page: Page, key: str, request: gr.Request) -> dict:
    return _history(pg, page, session_of(request), key)


def reuse_params(pg: Playground, page: Page, job_id: Any, key: str, request: gr.Request) -> dict:
    """Fill the form with a job's parameters (its image by the URL it was uploaded to)."""
    try:
        job = pg.job_for(job_id, session_of(request), key)
    except WaveSpeedError as exc:
        raise readable(exc) from None
    form, again = page.form, pg.params_of(job)
    return {form.image: again.image, form.image_url: again.image_url, form.prompt: again.prompt,
            form.duration: again.duration, form.resolution: again.resolution, form.aspect: again.aspect_ratio,
            form.camera_fixed: again.camera_fixed, form.audio: again.generate_audio, form.seed: again.seed,
            form.batch: again.batch,
            page.history.note: f"Parameters of job {job.id} loaded (image by its uploaded URL, kept 7 days)."}


def show_job(pg: Playground, page: Page, job_id: Any, key: str, request: gr.Request) -> dict:
    """Show a job's video, collecting it first (resume) when it has none yet."""
    session = session_of(request)
    try:
        job = pg.job_with_video(job_id, session, key)
    except WaveSpeedError as exc:
        raise readable(exc) from None
    out, nsfw = page.output, any(job.nsfw)
    return {out.video: gr.update(value=None if pg.hides(nsfw) else job.video_path, autoplay=not nsfw),
            out.seed: str(job.seed), out.request_id: job.request_id or "", out.cost: format_usd(job.cost),
            page.history.note: f"Job {job.id}: {job.status}.", **_history(pg, page, session, key),
            **final.offer(pg, page, job.id, session, key)}


def cancel_remote(pg: Playground, page: Page, job_id: Any, key: str, request: gr.Request) -> dict:
    """Ask the API to cancel a visible unfinished job."""
    session = session_of(request)
    try:
        text = pg.cancel_job(pg.job_for(job_id, session, key), key)
    except WaveSpeedError as exc:
        raise readable(exc) from None
    return {page.history.note: text, **_history(pg, page, session, key)}
