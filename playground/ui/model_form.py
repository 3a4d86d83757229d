"""The form follows the chosen model's contract: fields it lacks are hidden, choices and ranges change, required
fields are marked, and the heading, the price table and the Sweep tab's model name the model. Pure layout updates
from :mod:`playground.contract`; the price follows through the preview."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ..contract import MODELS, SPICY
from ..session import Playground
from .present import header_text, pricing_frame, pricing_note


def prompt_label(model: Any) -> str:
    """The prompt box's label for ``model``: marked when the model requires a prompt."""
    spec = MODELS.get(model) or MODELS[SPICY]
    return "Prompt (required for this model)" if spec.param("prompt").required else "Prompt"


def follow(pg: Playground, page: Any, model: Any, resolution: Any, duration: Any, swept: Any) -> dict:
    """What the page shows for ``model``: its fields, resolutions and durations (the current values kept if
    allowed), its name at the top, its price table, and it as the Sweep tab's model (unless several are ticked)."""
    spec = MODELS.get(model) or MODELS[SPICY]
    form, names = page.form, spec.names
    seconds = spec.param("duration")
    resolutions = list(spec.resolutions)
    keep = resolution if resolution in resolutions else spec.param("resolution").default
    if keep not in resolutions:
        keep = resolutions[0]
    try:
        clamped = min(max(int(duration), seconds.minimum), seconds.maximum)
    except (TypeError, ValueError, OverflowError):
        clamped = seconds.default
    several = isinstance(swept, list) and len(swept) > 1
    return {
        form.last_frame: gr.update(visible="last_image" in names),
        form.audio: gr.update(visible="generate_audio" in names),
        form.resolution: gr.update(choices=resolutions, value=keep),
        form.duration: gr.update(minimum=seconds.minimum, maximum=seconds.maximum, value=clamped),
        form.prompt: gr.update(label=prompt_label(spec.model_id)),
        page.header: header_text(spec.model_id),
        page.pricing.note: pricing_note(spec.model_id),
        page.pricing.table: pricing_frame(spec.model_id),
        page.sweep.models: gr.update() if several else gr.update(value=[spec.model_id]),
    }


def relabel(pg: Playground, page: Any, model: Any) -> dict:
    """After a sample is loaded (Gradio's Examples put back the prompt's first label): the model's label again."""
    return {page.form.prompt: gr.update(label=prompt_label(model))}
