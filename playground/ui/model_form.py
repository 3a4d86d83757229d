"""The form follows the chosen model's schema: the model list is the catalogue's video models (image-to-video first,
then text-to-video and video-extend; one it cannot run listed with why), fields a model lacks are hidden, choices
and ranges change, required fields are marked, and the heading, the price table and the Sweep tab's model name the
model. Layout updates from :mod:`playground.contract`; the price follows through the preview."""

from __future__ import annotations

from typing import Any

import gradio as gr

from .. import drafts
from ..contract import MODELS, SPICY, ModelSpec, find_model
from ..errors import WaveSpeedError
from ..session import Playground
from . import extras
from .present import header_text, pricing_frame, pricing_note

# The fields the Run form has a control of its own for; a model's others take slots of the pool (see extras).
FORM_FIELDS = extras.FORM_FIELDS
FAMILY_LABELS = {"image-to-video": "Image-to-video", "text-to-video": "Text-to-video", "video-extend": "Video-extend"}


def unavailable(spec: ModelSpec) -> str:
    """Why the page cannot run ``spec`` ("" when it can): a field of an unknown kind, or a required one of its other
    fields without a slot on the form (a second required clip, say)."""
    if spec.disabled:
        return spec.disabled
    return extras.unplaced(spec)


def model_choices(specs: list[ModelSpec]) -> list[tuple[str, str]]:
    """The model list: "Family · name", and "(unavailable: why)" for a model the page cannot run."""
    out = []
    for spec in specs:
        why = unavailable(spec)
        label = f"{FAMILY_LABELS.get(spec.type, 'Other')} · {spec.title}" + (f" (unavailable: {why})" if why else "")
        out.append((label, spec.model_id))
    return out


def load_models(pg: Playground, page: Any, backend: Any, key: Any, model: Any, swept: Any) -> dict:
    """The catalogue of the backend the page uses, as the model list and the Sweep tab's (the models a sweep can
    run); the known models when it cannot be read."""
    try:
        client = pg.client(pg.payer(backend if isinstance(backend, str) else None, key if isinstance(key, str) else ""))
    except (WaveSpeedError, TypeError, ValueError):
        return {page.form.model: gr.update(), page.sweep.models: gr.update()}
    try:
        videos = client.catalogue().video_models()
    finally:
        client.close()
    specs = videos or list(MODELS.values())
    choices = model_choices(specs)
    keep = model if any(model == value for _, value in choices) else SPICY
    sweep = [(spec.title, spec.model_id) for spec in specs if drafts.sweepable(spec) and not unavailable(spec)]
    ticked = [m for m in swept if any(m == value for _, value in sweep)] if isinstance(swept, list) else []
    return {page.form.model: gr.update(choices=choices, value=keep),
            page.sweep.models: gr.update(choices=sweep, value=ticked or [keep if any(keep == v for _, v in sweep)
                                                                     else SPICY])}


def prompt_label(model: Any) -> str:
    """The prompt box's label for ``model``: marked when the model requires a prompt."""
    spec = find_model(model) or MODELS[SPICY]
    return "Prompt (required for this model)" if spec.has("prompt") and spec.param("prompt").required else "Prompt"


def _range(spec: ModelSpec, duration: Any) -> dict:
    seconds = spec.param("duration") if spec.has("duration") else None
    if seconds is None or seconds.minimum is None or seconds.maximum is None or seconds.type is not int:
        return gr.update(visible=False)
    try:
        clamped = min(max(int(duration), seconds.minimum), seconds.maximum)
    except (TypeError, ValueError, OverflowError):
        clamped = seconds.default if seconds.default is not None else seconds.minimum
    return gr.update(minimum=seconds.minimum, maximum=seconds.maximum, value=clamped, visible=True)


def follow(pg: Playground, page: Any, model: Any, resolution: Any, duration: Any, swept: Any, pending: Any) -> dict:
    """What the page shows for ``model``: its fields, resolutions and durations (the current values kept if
    allowed; its other fields hold their defaults, or what Reuse left ``pending``), its name at the top, its price
    table, and it as the Sweep tab's model (unless several are ticked, or a sweep cannot run it)."""
    spec = find_model(model) or MODELS[SPICY]
    form, names, known = page.form, spec.names, spec.model_id in MODELS
    resolutions = list(spec.resolutions)
    keep = resolution if resolution in resolutions else (spec.param("resolution").default if resolutions else None)
    if resolutions and keep not in resolutions:
        keep = resolutions[0]
    several = isinstance(swept, list) and len(swept) > 1
    shown = {  # a catalogue's model may lack what every known one has; a known one leaves them as they are
        form.image: gr.update(visible="image" in names), form.image_url: gr.update(visible="image" in names),
        form.camera_fixed: gr.update(visible="camera_fixed" in names),
        form.aspect: gr.update(visible="aspect_ratio" in names),
        form.prompt: gr.update(label=prompt_label(spec.model_id), visible="prompt" in names),
    } if not known else {form.image: gr.update(visible=True), form.image_url: gr.update(visible=True),
                         form.camera_fixed: gr.update(visible=True), form.aspect: gr.update(visible=True),
                         form.prompt: gr.update(label=prompt_label(spec.model_id))}
    return {
        **shown, **extras.updates(form.extras, spec, extras.restored(pending, spec)), form.extras.pending: None,
        form.last_frame: gr.update(visible="last_image" in names),
        form.audio: gr.update(visible="generate_audio" in names),
        form.resolution: gr.update(choices=resolutions, value=keep, visible=bool(resolutions)),
        form.duration: _range(spec, duration),
        page.header: header_text(spec.model_id) if known else _catalogue_header(spec),
        page.pricing.note: pricing_note(spec.model_id) if known else (
            f"**{spec.title}** is priced by the API itself: the Run button shows its price for the settings chosen "
            "(\"from\" when only the catalogue's floor is known)."),
        page.pricing.table: pricing_frame(spec.model_id) if known else None,
        page.sweep.models: gr.update() if several or not _sweeps(spec) else gr.update(value=[spec.model_id]),
    }


def _sweeps(spec: ModelSpec) -> bool:
    return drafts.sweepable(spec) and not unavailable(spec)


def _catalogue_header(spec: ModelSpec) -> str:
    why = unavailable(spec)
    note = f"\n\n**Not available on this page:** {why}." if why else ""
    return f"# {spec.title}\n{spec.description} `{spec.model_id}` on WaveSpeedAI, or a free local preview.{note}"


def relabel(pg: Playground, page: Any, model: Any) -> dict:
    """After a sample is loaded (Gradio's Examples put back the prompt's first label): the model's label again."""
    return {page.form.prompt: gr.update(label=prompt_label(model))}
