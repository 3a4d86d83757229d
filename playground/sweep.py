"""Seed and parameter sweeps, their cost before paying, and measurements for the notebooks.

>>> estimate_sweep("cat.png", "slow zoom in", seeds=8, resolution="480p", duration=4)   # doctest: +SKIP
8 jobs (480p, 4 s, audio on): $0.768 estimated, $0.096 each; $0.768 to pay now
>>> df = seed_sweep("cat.png", "slow zoom in", seeds=8, resolution="480p", duration=4, max_cost=1.0)  # doctest: +SKIP
>>> best = rank_clips(df).iloc[0]                                                       # doctest: +SKIP
>>> final = rerender(best, "cat.png", resolution="1080p")                               # doctest: +SKIP

Every job goes through :func:`playground.pipeline.generate` with an explicit seed, so the ledger makes a sweep
idempotent: re-running it pays nothing twice, and a sweep that crashed resumes the tasks it left at the API instead
of submitting them again. The whole sweep is priced and checked against ``max_cost`` before anything is sent.
"""

from __future__ import annotations

import itertools
import logging
import random
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .client import Client
from .contract import RESOLUTIONS, SEED_MAX, SPICY, get_model, validate, with_defaults
from .errors import CapExceeded, RateLimited, ValidationError, WaveSpeedError
from .jobs import REJECTED, Ledger
from .pipeline import Media, ProgressEvent, Result, ensure_uploaded, generate, read_media, request_fingerprint, resume
from .pricing import format_usd, price_table, quote

log = logging.getLogger(__name__)

# Bronze, the level every account starts at, runs 2 tasks at once (V); more would only queue at the API.
DEFAULT_CONCURRENCY = 2
FIRST_SEED = 1
# A 429 on a submit means the POST was refused and nothing was created, so only then is the submit sent again.
RATE_LIMIT_RETRIES = 8
RATE_LIMIT_MAX_DELAY = 30.0

# The model fields a sweep row shows besides the seed (image URLs are not parameters of the picture).
PARAM_COLUMNS = ("prompt", "resolution", "duration", "aspect_ratio", "camera_fixed", "generate_audio")
RESULT_COLUMNS = ("request_id", "status", "cost", "inference_ms", "wall_s", "output_path", "nsfw", "error",
                  "reused", "job_id")
SWEEP_COLUMNS = ("seed", *PARAM_COLUMNS, *RESULT_COLUMNS)
# Statuses that are refunded or never charged: such rows cost nothing.
_UNCHARGED = frozenset({"failed", "cancelled", "timeout", "deleted", "rejected", "lost", "error"})


# ---- planning and cost ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedJob:
    """One request of a sweep: its fields, its price, and what the ledger already knows of it.

    ``state`` is ``"new"`` (will be paid), ``"done"`` (a completed identical request is in the ledger and will be
    reused) or ``"unfinished"`` (an identical request was sent earlier and is still being collected).
    """

    index: int
    seed: int
    params: dict
    cost: float
    fingerprint: str = ""
    state: str = "new"
    job_id: int | None = None


@dataclass(frozen=True)
class SweepEstimate:
    """The price of a planned sweep, before anything is sent. ``str()`` gives the one line notebooks show."""

    model: str
    jobs: tuple[PlannedJob, ...]
    confirmed: bool = True
    varied: tuple[str, ...] = ()

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


def sweep_cost(n_or_seeds: int | Iterable[int] = 8, *, model: str = SPICY, grid: dict[str, Sequence] | None = None,
               **params: Any) -> float:
    """USD for a sweep of ``n_or_seeds`` seeds (times every combination of ``grid``) with ``params``. Pure.

    >>> sweep_cost(8, resolution="480p", duration=4, generate_audio=True)
    0.768
    """
    seeds = seed_list(n_or_seeds)
    combos = _combinations(grid or {})
    return round(sum(quote(model, {**params, **combo}).usd for combo in combos) * len(seeds), 6)


def estimate_sweep(image: Any, prompt: str | None = None, seeds: int | Iterable[int] = 8, *,
                   grid: dict[str, Sequence] | None = None, model: str = SPICY, last_image: Any = None,
                   client: Client | None = None, ledger: Ledger | None = None, **params: Any) -> SweepEstimate:
    """Plan a sweep and price it, without sending anything: one :class:`PlannedJob` per seed and combination.

    Jobs an identical earlier request already paid for (same backend, model, fields and image content) are marked
    so; they cost nothing again. Raises ValidationError naming the field before any request when a value is bad.
    """
    client = client or _default_client()
    ledger = ledger or Ledger()
    return _plan(image, prompt, seeds, grid or {}, model, last_image, client, ledger, params)[0]


