"""The boxes of the page besides the form: the backend and key box, the "Render final" row and the Sweep tab. Only
layout: no handler and no event here."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from ..contract import MODELS, SPICY
from ..session import API_LABEL, IDENTITY_KEY, LOCAL_LABEL


@dataclass
class KeyBox:
    """The backend choice and the visitor's key (kept per session on the server, in the browser only if asked); the
    browser's identity token (in the browser) and the owner it names (on the server, set on load)."""

    key_state: gr.State
    stored_key: gr.BrowserState
    backend: gr.Radio
    key: gr.Textbox
    remember: gr.Checkbox
    line: gr.Markdown
    identity: gr.BrowserState
    owner: gr.State

    def owner_of(self, values: dict) -> str:
        """The ledger owner in an event's values ("" before the page has loaded)."""
        return values.get(self.owner) or ""

    def current_key(self, values: dict) -> str:
        """The freshest key: the box's, since the visitor may click Run before its blur event stored it."""
        return (values.get(self.key) or "").strip() or (values.get(self.key_state) or "")


def key_box(default_backend: str, has_owner_key: bool, storage_secret: str) -> KeyBox:
    key_state = gr.State("")
    stored_key = gr.BrowserState("", storage_key="seedance-playground-key", secret=storage_secret)
    identity = gr.BrowserState("", storage_key=IDENTITY_KEY, secret=storage_secret)
    owner = gr.State("")
    with gr.Row(equal_height=True):
        backend = gr.Radio([LOCAL_LABEL, API_LABEL], value=default_backend, label="Backend", scale=2)
        key = gr.Textbox(label="WaveSpeed API key", type="password", scale=3,
                         placeholder="optional: use your own key beyond the host's limits" if has_owner_key
                         else "your key (kept on the server for this session only)")
        remember = gr.Checkbox(label="Remember on this browser", value=False, scale=1)
    line = gr.Markdown(elem_id="backend-line")
    return KeyBox(key_state, stored_key, backend, key, remember, line, identity, owner)


@dataclass
class FinalRow:
    """The job shown as the current draft, and the controls that render its final."""

    draft: gr.State
    row: gr.Group
    resolution: gr.Radio
    duration: gr.Slider
    run: gr.Button
    note: gr.Markdown
    extend_prompt: gr.Textbox
    extend_duration: gr.Slider
    extend_run: gr.Button


def final_row() -> FinalRow:
    draft = gr.State(None)
    with gr.Group(visible=False, elem_id="final-row") as row:
        with gr.Row(equal_height=True):
            resolution = gr.Radio(["1080p"], value="1080p", label="Final resolution", scale=3,
                                  elem_id="final-resolution")
            duration = gr.Slider(4, 12, value=5, step=1, label="Final duration (s)", scale=3, elem_id="final-duration")
            run = gr.Button("Render final", variant="primary", scale=2, elem_id="final-button")
        note = gr.Markdown("Same model, image, prompt and seed as the video above, rendered again.")
        with gr.Row(equal_height=True):
            extend_prompt = gr.Textbox(label="What happens next", max_lines=2, scale=4, elem_id="extend-prompt",
                                       placeholder="Continue the clip: describe the next seconds")
            extend_duration = gr.Slider(4, 12, value=5, step=1, label="Extension (s)", scale=2,
                                        elem_id="extend-duration")
            extend_run = gr.Button("Extend", scale=2, elem_id="extend-button")
    return FinalRow(draft, row, resolution, duration, run, note, extend_prompt, extend_duration, extend_run)


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
