"""The end of a job: its video fetched (checked before it counts), probed, and handed back as a :class:`Result`;
and a video an identical request already paid for, served again.

Exactly one writer records a task's end (:meth:`playground.jobs.Ledger.end`), and only that writer downloads: the
others wait for its ``video_path`` (:func:`downloading_elsewhere` says whether one is on its way), so a video is
never fetched twice.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..client import Client, Prediction, check_video
from ..contract import VideoRequest
from ..errors import OutputExpired, OutputInvalid, WaveSpeedError
from ..jobs import Job, Ledger
from ..progress import Emitter
from ..status import COMPLETED
from ..videotags import write_tags

log = logging.getLogger(__name__)

# A completed row's own writer is given this long to download before another takes over (a download that failed
# records its error, and then nobody is downloading).
DOWNLOAD_GRACE_S = 60.0


@dataclass
class Result:
    """A finished generation: the video on disk and everything needed to reproduce or account for it."""

    job_id: int
    request_id: str
    model: str
    params: dict
    seed: int
    cost: float
    video_path: Path
    output_url: str
    nsfw: bool
    inference_ms: int | None
    wall_s: float
    reused: bool = False
    info: Any = field(default=None, repr=False)
    request: VideoRequest | None = field(default=None, repr=False)
    completed_by: str = ""  # "webhook" when a verified delivery, not a poll, told us the task ended

    def __str__(self) -> str:
        return f"{self.video_path} (task {self.request_id}, seed {self.seed}, ${self.cost:.3f})"


def downloading_elsewhere(row: Job, now: float | None = None) -> bool:
    """Whether another writer (thread, process or replica) is fetching this completed row's video right now: it
    recorded the end without an error a short while ago and the video is not on disk yet."""
    now = time.time() if now is None else now
    return row.reusable and not row.has_video and not row.error and now - row.updated_at < DOWNLOAD_GRACE_S


def download(client: Client, ledger: Ledger, row: Job, pred: Prediction, out_dir: Path, emit: Emitter) -> Path:
    """Fetch the output; it becomes the row's video only once the client has checked it is a playable video.

    On any refusal (unsafe URL, not a video, too large, gone, transport) the row keeps its task id and status with
    the reason in ``error`` and no ``video_path``, so :func:`playground.pipeline.resume` can try again."""
    emit("downloading", "downloading the video", status=pred.status, request_id=pred.id, job_id=row.id)
    out_dir.mkdir(parents=True, exist_ok=True)
    # 128 random bits: the outputs folder is served, so a name must not be guessable from the job, task or seed.
    dest = out_dir / f"job{row.id:05d}-seed{row.seed}-{secrets.token_hex(16)}.mp4"
    try:
        path = client.download(pred.outputs[0], dest, task_id=pred.id)
    except WaveSpeedError as exc:
        ledger.update(row.id, error=str(exc))
        raise
    write_tags(path, ledger.get(row.id))  # the file carries its model, prompt, seed and ids: it can travel alone
    ledger.update(row.id, video_path=str(path), error="")
    return path


def probe(path: Path, emit: Emitter):
    """The video's measured facts (size, frames, audio), for the Result's ``info``."""
    from ..media import probe as probe_video  # ffmpeg's reader loads only when a probe is asked for

    emit("probing", "reading the video")
    return probe_video(path)


def collect_row(row: Job, pred: Prediction, *, client: Client, ledger: Ledger, out_dir: Path, emit: Emitter,
                probe_output: bool = True) -> Result:
    """:func:`~playground.pipeline.collect` for a ledger row (resumed, or finished for a webhook with nobody
    waiting)."""
    video = download(client, ledger, row, pred, out_dir, emit)
    info = probe(video, emit) if probe_output else None
    emit("done", "done", status=COMPLETED, request_id=pred.id, job_id=row.id)
    return result_of(ledger.get(row.id), video, info, time.monotonic() - emit.t0)


def result_of(row: Job, video: Path, info: Any, wall_s: float, reused: bool = False) -> Result:
    """The Result of a completed row whose video is ``video``."""
    return Result(row.id, row.request_id or "", row.model, row.params, int(row.seed or 0), row.cost, video,
                  row.outputs[0] if row.outputs else "", any(row.nsfw), row.inference_ms, wall_s, reused, info,
                  completed_by=row.completed_by)


def reuse_paid(row: Job, *, client: Client, ledger: Ledger, out_dir: Path, emit: Emitter,
               probe_output: bool) -> Result:
    """The video of ``row``, an identical request already paid for: from disk, or fetched again from its output
    URL (OutputExpired when neither is left). Nothing is paid."""
    if row.has_video:
        try:
            check_video(row.video_path or "")
        except OutputInvalid as exc:
            # Written by an older version that trusted downloads: never served; fetched again below if possible.
            log.warning("job %s: the file on disk is not a playable video (%s); not reusing it", row.id, exc)
            ledger.update(row.id, video_path=None, error=f"the saved file was not a playable video: {exc}")
            row = ledger.get(row.id)
    if not row.has_video:
        if not row.outputs:
            raise OutputExpired(f"Job {row.id} has no video on disk and no output URL to fetch it again.",
                                task_id=row.request_id)
        pred = Prediction(id=row.request_id or "", model=row.model, status=COMPLETED, outputs=tuple(row.outputs))
        download(client, ledger, row, pred, out_dir, emit)
        row = ledger.get(row.id)
    video = Path(row.video_path or "")
    emit("reused", f"reused job {row.id}: identical request already paid for", status=COMPLETED,
         request_id=row.request_id, job_id=row.id)
    info = probe(video, emit) if probe_output else None
    return result_of(row, video, info, time.monotonic() - emit.t0, reused=True)


__all__ = ["Result", "collect_row", "download", "downloading_elsewhere", "result_of", "reuse_paid",
           "DOWNLOAD_GRACE_S"]
