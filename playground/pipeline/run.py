"""The library's calls, each a thin composition over the one :class:`~playground.pipeline.runner.Runner`:
:func:`generate` (build the request, run it as a run of one job, return its Result or raise its error), :func:`resume`
(collect what was left unfinished) and :func:`wait` (the wait step alone).

>>> from playground import generate
>>> result = generate("cat.png", prompt="slow zoom in", resolution="480p", duration=4)   # doctest: +SKIP
>>> result.video_path, result.seed, result.cost                                          # doctest: +SKIP
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..backend import default_client
from ..client import Client, Prediction
from ..contract import SPICY, VideoRequest, find_model, get_model
from ..errors import ValidationError, WaveSpeedError
from ..jobs import Job, Ledger
from ..progress import Emitter, ProgressHook
from ..status import COMPLETED
from ..webhooks import Webhooks
from .charges import settle_outcomes
from .collect import Result
from .inputs import read_media
from .runner import Runner
from .steps import Guard, Planned

# A waiting generate() repeats its progress event this often, so a progress bar's clock moves between polls.
HEARTBEAT_S = 1.0


def generate(image: Any = None, prompt: str | None = None, *, last_image: Any = None, model: str = SPICY,
             client: Client | None = None, ledger: Ledger | None = None, on_progress: ProgressHook | None = None,
             reuse: bool = True, cancel: threading.Event | None = None, timeout: float | None = None,
             out_dir: str | Path | None = None, session: str = "", account: str = "",
             guard: Guard | None = None, probe_output: bool = True, visitor: str = "", webhook_url: str | None = None,
             webhooks: Webhooks | None = None, **params: Any) -> Result:
    """Turn an image (path, bytes, PIL image or URL) into a video on disk, or run any model of the API's catalogue.

    ``params`` are the model's fields (duration, resolution, aspect_ratio, camera_fixed, generate_audio, seed for
    the spicy model); its media fields (``video=`` for a video-extend model, ``reference_images=[...]``) take files
    or URLs like ``image``. A model this process does not know is looked up in ``client``'s catalogue; a field the
    model does not have is refused (the API would drop it and bill its defaults).
    A seed of -1 or None is replaced by a concrete random seed that is sent, so every result can be reproduced.
    With ``reuse`` and an explicit seed, an identical request is paid for once, across threads and processes sharing
    the ledger: a completed one is returned at once, one in flight is waited for (and claimed over if it ends without
    a video). ``guard(cost, params, spent)`` may raise (e.g. a spending cap): it runs inside the ledger transaction
    that reserves the job's row, ``spent`` summing the ledger there (see :meth:`Ledger.reserve`). ``visitor`` is
    recorded on the row for per-visitor caps. ``cancel`` stops the wait at once, ``timeout`` after that many seconds;
    the job stays in the ledger for :func:`resume`. The request is checked (:meth:`VideoRequest.build`) before anything
    else happens. ``webhook_url``: the submit carries ``?webhook=`` so the service POSTs the end there; the receiver
    (:mod:`playground.receiver`) records it in the ledger, and this wait takes it from there (at once when the
    receiver shares ``webhooks`` with it), with no result GET; without a delivery by the expected finish plus
    ``client.poll.webhook_margin``, polling takes over.
    """
    Emitter(on_progress)("validating", "checking the inputs")
    if find_model(model) is None and isinstance(model, str):
        client = client or default_client()
        client.model_spec(model)  # looked up in the API's catalogue; UnknownModel names ``model``
    media = split_media(model, image, last_image, params)
    request = _build_request(model, media, prompt=prompt, **params)
    return generate_request(request, media=media, client=client, ledger=ledger, on_progress=on_progress,
                            reuse=reuse, cancel=cancel, timeout=timeout, out_dir=out_dir, session=session,
                            account=account, guard=guard, probe_output=probe_output, visitor=visitor,
                            webhook_url=webhook_url, webhooks=webhooks)


def generate_request(request: VideoRequest, image: Any = None, last_image: Any = None, *,
                     media: dict[str, Any] | None = None, client: Client | None = None,
                     ledger: Ledger | None = None, on_progress: ProgressHook | None = None, reuse: bool = True,
                     cancel: threading.Event | None = None, timeout: float | None = None,
                     out_dir: str | Path | None = None, session: str = "", account: str = "",
                     guard: Guard | None = None, probe_output: bool = True, visitor: str = "",
                     webhook_url: str | None = None, webhooks: Webhooks | None = None) -> Result:
    """:func:`generate` for a request already built: its media read (``image`` and ``last_image``, or ``media`` by
    field), then a run of one job."""
    client = client or default_client()
    ledger = ledger or Ledger()
    spec = get_model(request.model)
    media = read_media(image, last_image, media=media, kinds={p.name: p.kind for p in spec.media_fields},
                       client=client, ledger=ledger)
    runner = Runner(client, ledger, concurrency=1, workers=2, on_event=on_progress, cancel=cancel, timeout=timeout,
                    out_dir=out_dir, probe_output=probe_output, guard=guard, session=session, account=account,
                    visitor=visitor, reuse=reuse, webhook_url=webhook_url, webhooks=webhooks,
                    heartbeat=HEARTBEAT_S if on_progress else None)
    (outcome,) = runner.run([(request, media)])
    settle_outcomes(client, ledger, [outcome])
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def split_media(model: Any, image: Any, last_image: Any, params: dict[str, Any]) -> dict[str, Any]:
    """The media given for ``model`` by field (taken out of ``params``): ``image``, ``last_image`` and any of the
    model's media fields passed by name."""
    spec = find_model(model)
    names = [p.name for p in spec.media_fields] if spec is not None else []
    media = {"image": image, "last_image": last_image}
    media.update({name: params.pop(name) for name in names if name in params})
    return {k: v for k, v in media.items() if v is not None}


