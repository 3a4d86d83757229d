"""What the page says, as pure functions of the data: labels, status lines, table rows, JSON views. No Gradio."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..contract import MODELS, RESOLUTIONS, SPICY, find_model
from ..pricing import Quote, format_usd, price_table, quote
from ..session import Job, Result, RunForm, RunOutcome
from ..snippets import LOCAL_URL, SERVE_LOCAL
from ..status import COMPLETED

HISTORY_HEADERS = ["job", "when", "status", "resolution", "s", "audio", "seed", "cost", "charged", "request id",
                   "video", "prompt", "model", "from"]
UPLOADED_ON_RUN = "<uploaded on Run>"


def header_text(model: str) -> str:
    """The page's heading: the chosen model's name and id, and what it makes.

    >>> header_text("bytedance/seedance-v1-pro-fast/image-to-video").splitlines()[0]
    '# Seedance V1 Pro Fast · Image-to-Video'
    """
    spec = MODELS.get(model) or MODELS[SPICY]
    name, _, kind = spec.title.partition(" Image-to-Video")
    seconds = spec.param("duration")
    sound = " with sound" if spec.has_audio else ""
    return (f"# {name} · Image-to-Video{kind}\nTurn an image into a {seconds.minimum}-{seconds.maximum} s "
            f"video{sound}. `{spec.model_id}` on WaveSpeedAI, or a free local preview.")


def pricing_note(model: str) -> str:
    """What the Pricing tab's table is, for ``model``."""
    spec = MODELS.get(model) or MODELS[SPICY]
    audio = ", half with audio off" if spec.has_audio else " (this model makes no audio)"
    return (f"USD per clip for **{spec.title}**, from the vendor's table: a per-second rate by resolution{audio}. "
            "\"~\" marks estimates the vendor does not confirm (with a key, the Run button asks the vendor's own "
            "price). The local preview is free.")


def price_label(fields: dict, batch: int, model: str = SPICY, price: Quote | None = None) -> str:
    """The Run button: what the batch will cost ("~" when the price is not confirmed by the vendor); ``price`` is a
    quote already made (the vendor's live price), else the table's.

    >>> price_label({"resolution": "480p", "duration": 4, "generate_audio": False}, 1)
    'Run · $0.048'
    """
    text = (price or quote(model, fields)).times(batch).short()
    return f"Run ×{batch} · {text}" if batch > 1 else f"Run · {text}"


def upload_name(value: Any) -> str | None:
    """The file name of an image input, for display (never its folder)."""
    path = value.get("path") if isinstance(value, dict) else value
    return Path(path).name if isinstance(path, (str, Path)) and str(path) else None


def request_preview(form: RunForm) -> dict:
    """The request body the form describes, before Run: uploads are named as placeholders."""
    body: dict[str, Any] = {"image": form.image_url or (UPLOADED_ON_RUN if upload_name(form.image) else None)}
    if form.prompt and str(form.prompt).strip():
        body["prompt"] = form.prompt
    if upload_name(form.last_image):
        body["last_image"] = UPLOADED_ON_RUN
    body.update({name: _shown_media(value, lambda item: UPLOADED_ON_RUN) for name, value in _media(form).items()})
    body.update(form.fields())
    return {k: v for k, v in body.items() if v is not None}


def _media(form: RunForm) -> dict[str, Any]:
    return {k: v for k, v in form.media.items() if isinstance(k, str)} if isinstance(form.media, dict) else {}


def _shown_media(value: Any, upload: Any) -> Any:
    """A medium for display: an address as typed, an upload as ``upload(it)`` (a list item by item)."""
    if isinstance(value, (list, tuple)):
        return [_shown_media(item, upload) for item in value]
    return value if isinstance(value, str) else upload(value)


def snippet_params(form: RunForm) -> dict:
    """The parameters the code snippets show: an uploaded file by its name only (the server's folders are nobody's
    business), "cat.png" when there is no image yet."""
    url = form.image_url if isinstance(form.image_url, str) and form.image_url.strip() else None
    media = {name: _shown_media(value, upload_name) for name, value in _media(form).items()}
    spec = find_model(form.model)
    if spec is not None and not spec.has("image"):  # text-to-video, video-extend: no picture in their code
        return {**form.fields(), "prompt": form.prompt, **media}
    return {**form.fields(), "image": url or upload_name(form.image) or "cat.png",
            "last_image": upload_name(form.last_image), "prompt": form.prompt, **media}


def backend_line(label: str, money: str) -> str:
    return f"**In use:** {label}. {money}"


def note(text: Any) -> str:
    return f"**Note:** {text}"


def nsfw_notice(nsfw: bool, hidden: bool) -> str:
    if not nsfw:
        return ""
    return ("**NSFW:** the API flagged this output as possibly NSFW: "
            + ("the host hides such outputs." if hidden else "it is not played automatically."))


def paid(outcome: RunOutcome) -> float:
    """What the run cost: results reused from the ledger were not paid again."""
    return sum(r.cost for r in outcome.results if not r.reused)


def reused_note(result: Result) -> str:
    return " (reused from the ledger, not paid again)" if result.reused else ""


