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
from .handlers import readable, session_of, visitor


def generate(pg: Playground, image=None, image_url: str | None = None, prompt: str | None = None, last_image=None,
             duration: int = 5, resolution: str = "720p", aspect_ratio: str = MATCH_IMAGE, camera_fixed: bool = False,
             generate_audio: bool = True, seed: int = -1, model: str = SPICY, request: gr.Request = None):
    """Generate one video with a Seedance image-to-video model (V1.5 Pro Spicy by default) from an image (a file or
    its URL) and a prompt.

    Runs on the host's default backend (the WaveSpeed API within the host's limits, or the free local
    preview). Returns the MP4 and details: seed used, request id, cost in USD, inference time, NSFW flag.
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
    """USD for one Seedance V1.5 Pro Spicy clip at this resolution, duration (4-12 s) and audio setting."""
    fields = RunForm(duration=duration, resolution=resolution, generate_audio=generate_audio, seed=None).fields()
    # Every field is checked by name, with no coercion: "false" is refused, never read as audio on.
    try:
        return price_of(VideoRequest.build(SPICY, **fields)).usd
    except WaveSpeedError as exc:
        raise readable(exc) from None


def render_final(pg: Playground, job_id: int, resolution: str = "1080p", duration: int = 5,
                 request: gr.Request = None):
    """Render a finished draft again at a higher resolution and duration: the same model, image, prompt and seed.

    ``job_id`` is a job this client made (the ``job_id`` of /generate or /sweep). Returns the MP4 and details (seed,
    request id, cost, the draft's job id).
    """
    try:
        outcome = drafts.render_final(pg, job_id, resolution, duration, session="api:" + session_of(request),
                                      user_key=None, visitor=visitor(request))
    except WaveSpeedError as exc:
        raise readable(exc) from None
    result = outcome.results[0]
    details = {**present.api_details(result), "draft_of": job_id}
    return (None if pg.hides(result.nsfw) else str(result.video_path)), details


def sweep(pg: Playground, image=None, image_url: str | None = None, prompt: str | None = None, seeds: str = "4",
          models: list[str] | None = None, duration: int = 4, resolution: str = "480p",
          aspect_ratio: str = MATCH_IMAGE, camera_fixed: bool = False, generate_audio: bool = True,
          request: gr.Request = None):
    """Drafts side by side: ``seeds`` (a count, or a list "1, 7, 42") x ``models`` (default: Spicy) on one image,
    priced in total first (refused over the host's maximum per sweep). Returns the tiled video playing in sync, the
    contact sheet, and one row per clip (job id, model, seed, cost, request id)."""
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
