"""Running a sweep: the notebooks' ``seed_sweep``, ``grid_sweep`` and ``rerender``, and :func:`run_planned`, which runs
a plan (the page's too) through one Runner after collecting what an earlier run left at the API."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..backend import default_client
from ..caps import check_max_cost
from ..client import Client
from ..contract import SPICY, VideoRequest
from ..errors import ValidationError
from ..jobs import Ledger
from ..pipeline import Media, Result, ensure_uploaded, generate_request, read_media, resume
from ..pipeline.charges import settle_outcomes
from ..pricing import format_usd, price_of
from ..runner import END_PHASES, RunEvent, Runner
from ..status import COMPLETED, LOST
from .plan import UNFINISHED, Models, SweepEstimate, plan_jobs, with_ledger
from .rows import failed_row, planned_row, row_model, row_params, sweep_frame, sweep_row, with_charges

log = logging.getLogger(__name__)

# Bronze, the level every account starts at, runs 2 tasks at once (V); more would only queue at the API.
DEFAULT_CONCURRENCY = 2


@dataclass(frozen=True)
class SweepHooks:
    """How a caller that serves visitors (the page's Sweep tab, ``/sweep``) takes part in a run: ``on_event`` sees
    each job's :class:`~playground.runner.RunEvent` (``index`` is the row's place in the plan), ``cancel`` stops the
    rest, and ``guard``, ``session``, ``account``, ``visitor``, ``webhook_url`` and ``webhooks`` are the runner's
    (caps, ledger rows, History visibility, the app's webhook state), ``public`` the rule for visitors' image URLs (see
    :func:`~playground.pipeline.read_media`).
    """

    on_event: Any = None
    cancel: Any = None
    guard: Any = None
    session: str = ""
    account: str = ""
    visitor: str = ""
    webhook_url: str | None = None
    webhooks: Any = None
    public: bool = False  # a hosted playground: visitors' image URLs are never fetched on private addresses


def estimate_sweep(image: Any, prompt: str | None = None, seeds: int | Iterable[int] = 8, *,
                   grid: dict[str, Sequence] | None = None, model: Models = SPICY, last_image: Any = None,
                   client: Client | None = None, ledger: Ledger | None = None, **params: Any) -> SweepEstimate:
    """Plan a sweep and price it, without sending anything: one :class:`PlannedJob` per seed and combination.

    Jobs an identical earlier request already paid for (same backend, model, fields and image content) are marked
    so; they cost nothing again. Raises ValidationError naming the field before any request when a value is bad.
    """
    client = client or default_client()
    ledger = ledger or Ledger()
    estimate = plan_jobs(prompt, seeds, grid, model, has_last_image=last_image is not None, **params)
    return read_plan(estimate, image, last_image, client, ledger)[0]


# ---- running -------------------------------------------------------------------------------------------------


def seed_sweep(image: Any, prompt: str | None = None, seeds: int | Iterable[int] = 8, *, model: Models = SPICY,
               concurrency: int | None = None, max_cost: float | None = None, client: Client | None = None,
               ledger: Ledger | None = None, out_dir: str | Path | None = None, last_image: Any = None,
               progress: bool = True, verbose: bool = True, hooks: SweepHooks | None = None, **params: Any):
    """Render ``image`` once per seed and return a pandas DataFrame, one row per seed (see SWEEP_COLUMNS).

    ``seeds`` is a count (seeds 1..n) or a list; ``model`` one model id or a list (a row per model and seed, each
    with its ``model``). ``params`` are the model's fields (resolution, duration,
    generate_audio, camera_fixed, aspect_ratio). At most ``concurrency`` tasks are at the API at once (default 2,
    the Bronze level). With ``max_cost`` the sweep is refused (CapExceeded) before anything is sent when what it
    would pay exceeds it. A failed job is a row with its status and error, never an exception.

    >>> df = seed_sweep("cat.png", "slow zoom in", seeds=[3, 7], resolution="480p", duration=4)   # doctest: +SKIP
    >>> df[["seed", "status", "cost", "output_path"]]                                          # doctest: +SKIP
    """
    return grid_sweep(image, {}, prompt, seeds, model=model, concurrency=concurrency, max_cost=max_cost,
                      client=client, ledger=ledger, out_dir=out_dir, last_image=last_image, progress=progress,
                      verbose=verbose, hooks=hooks, **params)


def grid_sweep(image: Any, grid: dict[str, Sequence], prompt: str | None = None,
               seeds: int | Iterable[int] = 1, *, model: Models = SPICY, concurrency: int | None = None,
               max_cost: float | None = None, client: Client | None = None, ledger: Ledger | None = None,
               out_dir: str | Path | None = None, last_image: Any = None, progress: bool = True,
               verbose: bool = True, hooks: SweepHooks | None = None, **params: Any):
    """Like :func:`seed_sweep`, over every combination of ``grid`` (field -> values) times every seed.

    >>> grid_sweep("cat.png", {"resolution": ["480p", "720p"], "camera_fixed": [False, True]})  # doctest: +SKIP

    ``hooks`` (see :class:`SweepHooks`) are for callers serving visitors: progress events, cancel, caps.
    """
    workers = DEFAULT_CONCURRENCY if concurrency is None else int(concurrency)
    if workers < 1:
        raise ValidationError(f"concurrency: {concurrency} is not allowed; use 1 or more tasks at once")
    client = client or default_client()
    ledger = ledger or Ledger()
    hooks = hooks or SweepHooks()
    estimate = plan_jobs(prompt, seeds, grid, model, has_last_image=last_image is not None, **params)
    estimate, media = read_plan(estimate, image, last_image, client, ledger, public=hooks.public)
    _say(estimate.message(), verbose)
    check_max_cost(estimate.to_pay, max_cost, jobs=f"{estimate.n_new} new jobs ({estimate.n_jobs} in the sweep)",
                   advice="Raise max_cost, or use fewer seeds, a lower resolution, a shorter duration or audio off.")
    return run_planned(estimate, media, client, ledger, concurrency=workers, out_dir=out_dir, progress=progress,
                       hooks=hooks)


def read_plan(estimate: SweepEstimate, image: Any, last_image: Any, client: Client, ledger: Ledger, *,
              public: bool = False) -> tuple[SweepEstimate, Media]:
    """The sweep's images, read and checked once (see :func:`~playground.pipeline.read_media`), and ``estimate``
    with what the ledger holds of each job (see :func:`~playground.sweep.plan.with_ledger`)."""
    media = read_media(image, last_image, client=client, ledger=ledger, public=public)
    return with_ledger(estimate, ledger, client.backend_id, media.hashes), media


def run_planned(estimate: SweepEstimate, media: Media, client: Client, ledger: Ledger, *, concurrency: int,
                out_dir: str | Path | None = None, progress: bool = False, hooks: SweepHooks | None = None):
    """Run a checked plan: upload its images once, collect what an earlier run left at the API, send the rest
    through one Runner at most ``concurrency`` at once. The sweep's DataFrame, one row per job in plan order."""
    if estimate.n_new:
        # Upload once before the run starts, so every job finds the image in the ledger's upload cache.
        for prep in media.uploads:
            ensure_uploaded(client, ledger, prep)
    frame = _run(estimate, media, client, ledger, concurrency, out_dir, progress, hooks or SweepHooks())
    frame.attrs["estimate"] = estimate.message()
    frame.attrs["varied"] = list(estimate.varied)
    return frame