def done_line(outcome: RunOutcome, payer_label: str) -> str:
    """The status line after a run that made at least one video."""
    first, count = outcome.results[0], len(outcome.results)
    line = (f"Done in {outcome.wall_s:.1f} s · {count} video{'s' if count > 1 else ''} · "
            f"{format_usd(paid(outcome))} on {payer_label}{reused_note(first)}")
    pushed = sum(r.completed_by == "webhook" for r in outcome.results)
    if pushed:
        line += " · completed by webhook" if pushed == count else f" · {pushed} of {count} completed by webhook"
    if outcome.cancelled_jobs:
        line += f" · {len(outcome.cancelled_jobs)} cancelled"
    return line


def cancelled_line(outcome: RunOutcome) -> str:
    sent = [job for job in outcome.cancelled_jobs if job]
    if not sent:
        return f"Stopped waiting after {outcome.wall_s:.0f} s, before anything was sent."
    jobs = ", ".join(f"job {job}" for job in sent)
    return f"Stopped waiting after {outcome.wall_s:.0f} s: {jobs} {'is' if len(sent) == 1 else 'are'} in History " \
           f"and may still finish (and be charged) at the API; resume {'it' if len(sent) == 1 else 'them'} there to " \
           "collect the video."


def model_name(model: str) -> str:
    """A model's name for sentences: "Seedance V1 Pro Fast Image-to-Video"."""
    spec = MODELS.get(model)
    return spec.title if spec else str(model)


def code_note(base_url: str, local: bool) -> str:
    """What the Code tab's snippets talk to, above them."""
    if not local:
        return (f"Runs as shown against `{base_url}`. The key is read from `WAVESPEED_API_KEY`: it is never written "
                "into the code.")
    if base_url.rstrip("/") == LOCAL_URL:
        return f"Runs against the free local preview, no key needed: serve it first with `{SERVE_LOCAL}`."
    return (f"Runs as shown against this playground's free local preview at `{base_url}` (while it runs), no key "
            f"needed; or serve one yourself with `{SERVE_LOCAL}` and use `{LOCAL_URL}`.")


def seed_note(seed: int) -> str:
    return f" The code carries the last run's seed, **{seed}**: it asks for the same video again."


def inference_text(ms: int | None) -> str:
    return f"{ms / 1000:.1f} s" if ms is not None else ""


def response_json(result: Result) -> dict:
    """The API's response for ``result``, as the ledger recorded it."""
    return {"id": result.request_id, "model": result.model, "status": COMPLETED, "outputs": [result.output_url],
            "has_nsfw_contents": [result.nsfw], "timings": {"inference": result.inference_ms},
            "reused_from_ledger": result.reused}


def api_details(result: Result) -> dict:
    """The details the /generate endpoint returns beside the video."""
    return {"seed": result.seed, "request_id": result.request_id, "cost_usd": result.cost, "reused": result.reused,
            "inference_ms": result.inference_ms, "nsfw": result.nsfw, "job_id": result.job_id,
            "params": result.params}


def history_update(pg: Any, page: Any, owner: str, key: str | None) -> dict:
    """The History table as ``owner`` (holding ``key``) may see it, as an update of the page."""
    return {page.history.table: history_rows(pg.visible_jobs(owner, key))}


def history_rows(jobs: Iterable[Job]) -> list[list[Any]]:
    """The History table: one row per job, newest first as given."""
    rows = []
    for j in jobs:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(j.created_at))
        rows.append([j.id, when, j.status, j.resolution or "", j.duration or "", "on" if j.audio else "off",
                     j.seed if j.seed is not None else "", format_usd(j.cost), charged_text(j), j.request_id or "",
                     "yes" if j.has_video else "", (j.params.get("prompt") or "")[:60], short_model(j.model),
                     _origin(j)])
    return rows


def charged_text(job: Job) -> str:
    """What the API charged for a job, net of refunds, once its billing was read ("" before); marked when it is not
    the estimate."""
    net = job.net_charge
    if net is None:
        return ""
    return format_usd(net) + (" (not the estimate)" if job.charge_differs else "")


def _origin(job: Job) -> str:
    """Where a row comes from: the draft a final renders again, the paid job a reused run showed, or the clip an
    extension continues."""
    parts = [f"final of job {job.draft_of}" if job.draft_of else "",
             f"extends job {job.extends}" if job.extends is not None else "",
             f"reuse of job {job.reused_from}" if job.reused_from is not None else ""]
    return "; ".join(p for p in parts if p)


def short_model(model: str) -> str:
    """ "bytedance/seedance-v1.5-pro/image-to-video-spicy" -> "seedance-v1.5-pro/image-to-video-spicy"."""
    return model.split("/", 1)[-1] if isinstance(model, str) else ""


def pricing_frame(model: str = SPICY):
    """USD per clip of ``model``: a row per duration, a column per resolution (with and without audio when the model
    makes audio); "~" marks the prices the vendor does not confirm."""
    import pandas as pd

    spec = MODELS.get(model) or MODELS[SPICY]
    table = price_table(spec.model_id)
    sounds = ((True, "audio"), (False, "silent")) if spec.has_audio else ((False, ""),)
    columns = {}
    for resolution in (r for r in RESOLUTIONS if r in spec.resolutions):
        for audio, label in sounds:
            rows = table[(table["resolution"] == resolution) & (table["audio"] == audio)]
            cells = [Quote(usd, ok).short() for usd, ok in zip(rows["cost_usd"], rows["confirmed"],
                                                                               strict=True)]
            columns[f"{resolution} · {label}" if label else resolution] = pd.Series(cells, index=rows["duration_s"])
    return pd.DataFrame(columns).rename_axis("seconds").reset_index()
