"""The public API of the page, for ``gradio_client`` (and MCP when ``gradio[mcp]`` is installed): ``/generate`` and
``/price``. Every argument is passed through as sent, never coerced, for the contract to judge by name: ``"false"``
is refused, never read as true. ``image`` is only a file uploaded to this page (or a bundled sample), ``image_url``
only an http(s) address."""

from __future__ import annotations

import gradio as gr

from ..contract import SPICY, VideoRequest
from ..errors import WaveSpeedError
from ..pricing import price_of
from ..session import MATCH_IMAGE, Playground, RunForm
from . import present
from .handlers import readable, session_of, visitor


def generate(pg: Playground, image=None, image_url: str | None = None, prompt: str | None = None, last_image=None,
             duration: int = 5, resolution: str = "720p", aspect_ratio: str = MATCH_IMAGE, camera_fixed: bool = False,
             generate_audio: bool = True, seed: int = -1, request: gr.Request = None):
    """Generate one video with Seedance V1.5 Pro Spicy from an image (a file or its URL) and a prompt.

    Runs on the host's default backend (the WaveSpeed API within the host's limits, or the free local
    preview). Returns the MP4 and details: seed used, request id, cost in USD, inference time, NSFW flag.
    """
    form = RunForm(image, image_url, prompt, last_image, duration, resolution, aspect_ratio, camera_fixed,
                   generate_audio, seed, batch=1)
    try:
        payer = pg.payer(pg.default_backend, "")
        outcome = pg.run_form(form, payer=payer, session="api:" + session_of(request), visitor=visitor(request))
    except WaveSpeedError as exc:
        raise readable(exc) from None
    if not outcome.results:
        raise readable(outcome.errors[0] if outcome.errors else WaveSpeedError("The job was cancelled."))
    result = outcome.results[0]
    return (None if pg.hides(result.nsfw) else str(result.video_path)), present.api_details(result)


def price(resolution: str = "720p", duration: int = 5, generate_audio: bool = True) -> float:
    """USD for one Seedance V1.5 Pro Spicy clip at this resolution, duration (4-12 s) and audio setting."""
    fields = RunForm(duration=duration, resolution=resolution, generate_audio=generate_audio, seed=None).fields()
    # Every field is checked by name, with no coercion: "false" is refused, never read as audio on.
    try:
        return price_of(VideoRequest.build(SPICY, **fields)).usd
    except WaveSpeedError as exc:
        raise readable(exc) from None
