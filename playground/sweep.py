"""Seed and parameter sweeps, their cost before paying, and measurements for the notebooks.

>>> estimate_sweep("cat.png", "slow zoom in", seeds=8, resolution="480p", duration=4)   # doctest: +SKIP
8 jobs (480p, 4 s, audio on): $0.768 estimated, $0.096 each; $0.768 to pay now
>>> df = seed_sweep("cat.png", "slow zoom in", seeds=8, resolution="480p", duration=4, max_cost=1.0)  # doctest: +SKIP
>>> best = report.rank_clips(df).iloc[0]                                                # doctest: +SKIP
>>> final = rerender(best, "cat.png", resolution="1080p")                               # doctest: +SKIP

``model`` is one model id or a list: the plan is then models x seeds (x grid), priced in total, each row carrying its
model. A field a model lacks (audio or a last image on V1 Pro Fast) is left out for that model when it was not asked
for, and refused naming the model and the field when it was (``generate_audio=True``), before anything is sent.

Every job is a :class:`~playground.contract.VideoRequest` with an explicit seed, run by one
:class:`~playground.runner.Runner`, so the ledger makes a sweep idempotent: re-running it pays nothing twice, and a
sweep that crashed resumes the tasks it left at the API instead of submitting them again. The whole sweep is priced
and checked against ``max_cost`` before anything is sent. Tables, plots and measurements of sweeps are in
:mod:`playground.report`.
"""

from __future__ import annotations

import itertools
import logging
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .backend import default_client
from .client import Client
from .contract import SEED_MAX, SPICY, V1_PRO_FAST, VideoRequest, get_model, show  # noqa: F401 - doctests
from .errors import CapExceeded, ValidationError, WaveSpeedError
from .jobs import Ledger
from .pipeline import Media, Result, ensure_uploaded, generate_request, read_media, resume
from .pricing import format_usd, price_of, quote
from .runner import END_PHASES, RunEvent, Runner
from .status import COMPLETED, ERROR, LOST, UNCHARGED

log = logging.getLogger(__name__)

# Bronze, the level every account starts at, runs 2 tasks at once (V); more would only queue at the API.
DEFAULT_CONCURRENCY = 2
FIRST_SEED = 1

# The model fields a sweep row shows besides the seed (image URLs are not parameters of the picture).
PARAM_COLUMNS = ("prompt", "resolution", "duration", "aspect_ratio", "camera_fixed", "generate_audio")
RESULT_COLUMNS = ("request_id", "status", "cost", "inference_ms", "wall_s", "output_path", "nsfw", "error",
                  "reused", "job_id")
SWEEP_COLUMNS = ("seed", "model", *PARAM_COLUMNS, *RESULT_COLUMNS)

Models = str | Sequence[str]
"""One model id, or a list of them (a sweep across models)."""


# ---- planning and cost ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedJob:
    """One request of a sweep: its fields, its price, and what the ledger already knows of it.

    ``state`` is ``"new"`` (will be paid), ``"done"`` (a completed identical request is in the ledger and will be
    reused) or ``"unfinished"`` (an identical request was sent earlier and is still being collected). ``params`` are
    ``request.fields`` as a plain dict.
    """

    index: int
    seed: int
    params: dict
    cost: float
    fingerprint: str = ""
    state: str = "new"
    job_id: int | None = None
    request: VideoRequest | None = field(default=None, repr=False, compare=False)
    model: str = SPICY


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