def _build_request(model: str, media: dict[str, Any], **fields: Any) -> VideoRequest:
    """The request, with a missing required medium ("image: is required") first among the problems."""
    spec = find_model(model)
    missing = [f"{p.name}: is required" for p in (spec.media_fields if spec is not None else ())
               if p.required and p.name not in media]
    try:
        request = VideoRequest.build(model, media=list(media), **fields)
    except ValidationError as exc:
        problems = [p for p in exc.problems if p not in missing]
        raise ValidationError([*missing, *problems]) from None
    return request


def wait(planned: Planned, pred: Prediction, *, client: Client, ledger: Ledger,
         cancel: threading.Event | None = None, timeout: float | None = None,
         webhooks: Webhooks | None = None) -> Prediction:
    """Wait for a submitted task on the runner's one clock (and its webhook, when it asked for one), record how it
    ended, and return it; TaskFailed when it ended without a video. ``cancel`` and ``timeout`` stop the wait only:
    the job stays in the ledger for :func:`resume`."""
    runner = Runner(client, ledger, concurrency=1, workers=1, cancel=cancel, timeout=timeout, webhooks=webhooks)
    return runner.wait(planned, pred)


@dataclass
class ResumeOutcome:
    """What :func:`resume` did with one unfinished ledger row."""

    job_id: int
    request_id: str | None
    status: str
    video_path: Path | None = None
    error: str = ""


def resume(client: Client | None = None, ledger: Ledger | None = None, *, on_progress: ProgressHook | None = None,
           out_dir: str | Path | None = None, timeout: float | None = None,
           job_ids: list[int] | None = None) -> list[ResumeOutcome]:
    """Collect every unfinished ledger row of this backend (or those of ``job_ids``): wait for each task and download
    what is done. Rows whose submit reply was lost are first reconciled through the history endpoint. Nothing is
    ever re-sent."""
    client = client or default_client()
    ledger = ledger or Ledger()
    rows = [j for j in ledger.unfinished(base_url=client.backend_id) if job_ids is None or j.id in job_ids]
    if not rows:
        return []
    runner = Runner(client, ledger, concurrency=len(rows), workers=min(8, len(rows)), on_event=on_progress,
                    out_dir=out_dir, timeout=timeout, probe_output=False)
    return [_outcome(ledger, row, result) for row, result in zip(rows, runner.resume(rows), strict=True)]


def _outcome(ledger: Ledger, row: Job, result: Result | WaveSpeedError) -> ResumeOutcome:
    if isinstance(result, Result):
        return ResumeOutcome(row.id, result.request_id, COMPLETED, result.video_path)
    now = ledger.get(row.id)
    return ResumeOutcome(row.id, result.task_id or now.request_id, now.status, None, str(result))


__all__ = ["generate", "generate_request", "wait", "resume", "ResumeOutcome", "HEARTBEAT_S"]