def price_pivot(model: str = SPICY, *, audio: bool = True, value: str = "cost_usd"):
    """The price table as resolution x duration (USD per clip by default; ``value="usd_per_second"`` also works)."""
    table = price_table(model)
    table = table[table["audio"] == audio]
    pivot = table.pivot(index="resolution", columns="duration_s", values=value)
    return pivot.reindex([r for r in RESOLUTIONS if r in pivot.index])


# ---- running -------------------------------------------------------------------------------------------------


def seed_sweep(image: Any, prompt: str | None = None, seeds: int | Iterable[int] = 8, *, model: str = SPICY,
               concurrency: int | None = None, max_cost: float | None = None, client: Client | None = None,
               ledger: Ledger | None = None, out_dir: str | Path | None = None, last_image: Any = None,
               progress: bool = True, verbose: bool = True, **params: Any):
    """Render ``image`` once per seed and return a pandas DataFrame, one row per seed (see SWEEP_COLUMNS).

    ``seeds`` is a count (seeds 1..n) or a list. ``params`` are the model's fields (resolution, duration,
    generate_audio, camera_fixed, aspect_ratio). At most ``concurrency`` tasks are at the API at once (default 2,
    the Bronze level). With ``max_cost`` the sweep is refused (CapExceeded) before anything is sent when what it
    would pay exceeds it. A failed job is a row with its status and error, never an exception.

    >>> df = seed_sweep("cat.png", "slow zoom in", seeds=[3, 7], resolution="480p", duration=4)   # doctest: +SKIP
    >>> df[["seed", "status", "cost", "output_path"]]                                          # doctest: +SKIP
    """
    return grid_sweep(image, {}, prompt, seeds, model=model, concurrency=concurrency, max_cost=max_cost,
                      client=client, ledger=ledger, out_dir=out_dir, last_image=last_image, progress=progress,
                      verbose=verbose, **params)


def grid_sweep(image: Any, grid: dict[str, Sequence], prompt: str | None = None,
               seeds: int | Iterable[int] = 1, *, model: str = SPICY, concurrency: int | None = None,
               max_cost: float | None = None, client: Client | None = None, ledger: Ledger | None = None,
               out_dir: str | Path | None = None, last_image: Any = None, progress: bool = True,
               verbose: bool = True, **params: Any):
    """Like :func:`seed_sweep`, over every combination of ``grid`` (field -> values) times every seed.

    >>> grid_sweep("cat.png", {"resolution": ["480p", "720p"], "camera_fixed": [False, True]})  # doctest: +SKIP
    """
    workers = DEFAULT_CONCURRENCY if concurrency is None else int(concurrency)
    if workers < 1:
        raise ValidationError(f"concurrency: {concurrency} is not allowed; use 1 or more tasks at once")
    client = client or _default_client()
    ledger = ledger or Ledger()
    estimate, media = _plan(image, prompt, seeds, grid, model, last_image, client, ledger, params)
    _say(estimate.message(), verbose)
    if max_cost is not None and estimate.to_pay > max_cost + 1e-9:
        raise CapExceeded(
            f"max_cost {format_usd(max_cost)} is below the estimate {format_usd(estimate.to_pay)} for "
            f"{estimate.n_new} new jobs ({estimate.n_jobs} in the sweep); nothing was submitted. Raise max_cost, "
            "or use fewer seeds, a lower resolution, a shorter duration or audio off.")
    if estimate.n_new:
        # Upload once before the workers start, so they all find the image in the ledger's upload cache.
        for prep in media.uploads:
            ensure_uploaded(client, ledger, prep)
    runner = _SweepRunner(estimate, media.sources, client, ledger, workers, out_dir, progress)
    frame = runner.run()
    frame.attrs["estimate"] = estimate.message()
    frame.attrs["varied"] = list(estimate.varied)
    return frame