@dataclass(frozen=True)
class SweepEstimate:
    """The price of a planned sweep, before anything is sent. ``str()`` gives the one line notebooks show."""

    model: str
    jobs: tuple[PlannedJob, ...]
    confirmed: bool = True
    varied: tuple[str, ...] = ()
    models: tuple[str, ...] = ()

    @property
    def n_jobs(self) -> int:
        return len(self.jobs)

    @property
    def total(self) -> float:
        """USD for every job of the sweep, as if none had been paid for before."""
        return round(sum(j.cost for j in self.jobs), 6)

    @property
    def to_pay(self) -> float:
        """USD the sweep would commit now: the jobs the ledger does not already hold."""
        return round(sum(j.cost for j in self.jobs if j.state == "new"), 6)

    @property
    def n_new(self) -> int:
        return sum(1 for j in self.jobs if j.state == "new")

    def message(self) -> str:
        shown = _describe_params(self.jobs[0].params, exclude=self.varied) if self.jobs else ""
        each = {j.cost for j in self.jobs}
        price = f"{format_usd(next(iter(each)))} each" if len(each) == 1 else "prices vary by job"
        if len(self.models) > 1:
            shown = f"{len(self.models)} models; {shown}"
        text = (f"{self.n_jobs} jobs ({shown}): {format_usd(self.total)} estimated, {price}; "
                f"{format_usd(self.to_pay)} to pay now")
        held = self.n_jobs - self.n_new
        if held:
            text += f" ({held} already in the ledger)"
        if not self.confirmed:
            text += " [estimate: the pricing table does not confirm this model's price]"
        return text

    __str__ = message


def seed_list(seeds: int | Iterable[int], first_seed: int = FIRST_SEED) -> list[int]:
    """Explicit seeds: ``n`` gives ``first_seed .. first_seed + n - 1``; a list is checked and de-duplicated.

    Sweeps never use random seeds: explicit ones make every clip reproducible and every re-run free.

    >>> seed_list(3)
    [1, 2, 3]
    """
    if isinstance(seeds, bool):
        raise ValidationError(f"seeds: expected a count or a list of seeds, got {seeds!r}")
    if isinstance(seeds, int):
        if seeds < 1:
            raise ValidationError(f"seeds: {seeds} is not a number of seeds; use 1 or more")
        values = list(range(first_seed, first_seed + seeds))
    else:
        values = [_as_seed(s) for s in seeds]
        if not values:
            raise ValidationError("seeds: the list is empty; give at least one seed")
    bad = [s for s in values if not 0 <= s <= SEED_MAX]
    if bad:
        raise ValidationError(f"seeds: {bad[0]} is out of range; sweeps need explicit seeds from 0 to {SEED_MAX}")
    return list(dict.fromkeys(values))


def sweep_cost(n_or_seeds: int | Iterable[int] = 8, *, model: Models = SPICY, grid: dict[str, Sequence] | None = None,
               **params: Any) -> float:
    """USD for a sweep of ``n_or_seeds`` seeds (times every combination of ``grid``, times every model) with
    ``params``. Pure; a field a model lacks is judged as in a run (see the module docstring).

    >>> sweep_cost(8, resolution="480p", duration=4, generate_audio=True)
    0.768
    >>> sweep_cost(2, model=[SPICY, V1_PRO_FAST], resolution="480p", duration=4)  # V1 Pro Fast has no audio
    0.288
    """
    seeds = seed_list(n_or_seeds)
    combos = _combinations(grid or {})
    total = 0.0
    for name in model_list(model):
        for combo in combos:
            total += quote(name, fields_for(name, {**params, **combo}, explicit=set(params) | set(combo))).usd
    return round(total * len(seeds), 6)


def model_list(model: Models) -> list[str]:
    """The models of a sweep: one id or a list, checked and de-duplicated (a ValidationError naming ``model``).

    >>> model_list(SPICY) == [SPICY]
    True
    """
    names = [model] if isinstance(model, str) else list(model) if isinstance(model, Iterable) else [model]
    if not names:
        raise ValidationError("model: the list is empty; give at least one model")
    for name in names:
        get_model(name)  # UnknownModel names the field
    return list(dict.fromkeys(names))


def model_label(model: str) -> str:
    """A model's short name for rows and labels: "V1.5 Pro Spicy", "V1 Pro Fast"."""
    return get_model(model).title.replace("Seedance ", "").replace(" Image-to-Video", "").strip()


