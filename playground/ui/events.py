"""Which event runs which handler: all the page's wiring, in one place (:func:`wire`). Every event is private (no API,
no progress overlay, no queue limit) unless it says otherwise; only :mod:`playground.ui.endpoints` is public."""

from __future__ import annotations

import inspect
import os
import typing
from collections.abc import Callable
from typing import Any

import gradio as gr

from ..contract import SEED_MAX
from ..session import Playground
from . import endpoints, final, guard, model_form
from . import handlers as h
from . import keys as keys_box
from . import sweep_tab as sweep
from .layout import Page

# Polling is I/O-bound: many visitors can wait at once without using the CPU.
GENERATE_CONCURRENCY = int(os.environ.get("PLAYGROUND_CONCURRENCY", "16"))
# The events that hold a connection to the API while they wait share one queue.
GENERATING = {"concurrency_limit": GENERATE_CONCURRENCY, "concurrency_id": "generate"}
# Every other event (prices, previews, the key box, History) is quick; they share a bounded queue of their own, so no
# flood of them can take every thread.
LIGHT = {"concurrency_limit": 8, "concurrency_id": "light"}
PRIVATE = {"api_visibility": "private", "show_progress": "hidden", **LIGHT}


def private(**overrides: Any) -> dict[str, Any]:
    """The keyword arguments of a private event: :data:`PRIVATE` with ``overrides``."""
    return {**PRIVATE, **overrides}


