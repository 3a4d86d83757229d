"""A sweep's table: one row per job, its fields and what became of it (the DataFrame a sweep returns)."""

from __future__ import annotations

import time
from typing import Any

from ..contract import SPICY
from ..errors import ValidationError, WaveSpeedError
from ..jobs import Ledger
from ..pipeline import Result
from ..status import COMPLETED, ERROR, UNCHARGED
from .plan import PlannedJob, plain

# The model fields a sweep row shows besides the seed (image URLs are not parameters of the picture).
PARAM_COLUMNS = ("prompt", "resolution", "duration", "aspect_ratio", "camera_fixed", "generate_audio")
# cost: the estimate; charged: what the API's billing says the task cost net of refunds (NaN until read).
RESULT_COLUMNS = ("request_id", "status", "cost", "charged", "inference_ms", "wall_s", "output_path", "nsfw", "error",
                  "reused", "job_id")
SWEEP_COLUMNS = ("seed", "model", *PARAM_COLUMNS, *RESULT_COLUMNS)

def sweep_row(result: Result, cost: float | None = None) -> dict[str, Any]:
    """One sweep row (see SWEEP_COLUMNS) for a pipeline Result; ``cost`` defaults to the result's."""
    cost = result.cost if cost is None else cost
    row = {"seed": int(result.seed), "model": result.model}
    row.update({name: result.params.get(name) for name in PARAM_COLUMNS})
    row.update(request_id=result.request_id, status=COMPLETED, cost=cost, charged=None,
               inference_ms=result.inference_ms,
               wall_s=round(result.wall_s, 3), output_path=str(result.video_path), nsfw=bool(result.nsfw), error="",
               reused=bool(result.reused), job_id=result.job_id)
    return row


def sweep_frame(rows: list[dict[str, Any]]):
    """Sweep rows as the DataFrame a sweep returns, with its column types."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=list(SWEEP_COLUMNS))
    frame["inference_ms"] = frame["inference_ms"].astype("Int64")
    frame["job_id"] = frame["job_id"].astype("Int64")
    frame["cost"] = frame["cost"].astype(float)
    frame["charged"] = frame["charged"].astype(float)
    frame["nsfw"] = frame["nsfw"].astype(bool)
    frame["reused"] = frame["reused"].astype(bool)
    return frame


def with_charges(rows: list[dict[str, Any] | None], ledger: Ledger) -> None:
    """Each row's ``charged``: its job's net charge as the ledger holds it once the billing was read (0 for a clip
    the ledger served again: nothing was paid for it)."""
    for row in rows:
        if row is None:
            continue
        if row.get("reused"):
            row["charged"] = 0.0
        elif row.get("job_id") is not None:
            row["charged"] = ledger.get(int(row["job_id"])).net_charge


def failed_row(ledger: Ledger, job: PlannedJob, exc: WaveSpeedError, t0: float) -> dict[str, Any]:
    status, request_id, inference_ms = ERROR, exc.task_id, None
    job_id = getattr(exc, "job_id", None)
    if job_id is not None:
        rec = ledger.get(job_id)
        status, inference_ms, request_id = rec.status, rec.inference_ms, rec.request_id or request_id
    return planned_row(job, status=status, error=str(exc), request_id=request_id, inference_ms=inference_ms,
                job_id=job_id, t0=t0)


def planned_row(job: PlannedJob, *, status: str, error: str, t0: float, request_id: str | None = None,
         inference_ms: int | None = None, job_id: int | None = None) -> dict[str, Any]:
    row = {"seed": job.seed, "model": job.model}
    row.update({name: job.params.get(name) for name in PARAM_COLUMNS})
    row.update(request_id=request_id, status=status, cost=0.0 if status in UNCHARGED else job.cost, charged=None,
               inference_ms=inference_ms, wall_s=round(time.monotonic() - t0, 3), output_path="", nsfw=False,
               error=error, reused=False, job_id=job_id)
    return row


def row_params(row: Any) -> dict[str, Any]:
    if isinstance(row, Result):
        source = dict(row.params)
        seed = row.seed
    else:
        source = dict(row.items()) if hasattr(row, "items") else dict(row)
        seed = source.get("seed")
    params = {}
    for name in PARAM_COLUMNS:
        value = source.get(name)
        if value is None or _is_missing(value):
            continue
        params[name] = plain(value)
    if seed is None or _is_missing(seed):
        raise ValidationError("row: has no seed to render again")
    params["seed"] = int(seed)
    return params


def row_model(row: Any) -> str:
    """The model a sweep row or Result was made with (rows from before sweeps had a model column: spicy)."""
    value = getattr(row, "model", None) if isinstance(row, Result) else \
        (row.get("model") if hasattr(row, "get") else None)
    return SPICY if value is None or _is_missing(value) or not value else str(value)


def _is_missing(value: Any) -> bool:
    try:
        return bool(value != value)  # NaN and pandas NA
    except (TypeError, ValueError):
        return False