def fields_for(model: str, fields: dict[str, Any], *, explicit: Iterable[str] = ()) -> dict[str, Any]:
    """``fields`` as ``model`` takes them: a field the model lacks is dropped when it was left at a default (not in
    ``explicit``) or asks for nothing (False, None); asked for explicitly, it is refused naming the model and field.

    >>> fields_for(V1_PRO_FAST, {"resolution": "480p", "generate_audio": True})
    {'resolution': '480p'}
    """
    spec, asked = get_model(model), set(explicit)
    kept: dict[str, Any] = {}
    problems = []
    for name, value in fields.items():
        if name in spec.names:
            kept[name] = value
        elif name in asked and value not in (None, False) and name == "last_image":
            problems.append(f"last_image: {model_label(model)} ({model}) takes no last image; leave it out, or "
                            "sweep models that take one")
        elif name in asked and value not in (None, False):
            problems.append(f"{name}: {model_label(model)} ({model}) has no {name}; got {show(value)}. Leave it "
                            "out, or sweep models that have it")
    if problems:
        raise ValidationError(problems)
    return kept


def estimate_sweep(image: Any, prompt: str | None = None, seeds: int | Iterable[int] = 8, *,
                   grid: dict[str, Sequence] | None = None, model: Models = SPICY, last_image: Any = None,
                   client: Client | None = None, ledger: Ledger | None = None, **params: Any) -> SweepEstimate:
    """Plan a sweep and price it, without sending anything: one :class:`PlannedJob` per seed and combination.

    Jobs an identical earlier request already paid for (same backend, model, fields and image content) are marked
    so; they cost nothing again. Raises ValidationError naming the field before any request when a value is bad.
    """
    client = client or default_client()
    ledger = ledger or Ledger()
    return _plan(image, prompt, seeds, grid or {}, model, last_image, client, ledger, params)[0]


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
    estimate, media = _plan(image, prompt, seeds, grid, model, last_image, client, ledger, params,
                            public=hooks.public)
    _say(estimate.message(), verbose)
    if max_cost is not None and estimate.to_pay > max_cost + 1e-9:
        raise CapExceeded(
            f"max_cost {format_usd(max_cost)} is below the estimate {format_usd(estimate.to_pay)} for "
            f"{estimate.n_new} new jobs ({estimate.n_jobs} in the sweep); nothing was submitted. Raise max_cost, "
            "or use fewer seeds, a lower resolution, a shorter duration or audio off.")
    if estimate.n_new:
        # Upload once before the run starts, so every job finds the image in the ledger's upload cache.
        for prep in media.uploads:
            ensure_uploaded(client, ledger, prep)
    frame = _run(estimate, media, client, ledger, workers, out_dir, progress, hooks)
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
    model = model or _row_model(row)
    if isinstance(row, Result) and row.request is not None and row.request.model == model:
        request = row.request.with_changes(**overrides)
    else:
        request = VideoRequest.build(model, has_last_image=last_image is not None,
                                     **{**_row_params(row), **overrides})
    cost = price_of(request).usd
    if max_cost is not None and cost > max_cost + 1e-9:
        raise CapExceeded(f"max_cost {format_usd(max_cost)} is below the estimate {format_usd(cost)} for 1 job; "
                          "nothing was submitted.")
    return generate_request(request, image, last_image, client=client or default_client(), ledger=ledger,
                            out_dir=out_dir, reuse=True)


# ---- internals -----------------------------------------------------------------------------------------------


def _as_seed(value: Any) -> int:
    value = _plain(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"seeds: {value!r} is not a whole number")
    return value


def _combinations(grid: dict[str, Sequence]) -> list[dict[str, Any]]:
    names = list(grid)
    for name in names:
        values = grid[name]
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise ValidationError(f"grid: {name} needs a list of values, got {values!r}")
        if len(list(values)) == 0:
            raise ValidationError(f"grid: {name} has no values")
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(list(grid[n]) for n in names))]