def bind(handler: Callable, *context: Any) -> Callable:
    """``handler`` with its first arguments (the session service, the page) given: a plain function whose signature
    and type hints are the rest, so Gradio still sees its inputs, ``gr.Request`` and ``gr.Progress``. Every value a
    visitor sent is bounded before the handler runs, and what the handler raises reaches the visitor as a toast,
    never as an exception's text (:mod:`playground.ui.guard`)."""
    hints = typing.get_type_hints(handler)
    rest = list(inspect.signature(handler).parameters.values())[len(context):]
    signature = inspect.Signature([p.replace(annotation=hints.get(p.name, p.annotation)) for p in rest],
                                  return_annotation=hints.get("return", inspect.Signature.empty))
    name = handler.__name__

    def checked(args: tuple, kwargs: dict) -> None:
        try:
            arguments = signature.bind_partial(*args, **kwargs).arguments
        except TypeError:  # not as the signature says: still checked, by position
            arguments = {**{f"value {i + 1}": a for i, a in enumerate(args)}, **kwargs}
        guard.check(arguments)

    if inspect.isgeneratorfunction(handler):  # Gradio streams only from a generator function
        def event(*args: Any, **kwargs: Any) -> Any:
            checked(args, kwargs)
            try:
                yield from handler(*context, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - every failure reaches the visitor as a sentence
                raise guard.translate(exc, name) from None
    else:
        def event(*args: Any, **kwargs: Any) -> Any:
            checked(args, kwargs)
            try:
                return handler(*context, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - every failure reaches the visitor as a sentence
                raise guard.translate(exc, name) from None

    event.__name__ = event.__qualname__ = name
    event.__doc__ = handler.__doc__
    event.__signature__ = signature
    event.__annotations__ = {key: hint for key, hint in hints.items()
                             if key == "return" or key in signature.parameters}
    return event


def wire(pg: Playground, page: Page, demo: gr.Blocks) -> None:
    """Every event of the page (in this order: Gradio numbers them as they are bound)."""
    wire_form(pg, page, demo)
    wire_keys(pg, page, demo)
    wire_run(pg, page)
    wire_endpoints(pg, page)
    wire_history(pg, page)
    wire_model(pg, page, demo)
    wire_final(pg, page)
    wire_sweep(pg, page)


def wire_form(pg: Playground, page: Page, demo: gr.Blocks) -> None:
    form, out = page.form, page.output
    changes = [form.resolution.change, form.duration.change, form.audio.change, form.batch.change,
               form.aspect.change, form.camera_fixed.change, form.seed.change, form.prompt.change,
               form.image.change, form.image_url.change, form.last_image.change, form.model.change,
               *(slot.change for slot in form.extras.all)]
    preview = {"fn": bind(h.preview, pg, page),
               "inputs": {*form.fields, *form.extras.all, page.keys.backend, page.keys.key_state},
               "outputs": [form.run, out.request_json, *code_outputs(page)], "preprocess": False, **PRIVATE}
    gr.on(changes, **preview)
    demo.load(**preview)
    form.dice.click(None, None, form.seed, js=f"() => Math.floor(Math.random() * {SEED_MAX})")
    for image, field in ((form.image, "image"), (form.last_image, "last_image")):
        image.upload(bind(h.check_upload, pg, field), inputs=image, outputs=image, preprocess=False, **PRIVATE)
    for slot, upload in form.extras.media.items():  # a catalogue model's clip, sound or pictures, by its field
        upload.upload(bind(h.check_media_upload, pg, page, slot), inputs=[upload, form.model], outputs=upload,
                      preprocess=False, **PRIVATE)


def code_outputs(page: Page) -> list[Any]:
    """The Code tab's components (see :func:`handlers.code`)."""
    out = page.output
    return [out.code_note, out.curl, out.python, out.webhook]


# On a phone the columns stack: Run brings the result (just under it, see ui.CSS) into view.
SHOW_RESULT_JS = """() => { if (window.innerWidth < 768) {
    document.querySelector('#output-video')?.scrollIntoView({block: 'start', behavior: 'instant'}); } return []; }"""


def wire_run(pg: Playground, page: Page) -> None:
    form, out, keys = page.form, page.output, page.keys
    buttons = [form.run, form.cancel, out.status]
    outputs = [out.video, out.gallery, out.status, out.seed, out.request_id, out.cost, out.inference,
               out.nsfw_notice, out.request_json, out.response_json, page.history.table, *final.outputs(page),
               *code_outputs(page)]
    running = (form.run.click(bind(h.start_run, pg, page), outputs=buttons, js=SHOW_RESULT_JS, **PRIVATE)
               .then(bind(h.run, pg, page),
                     inputs={*form.fields, *form.extras.all, keys.backend, keys.key, keys.key_state, keys.owner},
                     outputs=outputs, preprocess=False, **private(show_progress_on=[out.video, out.status],
                                                                   show_progress="full", **GENERATING)))
    # Gradio's page runs .then only after a success: .failure puts Run back after an error too.
    running.then(bind(h.finish_run, pg, page), outputs=buttons, **PRIVATE).then(
        bind(keys_box.describe_backend, pg, page), inputs=[keys.backend, keys.key_state, keys.owner], outputs=keys.line,
        **PRIVATE)
    running.failure(bind(h.fail_run, pg, page), inputs=keys.owner, outputs=buttons, **PRIVATE).then(
        bind(keys_box.describe_backend, pg, page), inputs=[keys.backend, keys.key_state, keys.owner], outputs=keys.line,
        **PRIVATE)
    form.cancel.click(bind(h.cancel, pg), **PRIVATE)


def wire_history(pg: Playground, page: Page) -> None:
    tab, form, out, keys = page.history, page.form, page.output, page.keys
    shown = private(show_progress="full")
    tab.table.select(bind(h.pick_row, pg, page), outputs=tab.job_id, **PRIVATE)
    tab.refresh.click(bind(h.refresh, pg, page), inputs=[keys.key_state, keys.owner], outputs=tab.table, **shown)
    tab.reuse.click(bind(h.reuse_params, pg, page), inputs=[tab.job_id, form.model, keys.key_state, keys.owner],
                    outputs=[form.model, form.image, form.image_url, form.prompt, form.duration, form.resolution,
                             form.aspect, form.camera_fixed, form.audio, form.seed, form.batch, tab.note,
                             *form.extras.all, form.extras.pending], **shown)
    job_outputs = [out.video, out.seed, out.request_id, out.cost, tab.note, tab.table, *final.outputs(page)]
    for button in (tab.show, tab.resume):
        button.click(bind(h.show_job, pg, page), inputs=[tab.job_id, keys.key_state, keys.owner], outputs=job_outputs,
                     **private(show_progress="full", **GENERATING))
    tab.cancel_remote.click(bind(h.cancel_remote, pg, page), inputs=[tab.job_id, keys.key_state, keys.owner],
                            outputs=[tab.note, tab.table], **shown)


def wire_endpoints(pg: Playground, page: Page) -> None:
    """The public endpoints: ``/generate``, ``/render_final`` and ``/sweep`` (through hidden triggers and outputs)
    and ``/price``. None runs at start-up and none is cached."""
    form, api, tab = page.form, page.api, page.sweep
    api.trigger.click(bind(endpoints.generate, pg), inputs=[f for f in form.fields if f is not form.batch],
                      outputs=[api.video, api.details], preprocess=False, api_name="generate", **GENERATING)
    gr.api(bind(endpoints.price), api_name="price", **LIGHT)
    with gr.Row(visible=False):
        job_id, final_trigger, sweep_trigger = gr.Number(precision=0), gr.Button("final"), gr.Button("sweep")
        sheet, rows = gr.Image(type="filepath"), gr.JSON()
    final_trigger.click(bind(endpoints.render_final, pg), inputs=[job_id, page.final.resolution, page.final.duration],
                        outputs=[api.video, api.details], preprocess=False, api_name="render_final", **GENERATING)
    sweep_trigger.click(bind(endpoints.sweep, pg),
                        inputs=[form.image, form.image_url, form.prompt, tab.seeds, tab.models, form.duration,
                                form.resolution, form.aspect, form.camera_fixed, form.audio],
                        outputs=[api.video, sheet, rows], preprocess=False, api_name="sweep", **GENERATING)


def wire_keys(pg: Playground, page: Page, demo: gr.Blocks) -> None:
    keys = page.keys
    keys.key.change(bind(keys_box.store_key, pg, page), inputs=[keys.key, keys.remember],
                    outputs=[keys.key_state, keys.stored_key], **PRIVATE)
    gr.on([keys.key.submit, keys.key.blur], bind(keys_box.use_key, pg, page),
          inputs=[keys.key, keys.remember, keys.backend, keys.owner],
          outputs=[keys.key_state, keys.stored_key, keys.backend, keys.line], **PRIVATE)
    keys.remember.change(bind(keys_box.remember_key, pg, page), inputs=[keys.key_state, keys.remember],
                         outputs=keys.stored_key, **PRIVATE)
    keys.backend.input(bind(keys_box.describe_backend, pg, page), inputs=[keys.backend, keys.key_state, keys.owner],
                       outputs=keys.line, **PRIVATE)
    demo.load(bind(keys_box.restore, pg, page), inputs=[keys.stored_key, keys.identity],
              outputs=[keys.key_state, keys.remember, keys.backend, keys.line, keys.identity, keys.owner,
                       page.history.table], **PRIVATE)


def wire_model(pg: Playground, page: Page, demo: gr.Blocks) -> None:
    form = page.form
    form.model.change(bind(model_form.follow, pg, page),
                      inputs=[form.model, form.resolution, form.duration, page.sweep.models, form.extras.pending],
                      outputs=[form.image, form.image_url, form.last_frame, form.audio, form.camera_fixed, form.aspect,
                               form.resolution, form.duration, form.prompt, page.header, page.pricing.note,
                               page.pricing.table, page.sweep.models, *form.extras.all, form.extras.pending],
                      **PRIVATE)
    # The model list is the catalogue of the backend the page uses, read when the page loads and when it changes.
    listed = {"fn": bind(model_form.load_models, pg, page),
              "inputs": [page.keys.backend, page.keys.key_state, form.model, page.sweep.models],
              "outputs": [form.model, page.sweep.models],
              "preprocess": False, **PRIVATE}  # raw values: a stranger's model need not be in the list
    demo.load(**listed)
    page.keys.backend.change(**listed)
    form.samples.load_input_event.then(bind(model_form.relabel, pg, page), inputs=form.model, outputs=form.prompt,
                                       **PRIVATE)


def wire_final(pg: Playground, page: Page) -> None:
    row, keys, out = page.final, page.keys, page.output
    asked = [row.draft, row.resolution, row.duration, keys.key_state, keys.owner]
    for control in (row.resolution, row.duration):
        control.change(bind(final.price, pg, page), inputs=asked, outputs=row.run, **PRIVATE)
    shows = [out.video, out.status, out.seed, out.request_id, out.cost, *final.outputs(page), page.history.table]
    row.run.click(bind(final.render, pg, page), inputs=asked, outputs=shows,
                  **private(show_progress_on=[out.video, out.status], show_progress="full", **GENERATING))
    extension = [row.draft, row.extend_prompt, row.extend_duration, keys.key_state, keys.owner]
    row.extend_duration.change(bind(final.extend_price, pg, page), inputs=extension, outputs=row.extend_run,
                               **PRIVATE)
    row.extend_run.click(bind(final.extend, pg, page), inputs=extension, outputs=shows,
                         **private(show_progress_on=[out.video, out.status], show_progress="full", **GENERATING))


def wire_sweep(pg: Playground, page: Page) -> None:
    tab, form, keys, out = page.sweep, page.form, page.keys, page.output
    inputs = {*form.fields, tab.seeds, tab.models, keys.backend, keys.key, keys.key_state, keys.owner}
    priced = {"fn": bind(sweep.price, pg, page), "inputs": {*form.fields, tab.seeds, tab.models, tab.progress,
                                                            keys.backend, keys.key_state},
              "outputs": [tab.run, tab.progress], "preprocess": False, "trigger_mode": "always_last", **PRIVATE}
    gr.on([tab.seeds.change, tab.models.change, form.resolution.change, form.duration.change, form.audio.change,
           form.model.change, form.image.change, form.image_url.change, form.prompt.change, form.aspect.change,
           form.camera_fixed.change, keys.backend.change], **priced)
    outputs = [tab.progress, tab.gallery, tab.sheet, tab.tiled, tab.clips, page.history.table]
    running = (tab.run.click(bind(sweep.start, pg, page), outputs=[tab.run, tab.cancel], **PRIVATE)
               .then(bind(sweep.run, pg, page), inputs=inputs, outputs=outputs, preprocess=False,
                     **private(show_progress="minimal", **GENERATING)))
    for after in (running.then, running.failure):
        # The button's price again: what the ledger now holds is shown again at $0.00.
        after(bind(sweep.finish, pg, page), outputs=[tab.run, tab.cancel], **PRIVATE).then(**priced)
    tab.cancel.click(bind(h.cancel, pg), **PRIVATE)
    tab.gallery.select(bind(sweep.pick, pg, page), inputs=[tab.clips, keys.key_state, keys.owner],
                       outputs=[out.video, out.seed, out.request_id, out.status, *final.outputs(page)], **PRIVATE)
