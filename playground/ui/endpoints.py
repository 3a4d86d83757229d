"""The public API of the page, for ``gradio_client`` (and MCP when ``gradio[mcp]`` is installed): ``/generate``,
``/price``, ``/render_final`` and ``/sweep``. Every argument is passed through as sent, never coerced, for the
contract to judge by name: ``"false"`` is refused, never read as true. ``image`` is only a file uploaded to this page
(or a bundled sample), ``image_url`` only an http(s) address."""

from __future__ import annotations

import gradio as gr

from .. import drafts
from ..contract import SPICY, VideoRequest
from ..errors import WaveSpeedError
from ..pricing import price_of
from ..session import MATCH_IMAGE, Playground, RunForm
from . import present
from .context import readable, session_of, visitor


def generate(pg: Playground, image=None, image_url: str | None = None, prompt: str | None = None, last_image=None,
             duration: int = 5, resolution: str = "720p", aspect_ratio: str = MATCH_IMAGE, camera_fixed: bool = False,
             generate_audio: bool = True, seed: int = -1, model: str = SPICY, request: gr.Request = None):
    """Generate one video with a Seedance image-to-video model (V1.5 Pro Spicy by default) from an image (a file or
    its URL) and a prompt. Runs on the host's default backend (the WaveSpeed API within the host's limits, or the free
    local preview). Returns the MP4 and details: seed used, request id, job id, cost in USD, inference time, NSFW flag.

    Args:
        image: the first frame, a file uploaded to this app (JPEG, PNG or WebP, 300-6000 px a side); or give image_url
        image_url: the first frame's http(s) address, instead of uploading it
        prompt: the motion, camera and sound to make, at most 5,000 characters (required by V1.5 Pro and V1 Pro Fast)
        last_image: optional last frame, an uploaded image file (not on V1 Pro Fast)
        duration: length of the video in whole seconds, 4 to 12 (2 to 12 on V1 Pro Fast)
        resolution: "480p", "720p" or "1080p" (V1.5 Pro Fast: 720p or 1080p)
        aspect_ratio: "match image" (follows the image), or one of "21:9", "16:9", "4:3", "1:1", "3:4", "9:16"
        camera_fixed: true keeps the camera still
        generate_audio: true adds a soundtrack (half price without; V1 Pro Fast makes no audio)
        seed: a whole number from 0 to 2147483647 to reproduce a video, or -1 for a random seed (returned)
        model: the model id, e.g. "bytedance/seedance-v1.5-pro/image-to-video-spicy" (the default)
    """
    form = RunForm(image, image_url, prompt, last_image, duration, resolution, aspect_ratio, camera_fixed,
                   generate_audio, seed, batch=1, model=model)
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
    """USD for one Seedance V1.5 Pro Spicy clip at this resolution, duration and audio setting (nothing is sent).

    Args:
        resolution: "480p", "720p" or "1080p"
        duration: length of the clip in whole seconds, 4 to 12
        generate_audio: true for a clip with sound (twice the price of a silent one)
    """
    fields = RunForm(duration=duration, resolution=resolution, generate_audio=generate_audio, seed=None).fields()
    # Every field is checked by name, with no coercion: "false" is refused, never read as audio on.
    try:
        return price_of(VideoRequest.build(SPICY, **fields)).usd
    except WaveSpeedError as exc:
        raise readable(exc) from None


def render_final(pg: Playground, job_id: int, resolution: str = "1080p", duration: int = 5,
                 request: gr.Request = None):
    """Render a finished draft again at a higher resolution and duration: the same model, image, prompt and seed.
    Returns the MP4 and details (seed, request id, cost, the draft's job id).

    Args:
        job_id: the job_id of a draft this client made (returned by /generate or in a /sweep row)
        resolution: the final's resolution, "480p", "720p" or "1080p" (what the draft's model takes)
        duration: the final's length in whole seconds, 4 to 12 (2 to 12 on V1 Pro Fast)
    """
    try:
        outcome = drafts.render_final(pg, job_id, resolution, duration, session="api:" + session_of(request),
                                      user_key=None, visitor=visitor(request), whole=False)
    except WaveSpeedError as exc:
        raise readable(exc) from None
    result = outcome.results[0]
    details = {**present.api_details(result), "draft_of": job_id}
    return (None if pg.hides(result.nsfw) else str(result.video_path)), details


def sweep(pg: Playground, image=None, image_url: str | None = None, prompt: str | None = None, seeds: str = "4",
          models: list[str] | None = None, duration: int = 4, resolution: str = "480p",
          aspect_ratio: str = MATCH_IMAGE, camera_fixed: bool = False, generate_audio: bool = True,
          request: gr.Request = None):
    """Drafts side by side: seeds x models on one image, priced in total first (refused over the host's maximum per
    sweep). Returns the tiled video playing in sync, the contact sheet, and one row per clip (job id, model, seed,
    status, cost, request id, error): every clip sent comes back.

    Args:
        image: the first frame, a file uploaded to this app (JPEG, PNG or WebP); or give image_url
        image_url: the first frame's http(s) address, instead of uploading it
        prompt: the motion, camera and sound to make, at most 5,000 characters (required by some models)
        seeds: a count ("4": seeds 1 to 4) or a list of seeds ("1, 7, 42"); at most 16 clips in all
        models: a list of model ids to compare (default: V1.5 Pro Spicy); each seed runs on each model
        duration: length of each clip in whole seconds, 4 to 12
        resolution: "480p", "720p" or "1080p"
        aspect_ratio: "match image" (follows the image), or one of "21:9", "16:9", "4:3", "1:1", "3:4", "9:16"
        camera_fixed: true keeps the camera still
        generate_audio: true adds a soundtrack (left out for models that make none)
    """
    form = RunForm(image, image_url, prompt, None, duration, resolution, aspect_ratio, camera_fixed, generate_audio,
                   -1, batch=1)
    try:
        swept = drafts.run_sweep(pg, form, seeds, models or [SPICY], payer=pg.payer(pg.default_backend, ""),
                                 session="api:" + session_of(request), visitor=visitor(request))
    except WaveSpeedError as exc:
        raise readable(exc) from None
    rows = [_clip_row(row) for row in swept.rows.to_dict("records")]
    if not swept.clips and not any(row["job_id"] is not None for row in rows):
        raise readable(WaveSpeedError("No clip of the sweep was made, and nothing was sent: " + "; ".join(
            f"{r['model']} seed {r['seed']}: {r['error'] or r['status']}" for r in rows)))
    # Every clip that was sent comes back: its video in the tiled one, or its job id and why it has none.
    return (str(swept.tiled) if swept.tiled else None), (str(swept.sheet) if swept.sheet else None), rows


def _clip_row(row: dict) -> dict:
    """One sweep row as /sweep returns it; a clip never sent has no job id."""
    return {"job_id": _whole_or_none(row.get("job_id")), "model": str(row.get("model") or ""),
            "seed": _whole_or_none(row.get("seed")), "status": str(row.get("status") or ""),
            "cost_usd": float(row.get("cost") or 0.0), "request_id": str(row.get("request_id") or ""),
            "error": str(row.get("error") or "")}


def _whole_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):  # None, NaN and pandas' NA: no such number
        return None