def _plan(image: Any, prompt: str | None, seeds: int | Iterable[int], grid: dict[str, Sequence], model: Models,
          last_image: Any, client: Client, ledger: Ledger, params: dict[str, Any], *,
          public: bool = False) -> tuple[SweepEstimate, Media]:
    """The jobs of a sweep (models x combinations x seeds), priced, with the ledger's knowledge of each; and its
    images. Every problem of every model is gathered into one ValidationError before anything is read or sent."""
    grid = dict(grid)
    if "seed" in grid:
        if seeds not in (1, None):
            raise ValidationError("grid: give the seeds either as seeds=... or as a grid entry, not both")
        seeds = grid.pop("seed")
    if "seed" in params:
        raise ValidationError("seed: a sweep takes its seeds from seeds=...; pass seeds=[...] instead")
    if "model" in grid:
        raise ValidationError("grid: give the models as model=[...], not as a grid entry")
    models = model_list(model)
    fields_known = {n for m in models for n in get_model(m).names}
    for name in grid:
        if name not in fields_known or name in ("image", "last_image"):
            raise ValidationError(f"grid: {name} is not a field to vary; choose from "
                                  f"{', '.join(sorted(fields_known - {'image', 'last_image', 'seed'}))}")
    seed_values = seed_list(seeds if seeds is not None else 1)
    combos = _combinations(grid)
    media = read_media(image, last_image, client=client, ledger=ledger, public=public)

    jobs: list[PlannedJob] = []
    problems: list[str] = []
    confirmed = True
    explicit = set(params) | set(grid) | ({"last_image"} if "last_image" in media.hashes else set())
    for name in models:
        for combo in combos:
            try:
                asked = {**params, **{k: v for k, v in combo.items() if v is not None}}
                if "last_image" in media.hashes:
                    asked["last_image"] = True  # a marker for fields_for: the picture itself travels beside
                fields = fields_for(name, asked, explicit=explicit)
                has_last = bool(fields.pop("last_image", False))
                built = [VideoRequest.build(name, has_last_image=has_last, **{"prompt": prompt, **fields,
                                                                              "seed": seed})
                         for seed in seed_values]
            except ValidationError as exc:
                tag = model_label(name)
                named = [p if len(models) == 1 or tag in p else f"{p} ({tag})" for p in exc.problems]
                problems.extend(p for p in named if p not in problems)
                continue
            for request in built:
                q = price_of(request)
                confirmed = confirmed and q.confirmed
                # The same identity generate() gives the request, so the ledger's rows can be matched before sending.
                fp = request.fingerprint(client.backend_id, media.hashes)
                jobs.append(PlannedJob(len(jobs), request.seed, request.params(), q.usd, fp, request=request,
                                       model=name))
    if problems:
        raise ValidationError(problems)

    known = _ledger_states(ledger, client.backend_id, {j.fingerprint for j in jobs})
    jobs = [j if j.fingerprint not in known else _with_state(j, *known[j.fingerprint]) for j in jobs]
    varied = tuple(name for name in grid if len({repr(c.get(name)) for c in combos}) > 1)
    if len(models) > 1:
        varied = ("model", *varied)
    return SweepEstimate(models[0], tuple(jobs), confirmed, varied, tuple(models)), media


def _with_state(job: PlannedJob, state: str, job_id: int) -> PlannedJob:
    return PlannedJob(job.index, job.seed, job.params, job.cost, job.fingerprint, state, job_id, job.request,
                      job.model)


def _ledger_states(ledger: Ledger, backend_id: str, fps: set[str]) -> dict[str, tuple[str, int]]:
    """For each fingerprint the ledger holds: ("done", job) when reusable, else ("unfinished", job) when pending."""
    states: dict[str, tuple[str, int]] = {}
    for fp in fps:
        job = ledger.find_reusable(fp)
        if job is not None:
            states[fp] = ("done", job.id)
    for job in ledger.unfinished(base_url=backend_id):
        if job.fingerprint in fps and job.fingerprint not in states and job.status != COMPLETED:
            states[job.fingerprint] = ("unfinished", job.id)
    return states


def _describe_params(params: dict, exclude: Iterable[str] = ()) -> str:
    skip = set(exclude)
    parts = []
    if "resolution" not in skip and params.get("resolution"):
        parts.append(str(params["resolution"]))
    if "duration" not in skip and params.get("duration"):
        parts.append(f"{params['duration']} s")
    if "aspect_ratio" not in skip and params.get("aspect_ratio"):
        parts.append(str(params["aspect_ratio"]))
    if "generate_audio" not in skip and "generate_audio" in params:
        parts.append(f"audio {'on' if params['generate_audio'] else 'off'}")
    if "camera_fixed" not in skip and params.get("camera_fixed"):
        parts.append("fixed camera")
    return ", ".join(parts)