def rerender(row: Any, image: Any, *, client: Client | None = None, ledger: Ledger | None = None,
             model: str | None = None, out_dir: str | Path | None = None, last_image: Any = None,
             max_cost: float | None = None, **overrides: Any) -> Result:
    """Render a sweep row again with the same seed and fields, changed by ``overrides`` (e.g. resolution="1080p").

    ``row`` is a sweep DataFrame row (a pandas Series or dict) or a pipeline Result. Goes through the ledger like
    any generate call, so rendering the same winner twice pays once. ``model`` defaults to the row's (else spicy).
    """
    model = model or row_model(row)
    if isinstance(row, Result) and row.request is not None and row.request.model == model:
        request = row.request.with_changes(**overrides)
    else:
        request = VideoRequest.build(model, has_last_image=last_image is not None,
                                     **{**row_params(row), **overrides})
    check_max_cost(price_of(request).usd, max_cost, jobs="1 job")
    return generate_request(request, image, last_image, client=client or default_client(), ledger=ledger,
                            out_dir=out_dir, reuse=True)


def _say(message: str, verbose: bool) -> None:
    log.info("%s", message)
    if verbose:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()


def _run(estimate: SweepEstimate, media: Media, client: Client, ledger: Ledger, concurrency: int,
         out_dir: str | Path | None, progress: bool, hooks: SweepHooks):
    """Collect what an earlier run left at the API, then run the rest through one Runner; one row per job."""
    rows: list[dict[str, Any] | None] = [None] * estimate.n_jobs
    t0 = time.monotonic()
    left = {j.job_id: j for j in estimate.jobs if j.state == UNFINISHED and j.job_id is not None}
    collected = resume(client, ledger, out_dir=out_dir, job_ids=list(left)) if left else []
    if left:
        for outcome in collected:
            job = left[outcome.job_id]
            if outcome.status not in (COMPLETED, LOST):  # completed: reused below; lost: never created, sent below
                rows[job.index] = planned_row(job, status=outcome.status, error=outcome.error,
                                       request_id=outcome.request_id, job_id=job.job_id, t0=t0)
    to_run = [j for j in estimate.jobs if rows[j.index] is None]
    bar = _Progress(estimate.n_jobs, enabled=progress)
    for row in rows:
        if row is not None:
            bar.advance(row)

    def on_event(event: RunEvent) -> None:
        if event.phase in END_PHASES:
            bar.advance({"status": COMPLETED if event.phase in ("done", "reused") else event.phase,
                         "reused": event.phase == "reused", "cost": to_run[event.index].cost})
        if hooks.on_event is not None:  # indexed by the row of the plan, not by the place among the jobs sent
            hooks.on_event(replace(event, index=to_run[event.index].index))

    runner = Runner(client, ledger, concurrency=concurrency, on_event=on_event, out_dir=out_dir, probe_output=False,
                    cancel=hooks.cancel, guard=hooks.guard, session=hooks.session, account=hooks.account,
                    visitor=hooks.visitor, webhook_url=hooks.webhook_url, webhooks=hooks.webhooks)
    try:
        results = runner.run((job.request, media) for job in to_run)
    finally:
        # Interrupted (a notebook's stop button): the runner sent nothing more; the ledger keeps every job, and
        # running the same sweep again collects them.
        bar.close()
    for job, result in zip(to_run, results, strict=True):
        rows[job.index] = sweep_row(result, job.cost) if isinstance(result, Result) else \
            failed_row(ledger, job, result, t0)
    settle_outcomes(client, ledger, [*collected, *results])  # one billing search for the whole sweep
    with_charges(rows, ledger)
    return sweep_frame([r for r in rows if r is not None])


@dataclass
class _Progress:
    """A progress bar over the sweep's jobs: tqdm (tqdm.auto in notebooks) when installed, else a stderr line."""

    total: int
    enabled: bool = True
    done: int = 0
    failed: int = 0
    spent: float = 0.0
    _bar: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return
        self._bar = tqdm(total=self.total, desc="sweep", unit="job", file=sys.stderr)

    def advance(self, row: dict[str, Any]) -> None:
        self.done += 1
        if row["status"] != COMPLETED:
            self.failed += 1
        elif not row.get("reused"):
            self.spent += float(row["cost"] or 0.0)
        if not self.enabled:
            return
        postfix = f"paid {format_usd(self.spent)}" + (f", {self.failed} failed" if self.failed else "")
        if self._bar is not None:
            self._bar.set_postfix_str(postfix, refresh=False)
            self._bar.update(1)
        else:
            sys.stderr.write(f"\rsweep {self.done}/{self.total} jobs, {postfix}")
            sys.stderr.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.enabled and self.done:
            sys.stderr.write("\n")


__all__ = ["DEFAULT_CONCURRENCY", "SweepHooks", "estimate_sweep", "grid_sweep", "read_plan", "rerender", "run_planned",
           "seed_sweep"]
