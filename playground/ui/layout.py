"""The page's components, grouped by what they are for. Only layout: no handler and no event here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from ..contract import ASPECT_RATIOS, MODELS, RESOLUTIONS, SEED_MAX, SPICY, get_model
from ..session import MATCH_IMAGE, MAX_BATCH, SAMPLES_DIR, RunForm
from . import extras as extra_slots
from .boxes import FinalRow, KeyBox, SweepTab, final_row, key_box, sweep_tab
from .present import HISTORY_HEADERS, header_text, price_label, pricing_frame, pricing_note

SAMPLE_PROMPTS = {
    "sunset_beach.jpg": "The waves roll in slowly, the palm sways in the breeze, slow zoom in",
    "mountain_lake.jpg": "Mist drifts over the lake, gentle pan right",
    "lantern_street.jpg": "The lanterns swing softly, rain falls, the camera tilts up",
    "koi_pond.jpg": "The koi swim in lazy circles, ripples spread, static camera",
}


@dataclass
class Form:
    """What the visitor asks for, and the Run / Cancel pair."""

    model: gr.Dropdown
    last_frame: gr.Accordion
    image: gr.Image
    image_url: gr.Textbox
    prompt: gr.Textbox
    last_image: gr.Image
    duration: gr.Slider
    resolution: gr.Radio
    aspect: gr.Dropdown
    camera_fixed: gr.Checkbox
    audio: gr.Checkbox
    seed: gr.Number
    dice: gr.Button
    batch: gr.Slider
    run: gr.Button
    cancel: gr.Button
    samples: gr.Examples
    extras: extra_slots.ExtraSlots

    @property
    def fields(self) -> list[Any]:
        """The components whose values make a RunForm (see :meth:`read`)."""
        return [self.image, self.image_url, self.prompt, self.last_image, self.duration, self.resolution,
                self.aspect, self.camera_fixed, self.audio, self.seed, self.batch, self.model]

    def read(self, values: dict) -> RunForm:
        """The RunForm in ``values`` (an event's inputs given as a set)."""
        return RunForm(image=values.get(self.image), image_url=values.get(self.image_url),
                       prompt=values.get(self.prompt), last_image=values.get(self.last_image),
                       duration=values.get(self.duration), resolution=values.get(self.resolution),
                       aspect_ratio=values.get(self.aspect), camera_fixed=values.get(self.camera_fixed),
                       generate_audio=values.get(self.audio), seed=values.get(self.seed),
                       batch=values.get(self.batch), model=values.get(self.model) or SPICY,
                       extras=extra_slots.read(self.extras, values, values.get(self.model) or SPICY),
                       media=extra_slots.read_media(self.extras, values, values.get(self.model) or SPICY))


@dataclass
class Output:
    """What a run shows: the video, the status line, the details and the request, response and code tabs."""

    video: gr.Video
    status: gr.Markdown
    seed: gr.Textbox
    request_id: gr.Textbox
    cost: gr.Textbox
    inference: gr.Textbox
    nsfw_notice: gr.Markdown
    gallery: gr.Gallery
    request_json: gr.JSON
    response_json: gr.JSON
    code_note: gr.Markdown
    curl: gr.Code
    python: gr.Code
    webhook: gr.Code


@dataclass
class HistoryTab:
    """The visitor's jobs from the ledger and what can be done with one."""

    table: gr.Dataframe
    job_id: gr.Number
    reuse: gr.Button
    show: gr.Button
    resume: gr.Button
    cancel_remote: gr.Button
    refresh: gr.Button
    note: gr.Markdown


@dataclass
class ApiOutputs:
    """Hidden outputs of the /generate endpoint (the page uses the richer run event)."""

    video: gr.Video
    details: gr.JSON
    trigger: gr.Button


@dataclass
class PricingTab:
    """The chosen model's price table."""

    note: gr.Markdown
    table: gr.Dataframe


@dataclass
class Page:
    header: gr.Markdown
    pricing: PricingTab
    keys: KeyBox
    form: Form
    output: Output
    history: HistoryTab
    api: ApiOutputs
    final: FinalRow
    sweep: SweepTab
    login: gr.LoginButton | None = None


def build_page(*, default_backend: str, has_owner_key: bool, storage_secret: str, login: bool = False) -> Page:
    """Lay the page out, top to bottom. Call inside ``gr.Blocks``. ``storage_secret`` is ``gr.BrowserState`` 's
    (stable across restarts, and no secret: see :mod:`playground.identity`); ``login`` adds "Sign in with Hugging
    Face" under the heading (see :func:`playground.identity.login_enabled`)."""
    header = gr.Markdown(header_text(SPICY), elem_classes="playground-header", elem_id="page-header")
    login_button = gr.LoginButton(size="sm", elem_id="login-button") if login else None
    keys = key_box(default_backend, has_owner_key, storage_secret)
    # On a narrow screen the columns stack; the CSS (ui.CSS) then puts the result right under the Run button.
    with gr.Row(elem_id="main-row"):
        with gr.Column(scale=5, elem_id="form-col"):
            form = form_column()
        with gr.Column(scale=6, elem_id="output-col"):
            output, history, final, sweep, pricing = output_column()
    with gr.Row(visible=False):
        api = ApiOutputs(gr.Video(label="video"), gr.JSON(label="details"), gr.Button("generate"))
    return Page(header, pricing, keys, form, output, history, api, final, sweep, login_button)


def form_column() -> Form:
    spec = get_model(SPICY)
    duration_spec, defaults = spec.param("duration"), spec.defaults()
    model = gr.Dropdown([(m.title, m.model_id) for m in MODELS.values()], value=SPICY, label="Model", elem_id="model")
    image = gr.Image(label="Image", type="filepath", sources=["upload", "clipboard"], height=300)
    image_url = gr.Textbox(label="Image URL", placeholder="https://… (instead of uploading)", max_lines=1)
    prompt = gr.Textbox(label="Prompt", lines=3, placeholder="Describe the motion, the camera and the sound…")
    with gr.Accordion("Last frame (optional)", open=False) as last_frame:
        last_image = gr.Image(label="Last image", type="filepath", sources=["upload", "clipboard"], height=200)
    duration = gr.Slider(duration_spec.minimum, duration_spec.maximum, value=defaults["duration"], step=1,
                         label="Duration (s)")
    with gr.Row():
        resolution = gr.Radio(list(RESOLUTIONS), value=defaults["resolution"], label="Resolution")
        aspect = gr.Dropdown([MATCH_IMAGE, *ASPECT_RATIOS], value=MATCH_IMAGE, label="Aspect ratio")
    with gr.Row():
        camera_fixed = gr.Checkbox(value=defaults["camera_fixed"], label="Fixed camera")
        audio = gr.Checkbox(value=defaults["generate_audio"], label="Generate audio")
    extras = extra_slots.build_slots()  # a catalogue model's other fields (hidden until one takes a slot)
    with gr.Row(equal_height=True):
        seed = gr.Number(value=-1, precision=0, label="Seed (-1: random)", minimum=-1, maximum=SEED_MAX, scale=4)
        dice = gr.Button("Randomise", scale=1, size="sm")
    batch = gr.Slider(1, MAX_BATCH, value=1, step=1, label="Batch (seeds randomised)")
    with gr.Row():
        initial = RunForm(duration=defaults["duration"], resolution=defaults["resolution"],
                          camera_fixed=defaults["camera_fixed"], generate_audio=defaults["generate_audio"])
        run = gr.Button(price_label(initial.fields(), 1), variant="primary", elem_id="run-button")
        cancel = gr.Button("Stop waiting", variant="stop", visible=False, elem_id="cancel-button")
    samples = gr.Examples(examples=[[str(SAMPLES_DIR / name), text] for name, text in SAMPLE_PROMPTS.items()],
                          inputs=[image, prompt], cache_examples=False, label="Samples (drawn by this project)",
                          elem_id="samples")
    return Form(model, last_frame, image, image_url, prompt, last_image, duration, resolution, aspect, camera_fixed,
                audio, seed, dice, batch, run, cancel, samples, extras)


def output_column() -> tuple[Output, HistoryTab, FinalRow, SweepTab, PricingTab]:
    video = gr.Video(label="Video", autoplay=True, loop=True, buttons=["download"], interactive=False, height=420,
                     elem_id="output-video")
    status = gr.Markdown("Ready.", elem_id="status-line")
    with gr.Row():
        seed = gr.Textbox(label="Seed used", interactive=False, elem_id="seed-used")
        request_id = gr.Textbox(label="Request id", interactive=False, elem_id="request-id")
    with gr.Row():
        cost = gr.Textbox(label="Cost", interactive=False, elem_id="cost")
        inference = gr.Textbox(label="Inference time", interactive=False)
    nsfw_notice = gr.Markdown(visible=False, elem_id="nsfw-notice")
    gallery = gr.Gallery(label="Batch", visible=False, columns=2, height=300)
    final = final_row()
    with gr.Tabs():
        with gr.Tab("Request"):
            request_json = gr.JSON(label="Request body", value=None)
        with gr.Tab("Response"):
            response_json = gr.JSON(label="Response (as recorded)")
        with gr.Tab("Code"):
            code_note = gr.Markdown("The key is read from `WAVESPEED_API_KEY`: it is never written into the code.",
                                    elem_id="code-note")
            curl = gr.Code(label="cURL", language="shell", elem_id="code-curl")
            python = gr.Code(label="Python", language="python", elem_id="code-python")
            webhook = gr.Code(label="Python with a webhook (the end is pushed to your app: no polling)",
                              language="python")
        history = history_tab()
        sweep = sweep_tab()
        pricing = pricing_tab()
    output = Output(video, status, seed, request_id, cost, inference, nsfw_notice, gallery, request_json,
                    response_json, code_note, curl, python, webhook)
    return output, history, final, sweep, pricing


def history_tab() -> HistoryTab:
    with gr.Tab("History"):
        table = gr.Dataframe(headers=HISTORY_HEADERS, value=[], interactive=False, wrap=True,
                             label="Your jobs (from the ledger)", elem_id="history-table")
        with gr.Row(equal_height=True):
            job_id = gr.Number(label="Job", precision=0, scale=1)
            buttons = [gr.Button(label, scale=1) for label in ("Reuse parameters", "Show / download again", "Resume")]
            cancel_remote = gr.Button("Delete from the API's history", variant="stop", scale=1)
            refresh = gr.Button("Refresh", scale=1)
        note = gr.Markdown()
    return HistoryTab(table, job_id, *buttons, cancel_remote, refresh, note)


def pricing_tab() -> PricingTab:
    with gr.Tab("Pricing"):
        note = gr.Markdown(pricing_note(SPICY), elem_id="pricing-note")
        table = gr.Dataframe(value=pricing_frame(SPICY), interactive=False, elem_id="pricing-table")
    return PricingTab(note, table)