def _say(message: str, verbose: bool) -> None:
    log.info("%s", message)
    if verbose:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()


def _row_params(row: Any) -> dict[str, Any]:
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
        params[name] = _plain(value)
    if seed is None or _is_missing(seed):
        raise ValidationError("row: has no seed to render again")
    params["seed"] = int(seed)
    return params


def _row_model(row: Any) -> str:
    """The model a sweep row or Result was made with (rows from before sweeps had a model column: spicy)."""
    value = getattr(row, "model", None) if isinstance(row, Result) else \
        (row.get("model") if hasattr(row, "get") else None)
    return SPICY if value is None or _is_missing(value) or not value else str(value)


def _is_missing(value: Any) -> bool:
    try:
        return bool(value != value)  # NaN and pandas NA
    except (TypeError, ValueError):
        return False


def _plain(value: Any) -> Any:
    """numpy/pandas scalars as plain Python values, so validation and JSON see ints, bools and strings."""
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


def sweep_row(result: Result, cost: float | None = None) -> dict[str, Any]:
    """One sweep row (see SWEEP_COLUMNS) for a pipeline Result; ``cost`` defaults to the result's."""
    cost = result.cost if cost is None else cost
    row = {"seed": int(result.seed), "model": result.model}
    row.update({name: result.params.get(name) for name in PARAM_COLUMNS})
    row.update(request_id=result.request_id, status=COMPLETED, cost=cost, inference_ms=result.inference_ms,
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
    frame["nsfw"] = frame["nsfw"].astype(bool)
    frame["reused"] = frame["reused"].astype(bool)
    return frame


def _run(estimate: SweepEstimate, media: Media, client: Client, ledger: Ledger, concurrency: int,
         out_dir: str | Path | None, progress: bool, hooks: SweepHooks):
    """Collect what an earlier run left at the API, then run the rest through one Runner; one row per job."""
    rows: list[dict[str, Any] | None] = [None] * estimate.n_jobs
    t0 = time.monotonic()
    left = {j.job_id: j for j in estimate.jobs if j.state == "unfinished" and j.job_id is not None}
    if left:
        for outcome in resume(client, ledger, out_dir=out_dir, job_ids=list(left)):
            job = left[outcome.job_id]
            if outcome.status not in (COMPLETED, LOST):  # completed: reused below; lost: never created, sent below
                rows[job.index] = _row(job, status=outcome.status, error=outcome.error,
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
            _failed_row(ledger, job, result, t0)
    return sweep_frame([r for r in rows if r is not None])


def _failed_row(ledger: Ledger, job: PlannedJob, exc: WaveSpeedError, t0: float) -> dict[str, Any]:
    status, request_id, inference_ms = ERROR, exc.task_id, None
    job_id = getattr(exc, "job_id", None)
    if job_id is not None:
        rec = ledger.get(job_id)
        status, inference_ms, request_id = rec.status, rec.inference_ms, rec.request_id or request_id
    return _row(job, status=status, error=str(exc), request_id=request_id, inference_ms=inference_ms,
                job_id=job_id, t0=t0)


def _row(job: PlannedJob, *, status: str, error: str, t0: float, request_id: str | None = None,
         inference_ms: int | None = None, job_id: int | None = None) -> dict[str, Any]:
    row = {"seed": job.seed, "model": job.model}
    row.update({name: job.params.get(name) for name in PARAM_COLUMNS})
    row.update(request_id=request_id, status=status, cost=0.0 if status in UNCHARGED else job.cost,
               inference_ms=inference_ms, wall_s=round(time.monotonic() - t0, 3), output_path="", nsfw=False,
               error=error, reused=False, job_id=job_id)
    return row


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


__all__ = ["seed_sweep", "grid_sweep", "estimate_sweep", "sweep_cost", "seed_list", "SweepEstimate", "PlannedJob",
           "SweepHooks", "model_list", "model_label", "fields_for", "Models",
           "rerender", "sweep_row", "sweep_frame", "SWEEP_COLUMNS", "PARAM_COLUMNS", "DEFAULT_CONCURRENCY"]
