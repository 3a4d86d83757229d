"""Continue a finished clip with a video-extend model: the clip as ``video``, a prompt, a duration, the same seed
where the model takes one; the ledger links the extension to the clip it continues (``extends``), so a longer shot
is a chain of jobs with a cost of its own.

>>> draft = generate("cat.png", prompt="a cat wakes", resolution="480p", duration=4, seed=7)   # doctest: +SKIP
>>> longer = extend(draft, prompt="it stretches and walks off", duration=4)                    # doctest: +SKIP
>>> [job.id for job in chain(Ledger(), longer.job_id)]                                        # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..backend import default_client
from ..client import Client
from ..errors import ValidationError, WaveSpeedError
from ..jobs import Job, Ledger
from ..pricing import Quote, total
from ..status import COMPLETED
from .collect import Result
from .run import generate

EXTEND = "bytedance/seedance-v1.5-pro/video-extend"
_MAX_CHAIN = 100


def parent_job(video_or_job: Any, ledger: Ledger) -> Job | None:
    """The ledger row a clip came from: a Result, a Job or a job id; None for a bare file or URL."""
    if isinstance(video_or_job, Result):
        return ledger.get(video_or_job.job_id)
    if isinstance(video_or_job, Job):
        return video_or_job
    if isinstance(video_or_job, int) and not isinstance(video_or_job, bool):
        return ledger.get(video_or_job)
    return None


def _clip_of(parent: Job | None, video_or_job: Any) -> Any:
    if parent is None:
        return video_or_job
    if parent.status != COMPLETED:
        raise ValidationError(f"video: job {parent.id} is {parent.status}; only a finished clip can be extended")
    if parent.has_video:
        return Path(parent.video_path)
    if parent.outputs:
        return parent.outputs[0]
    raise ValidationError(f"video: job {parent.id} has no video on disk and no output URL")


def extension_params(client: Client, model: str, parent: Job | None, params: dict[str, Any]) -> dict[str, Any]:
    """The extension's fields: those given, the parent's seed (where the model takes one) and its resolution (where
    the model allows it) unless given. ValidationError when ``model`` does not continue a clip."""
    spec = client.model_spec(model)
    if not any(p.media == "video" and p.type is str for p in spec.media_fields):
        raise ValidationError(f"model: {model} does not continue a clip (it has no video field)")
    fields = dict(params)
    if parent is not None:
        if spec.has("seed") and fields.get("seed") is None and parent.seed is not None:
            fields["seed"] = parent.seed
        if (spec.has("resolution") and fields.get("resolution") is None
                and parent.resolution in spec.resolutions):
            fields["resolution"] = parent.resolution
    return fields


def extension_price(video_or_job: Any, *, prompt: str | None = None, model: str = EXTEND,
                    client: Client | None = None, ledger: Ledger | None = None, **params: Any) -> Quote:
    """What :func:`extend` would cost, before anything is paid (the API's price, or the offline fallbacks)."""
    client = client or default_client()
    parent = parent_job(video_or_job, ledger or Ledger())
    fields = extension_params(client, model, parent, {"prompt": prompt, **params})
    return client.price(model, {k: v for k, v in fields.items() if v is not None})


def extend(video_or_job: Any, prompt: str | None = None, *, model: str = EXTEND, client: Client | None = None,
           ledger: Ledger | None = None, **params: Any) -> Result:
    """Continue a clip: ``video_or_job`` is a :class:`Result`, a ledger :class:`Job` or its id (linked as the
    parent), or a video file or URL. ``params`` are the extend model's fields (``duration``, ``resolution``...); the
    seed and resolution default to the parent's. Returns the extension's Result; its row ``extends`` the parent."""
    client = client or default_client()
    ledger = ledger or Ledger()
    parent = parent_job(video_or_job, ledger)
    fields = extension_params(client, model, parent, params)
    try:
        result = generate(None, prompt, model=model, video=_clip_of(parent, video_or_job), client=client,
                          ledger=ledger, **fields)
    except WaveSpeedError as exc:
        row = ledger.by_request_id(exc.task_id) if exc.task_id else None
        if row is not None and parent is not None:
            ledger.update(row.id, extends=parent.id)
        raise
    if parent is not None and not result.reused:
        ledger.update(result.job_id, extends=parent.id)
    return result


def chain(ledger: Ledger, job_id: int) -> list[Job]:
    """The clip ``job_id`` and every clip it extends, oldest first (a draft, then its extensions)."""
    jobs = [ledger.get(job_id)]
    while jobs[0].extends is not None and len(jobs) < _MAX_CHAIN:
        jobs.insert(0, ledger.get(jobs[0].extends))
    return jobs


def chain_cost(jobs: list[Job]) -> Quote:
    """What a chain of clips cost: the billing's net charge where it was read, else the estimate, marked so."""
    return total(Quote(j.net_charge, True, "billing") if j.net_charge is not None else Quote(j.cost, False)
                 for j in jobs)


__all__ = ["EXTEND", "extend", "extension_price", "extension_params", "chain", "chain_cost", "parent_job"]