def rerender(row: Any, image: Any, *, client: Client | None = None, ledger: Ledger | None = None,
             model: str = SPICY, out_dir: str | Path | None = None, last_image: Any = None,
             max_cost: float | None = None, **overrides: Any) -> Result:
    """Render a sweep row again with the same seed and fields, changed by ``overrides`` (e.g. resolution="1080p").

    ``row`` is a sweep DataFrame row (a pandas Series or dict) or a pipeline Result. Goes through the ledger like
    any generate call, so rendering the same winner twice pays once.
    """
    params = _row_params(row)
    params.update({k: v for k, v in overrides.items()})
    cost = quote(model, params).usd
    if max_cost is not None and cost > max_cost + 1e-9:
        raise CapExceeded(f"max_cost {format_usd(max_cost)} is below the estimate {format_usd(cost)} for 1 job; "
                          "nothing was submitted.")
    prompt = params.pop("prompt", None)
    return generate(image, prompt, last_image=last_image, model=model, client=client or _default_client(),
                    ledger=ledger, out_dir=out_dir, reuse=True, **params)


def rank_clips(results: Any, score: Callable[[str], float] | None = None):
    """The completed clips of a sweep, best first, with a ``score`` column (default: motion energy).

    ``results`` is a sweep DataFrame or a list of pipeline Results. Ties keep the sweep's order.
    """
    import pandas as pd

    from .media import motion_energy

    frame = results if isinstance(results, pd.DataFrame) else results_frame(results)
    done = frame[(frame["status"] == "completed") & frame["output_path"].fillna("").astype(str).ne("")].copy()
    scorer = score or motion_energy
    done["score"] = [float(scorer(str(p))) for p in done["output_path"]]
    return done.sort_values("score", ascending=False, kind="stable")


def results_frame(results: Iterable[Result]):
    """Pipeline Results as a sweep-shaped DataFrame."""
    import pandas as pd

    rows = [_row_from_result(r, r.cost) for r in results]
    return _frame(rows) if rows else pd.DataFrame(columns=list(SWEEP_COLUMNS))


# ---- measurements --------------------------------------------------------------------------------------------


MEASURE_COLUMNS = ("resolution", "width", "height", "megapixels", "duration", "cost", "usd_per_second",
                   "usd_per_megapixel_second", "inference_s", "wall_s", "file_mb", "mbit_per_s", "status",
                   "request_id", "output_path")


def measure_resolutions(image: Any, prompt: str | None = None, resolutions: Sequence[str] = RESOLUTIONS, *,
                        duration: int = 4, generate_audio: bool = True, seed: int = FIRST_SEED,
                        **kw: Any):
    """Render one clip per resolution and measure it: size, inference time, file size and cost per megapixel-second.

    ``kw`` goes to :func:`grid_sweep` (client, ledger, max_cost, concurrency, out_dir, aspect_ratio, ...). Rows of
    jobs that did not complete keep their status, with empty measurements.
    """
    from .media import probe

    kw.setdefault("progress", False)
    frame = grid_sweep(image, {"resolution": list(resolutions)}, prompt, [seed], duration=duration,
                       generate_audio=generate_audio, **kw)
    rows = []
    for rec in frame.to_dict("records"):
        row = {c: None for c in MEASURE_COLUMNS}
        row.update(resolution=rec["resolution"], duration=rec["duration"], cost=rec["cost"], status=rec["status"],
                   request_id=rec["request_id"], output_path=rec["output_path"], wall_s=rec["wall_s"])
        if rec["status"] == "completed" and rec["output_path"]:
            info = probe(rec["output_path"])
            megapixels = info.width * info.height / 1e6
            seconds = info.frames / info.fps if info.fps else float(rec["duration"])
            row.update(width=info.width, height=info.height, megapixels=round(megapixels, 4),
                       usd_per_second=round(rec["cost"] / rec["duration"], 6),
                       usd_per_megapixel_second=round(rec["cost"] / (megapixels * rec["duration"]), 6),
                       inference_s=None if rec["inference_ms"] is None else rec["inference_ms"] / 1000.0,
                       file_mb=round(info.size_bytes / 1e6, 4),
                       mbit_per_s=round(info.size_bytes * 8 / 1e6 / seconds, 4) if seconds else None)
        rows.append(row)
    import pandas as pd

    return pd.DataFrame(rows, columns=list(MEASURE_COLUMNS))


