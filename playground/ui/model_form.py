"""The form follows the chosen model's contract: fields it lacks are hidden, choices and ranges change, required
fields are marked. Pure layout updates from :mod:`playground.contract`; the price follows through the preview."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ..contract import MODELS, SPICY
from ..session import Playground


def follow(pg: Playground, page: Any, model: Any, resolution: Any, duration: Any) -> dict:
    """What the form shows for ``model``: its fields, resolutions and durations, the current values kept if allowed."""
    spec = MODELS.get(model) or MODELS[SPICY]
    form, names = page.form, spec.names
    seconds = spec.param("duration")
    resolutions = list(spec.resolutions)
    keep = resolution if resolution in resolutions else spec.param("resolution").default
    if keep not in resolutions:
        keep = resolutions[0]
    try:
        clamped = min(max(int(duration), seconds.minimum), seconds.maximum)
    except (TypeError, ValueError):
        clamped = seconds.default
    required = spec.param("prompt").required
    return {
        form.last_frame: gr.update(visible="last_image" in names),
        form.audio: gr.update(visible="generate_audio" in names),
        form.resolution: gr.update(choices=resolutions, value=keep),
        form.duration: gr.update(minimum=seconds.minimum, maximum=seconds.maximum, value=clamped),
        form.prompt: gr.update(label="Prompt (required for this model)" if required else "Prompt"),
    }


def wire(pg: Playground, page: Any) -> None:
    from .events import PRIVATE, bind

    form = page.form
    form.model.change(bind(follow, pg, page), inputs=[form.model, form.resolution, form.duration],
                      outputs=[form.last_frame, form.audio, form.resolution, form.duration, form.prompt], **PRIVATE)