def plot_price(model: str = SPICY):
    """A matplotlib Figure: cost of a clip against duration, one line per resolution, audio on and off."""
    import matplotlib.pyplot as plt

    table = price_table(model)
    fig, ax = plt.subplots(figsize=(7, 4))
    for resolution in RESOLUTIONS:
        for audio, style in ((True, "-"), (False, "--")):
            part = table[(table["resolution"] == resolution) & (table["audio"] == audio)]
            if not part.empty:
                ax.plot(part["duration_s"], part["cost_usd"], style, marker="o", markersize=3,
                        label=f"{resolution}, audio {'on' if audio else 'off'}")
    ax.set_xlabel("duration (s)")
    ax.set_ylabel("cost per clip (USD)")
    ax.set_title(f"{get_model(model).title}: price by resolution and duration")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_measurements(measured):
    """A matplotlib Figure of :func:`measure_resolutions`: inference time, file size, cost and cost per MP-s."""
    import matplotlib.pyplot as plt

    done = measured[measured["status"] == "completed"]
    panels = (("inference_s", "inference (s)"), ("file_mb", "file size (MB)"), ("cost", "cost (USD)"),
              ("usd_per_megapixel_second", "USD per megapixel-second"))
    fig, axes = plt.subplots(1, len(panels), figsize=(13, 3.2))
    for ax, (column, title) in zip(axes, panels, strict=True):
        ax.bar(done["resolution"].astype(str), done[column].astype(float), color="#4c72b0")
        ax.set_title(title, fontsize=10)
        ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def demo_image(path: str | Path, size: tuple[int, int] = (1280, 720)) -> Path:
    """Write a procedural demo picture (sky, sun, hills, a house) to ``path`` and return the path.

    It is the same on every machine, so a notebook run without an image of its own reuses its earlier videos.
    """
    from PIL import Image, ImageDraw

    w, h = size
    img = Image.new("RGB", size)
    draw = ImageDraw.Draw(img)
    horizon = int(h * 0.62)
    for y in range(horizon):  # sky: a vertical gradient
        t = y / max(1, horizon - 1)
        draw.line([(0, y), (w, y)], fill=(int(60 + 120 * t), int(120 + 90 * t), int(220 - 40 * t)))
    r = h // 9
    draw.ellipse((int(w * 0.72) - r, int(h * 0.2) - r, int(w * 0.72) + r, int(h * 0.2) + r), fill=(255, 214, 90))
    for cx, height, colour in ((0.15, 0.22, (70, 140, 80)), (0.55, 0.3, (50, 120, 70)), (0.95, 0.2, (80, 150, 90))):
        peak = (int(w * cx), horizon - int(h * height))
        draw.polygon([(int(w * (cx - 0.45)), horizon + 2), peak, (int(w * (cx + 0.45)), horizon + 2)], fill=colour)
    draw.rectangle((0, horizon, w, h), fill=(96, 160, 70))
    for x in range(0, w, max(8, w // 40)):  # grass stripes give the camera something to move against
        draw.line([(x, horizon), (x + w // 60, h)], fill=(80, 140, 60), width=3)
    hx, hy, hw = int(w * 0.3), int(h * 0.5), int(w * 0.14)
    draw.rectangle((hx, hy, hx + hw, hy + int(hw * 0.7)), fill=(200, 80, 60))
    draw.polygon([(hx - hw // 10, hy), (hx + hw // 2, hy - int(hw * 0.45)), (hx + hw + hw // 10, hy)],
                 fill=(90, 50, 40))
    draw.rectangle((hx + int(hw * 0.4), hy + int(hw * 0.35), hx + int(hw * 0.6), hy + int(hw * 0.7)),
                   fill=(60, 40, 30))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out)
    return out


# ---- internals -----------------------------------------------------------------------------------------------


def _default_client() -> Client:
    from .backend import connect

    return connect()


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


def _plan(image: Any, prompt: str | None, seeds: int | Iterable[int], grid: dict[str, Sequence], model: str,
          last_image: Any, client: Client, ledger: Ledger,
          params: dict[str, Any]) -> tuple[SweepEstimate, Media]:
    """The jobs of a sweep, priced, with the ledger's knowledge of each; and its images."""
    grid = dict(grid)
    if "seed" in grid:
        if seeds not in (1, None):
            raise ValidationError("grid: give the seeds either as seeds=... or as a grid entry, not both")
        seeds = grid.pop("seed")
    if "seed" in params:
        raise ValidationError("seed: a sweep takes its seeds from seeds=...; pass seeds=[...] instead")
    spec = get_model(model)
    for name in grid:
        if name not in spec.names or name in ("image", "last_image"):
            raise ValidationError(f"grid: {name} is not a field to vary; choose from "
                                  f"{', '.join(n for n in spec.names if n not in ('image', 'last_image', 'seed'))}")
    seed_values = seed_list(seeds if seeds is not None else 1)
    combos = _combinations(grid)
    media = read_media(image, last_image, client=client)

    base = {k: v for k, v in params.items() if v is not None}
    if prompt is not None and str(prompt).strip():
        base["prompt"] = str(prompt)
    placeholders = {name: f"https://placeholder.invalid/{name}.png" for name in media.hashes}
    jobs: list[PlannedJob] = []
    problems: list[str] = []
    confirmed = True
    for combo in combos:
        for seed in seed_values:
            fields_ = {**base, **{k: v for k, v in combo.items() if v is not None}, "seed": seed}
            for p in validate(model, {**fields_, **placeholders}):
                if p not in problems:
                    problems.append(p)
            if problems:
                continue
            # The same identity generate() gives the request, so the ledger's rows can be matched before sending.
            full = with_defaults(model, fields_)
            q = quote(model, full)
            confirmed = confirmed and q.confirmed
            fp = request_fingerprint(client, model, full, media)
            jobs.append(PlannedJob(len(jobs), seed, full, q.usd, fp))
    if problems:
        raise ValidationError(problems)

    known = _ledger_states(ledger, client.backend_id, {j.fingerprint for j in jobs})
    jobs = [j if j.fingerprint not in known else _with_state(j, *known[j.fingerprint]) for j in jobs]
    varied = tuple(name for name in grid if len({repr(c.get(name)) for c in combos}) > 1)
    return SweepEstimate(model, tuple(jobs), confirmed, varied), media


def _with_state(job: PlannedJob, state: str, job_id: int) -> PlannedJob:
    return PlannedJob(job.index, job.seed, job.params, job.cost, job.fingerprint, state, job_id)


def _ledger_states(ledger: Ledger, backend_id: str, fps: set[str]) -> dict[str, tuple[str, int]]:
    """For each fingerprint the ledger holds: ("done", job) when reusable, else ("unfinished", job) when pending."""
    states: dict[str, tuple[str, int]] = {}
    for fp in fps:
        job = ledger.find_reusable(fp)
        if job is not None:
            states[fp] = ("done", job.id)
    for job in ledger.unfinished(base_url=backend_id):
        if job.fingerprint in fps and job.fingerprint not in states and job.status != "completed":
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


def _row_from_result(result: Result, cost: float) -> dict[str, Any]:
    row = {"seed": int(result.seed)}
    row.update({name: result.params.get(name) for name in PARAM_COLUMNS})
    row.update(request_id=result.request_id, status="completed", cost=cost, inference_ms=result.inference_ms,
               wall_s=round(result.wall_s, 3), output_path=str(result.video_path), nsfw=bool(result.nsfw), error="",
               reused=bool(result.reused), job_id=result.job_id)
    return row


def _frame(rows: list[dict[str, Any]]):
    import pandas as pd

    frame = pd.DataFrame(rows, columns=list(SWEEP_COLUMNS))
    frame["inference_ms"] = frame["inference_ms"].astype("Int64")
    frame["job_id"] = frame["job_id"].astype("Int64")
    frame["cost"] = frame["cost"].astype(float)
    frame["nsfw"] = frame["nsfw"].astype(bool)
    frame["reused"] = frame["reused"].astype(bool)
    return frame


class _SweepRunner:
    """Runs the planned jobs on ``workers`` threads, one task at the API per thread, and collects one row each."""

    def __init__(self, estimate: SweepEstimate, sources: dict[str, Any], client: Client, ledger: Ledger,
                 workers: int, out_dir: str | Path | None, progress: bool):
        self.estimate, self.sources, self.client, self.ledger = estimate, sources, client, ledger
        self.workers = workers
        self.out_dir = out_dir
        self.cancel = threading.Event()
        self.bar = _Progress(estimate.n_jobs, enabled=progress)

    def run(self):
        rows: list[dict[str, Any] | None] = [None] * self.estimate.n_jobs
        pool = ThreadPoolExecutor(max_workers=min(self.workers, max(1, self.estimate.n_jobs)),
                                  thread_name_prefix="sweep")
        pending = {pool.submit(self._run_job, job): job for job in self.estimate.jobs}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    job = pending.pop(fut)
                    rows[job.index] = fut.result()
                    self.bar.advance(rows[job.index])
        except BaseException:
            # Interrupted (e.g. a notebook's stop button): send nothing more and stop waiting. Tasks already at the
            # API stay in the ledger; running the same sweep again collects them.
            self.cancel.set()
            pool.shutdown(wait=False, cancel_futures=True)
            self.bar.close()
            raise
        pool.shutdown(wait=True)
        self.bar.close()
        return _frame([r for r in rows if r is not None])

    def _run_job(self, job: PlannedJob) -> dict[str, Any]:
        t0 = time.monotonic()
        if self.cancel.is_set():
            return self._row(job, status="error", error="the sweep was stopped before this job was sent", t0=t0)
        if job.state == "unfinished" and job.job_id is not None:
            row = self._collect(job, t0)
            if row is not None:
                return row
        params = dict(job.params)
        prompt = params.pop("prompt", None)
        image, last_image = self.sources["image"], self.sources.get("last_image")
        for attempt in range(RATE_LIMIT_RETRIES + 1):
            seen: dict[str, Any] = {}

            def remember(event: ProgressEvent, seen: dict[str, Any] = seen) -> None:
                if event.job_id is not None:
                    seen["job_id"] = event.job_id
                if event.request_id:
                    seen["request_id"] = event.request_id

            try:
                result = generate(image, prompt, last_image=last_image, model=self.estimate.model,
                                  client=self.client, ledger=self.ledger, on_progress=remember, reuse=True,
                                  cancel=self.cancel, out_dir=self.out_dir, probe_output=False, **params)
            except RateLimited as exc:
                refused = seen.get("job_id") is not None and self.ledger.get(seen["job_id"]).status == REJECTED
                if refused and attempt < RATE_LIMIT_RETRIES and not self.cancel.is_set():
                    pause = _rate_limit_delay(attempt, exc.retry_after)
                    log.info("seed %s: submit rate limited; trying again in %.1fs", job.seed, pause)
                    self.cancel.wait(pause)
                    continue
                return self._failed_row(job, exc, seen, t0)
            except WaveSpeedError as exc:
                return self._failed_row(job, exc, seen, t0)
            return _row_from_result(result, job.cost)
        raise AssertionError("unreachable")

    def _collect(self, job: PlannedJob, t0: float) -> dict[str, Any] | None:
        """Finish a task an earlier run left at the API; None when it completed (generate then reuses it)."""
        outcomes = resume(self.client, self.ledger, out_dir=self.out_dir, job_ids=[job.job_id])
        if not outcomes:
            return None
        outcome = outcomes[0]
        if outcome.status == "completed":
            return None
        if outcome.status == "lost":
            return None  # never created, nothing charged: send it now
        return self._row(job, status=outcome.status, error=outcome.error, request_id=outcome.request_id,
                         job_id=job.job_id, t0=t0)

    def _failed_row(self, job: PlannedJob, exc: WaveSpeedError, seen: dict[str, Any], t0: float) -> dict[str, Any]:
        status, request_id, inference_ms, job_id = "error", seen.get("request_id") or exc.task_id, None, None
        if seen.get("job_id") is not None:
            rec = self.ledger.get(seen["job_id"])
            status, inference_ms, job_id = rec.status, rec.inference_ms, rec.id
            request_id = rec.request_id or request_id
        log.warning("seed %s: %s", job.seed, exc)
        return self._row(job, status=status, error=str(exc), request_id=request_id, inference_ms=inference_ms,
                         job_id=job_id, t0=t0)

    def _row(self, job: PlannedJob, *, status: str, error: str, t0: float, request_id: str | None = None,
             inference_ms: int | None = None, job_id: int | None = None) -> dict[str, Any]:
        row = {"seed": job.seed}
        row.update({name: job.params.get(name) for name in PARAM_COLUMNS})
        row.update(request_id=request_id, status=status, cost=0.0 if status in _UNCHARGED else job.cost,
                   inference_ms=inference_ms, wall_s=round(time.monotonic() - t0, 3), output_path="", nsfw=False,
                   error=error, reused=False, job_id=job_id)
        return row


def _rate_limit_delay(attempt: int, retry_after: float | None) -> float:
    if retry_after is not None:
        return min(max(retry_after, 0.0), RATE_LIMIT_MAX_DELAY * 2)
    return min(RATE_LIMIT_MAX_DELAY, 0.5 * 2 ** attempt) * random.uniform(0.5, 1.0)


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
        if row["status"] != "completed":
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
           "price_pivot", "rerender", "rank_clips", "results_frame", "measure_resolutions", "plot_price",
           "plot_measurements", "demo_image", "SWEEP_COLUMNS", "PARAM_COLUMNS", "DEFAULT_CONCURRENCY"]
