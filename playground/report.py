"""What sweeps are worth: tables, measurements and plots for the notebooks (pandas and matplotlib, loaded on use).

>>> df = seed_sweep("cat.png", "slow zoom in", seeds=8, resolution="480p", duration=4)   # doctest: +SKIP
>>> rank_clips(df).head(3)                                                              # doctest: +SKIP
>>> plot_measurements(measure_resolutions("cat.png", duration=4))                      # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .contract import MODELS, RESOLUTIONS, SPICY, get_model
from .pipeline import Result
from .pricing import price_table, quote
from .status import COMPLETED
from .sweep import FIRST_SEED, SWEEP_COLUMNS, grid_sweep, model_list, sweep_frame, sweep_row


def rank_clips(results: Any, score: Callable[[str], float] | None = None):
    """The completed clips of a sweep, best first, with a ``score`` column (default: motion energy).

    ``results`` is a sweep DataFrame or a list of pipeline Results. Ties keep the sweep's order.
    """
    import pandas as pd

    from .media import motion_energy

    frame = results if isinstance(results, pd.DataFrame) else results_frame(results)
    done = frame[(frame["status"] == COMPLETED) & frame["output_path"].fillna("").astype(str).ne("")].copy()
    scorer = score or motion_energy
    done["score"] = [float(scorer(str(p))) for p in done["output_path"]]
    return done.sort_values("score", ascending=False, kind="stable")


def results_frame(results: Iterable[Result]):
    """Pipeline Results as a sweep-shaped DataFrame."""
    import pandas as pd

    rows = [sweep_row(r) for r in results]
    return sweep_frame(rows) if rows else pd.DataFrame(columns=list(SWEEP_COLUMNS))


CHAIN_COLUMNS = ("job", "extends", "model", "duration", "seed", "estimate", "charged", "video_path")


def chain_frame(jobs: Iterable[Any]):
    """A chain of clips (a draft and its extensions, see :func:`playground.pipeline.chain`) as a DataFrame: each
    clip's estimate beside what the API's billing says it charged (net of refunds; empty until read)."""
    import pandas as pd

    rows = [{"job": j.id, "extends": j.extends, "model": j.model, "duration": j.duration, "seed": j.seed,
             "estimate": j.cost, "charged": j.net_charge, "video_path": j.video_path} for j in jobs]
    return pd.DataFrame(rows, columns=list(CHAIN_COLUMNS))


MEASURE_COLUMNS = ("model", "resolution", "width", "height", "megapixels", "duration", "cost", "charged",
                   "usd_per_second", "usd_per_megapixel_second", "inference_s", "wall_s", "file_mb", "mbit_per_s",
                   "status", "request_id", "output_path")


def measure_resolutions(image: Any, prompt: str | None = None, resolutions: Sequence[str] = RESOLUTIONS, *,
                        duration: int = 4, generate_audio: bool | None = True, seed: int = FIRST_SEED,
                        **kw: Any):
    """Render one clip per resolution and measure it: size, inference time, file size and cost per megapixel-second.

    ``kw`` goes to :func:`grid_sweep` (client, ledger, max_cost, concurrency, out_dir, aspect_ratio, ...). Rows of
    jobs that did not complete keep their status, with empty measurements.
    """
    from .media import probe

    kw.setdefault("progress", False)
    if generate_audio is not None:
        kw["generate_audio"] = generate_audio
    frame = grid_sweep(image, {"resolution": list(resolutions)}, prompt, [seed], duration=duration, **kw)
    rows = []
    for rec in frame.to_dict("records"):
        row = {c: None for c in MEASURE_COLUMNS}
        row.update(model=rec["model"], resolution=rec["resolution"], duration=rec["duration"], cost=rec["cost"],
                   charged=rec["charged"], status=rec["status"], request_id=rec["request_id"],
                   output_path=rec["output_path"], wall_s=rec["wall_s"])
        if rec["status"] == COMPLETED and rec["output_path"]:
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


def measure_models(image: Any, prompt: str | None = None, models: Sequence[str] = (SPICY,),
                   resolutions: Sequence[str] = RESOLUTIONS, *, duration: int = 4, **kw: Any):
    """:func:`measure_resolutions` for each model, at the resolutions it offers among ``resolutions``; one frame.

    ``generate_audio`` applies to the models that have audio (None: each model's default).
    """
    import pandas as pd

    audio = kw.pop("generate_audio", None)
    frames = []
    for model in model_list(list(models)):
        spec = get_model(model)
        offered = [r for r in resolutions if r in spec.resolutions]
        if offered:
            frames.append(measure_resolutions(image, prompt, offered, duration=duration, model=model,
                                              generate_audio=audio if spec.has_audio else None, **kw))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(MEASURE_COLUMNS))


def model_price_table(models: Sequence[str] | None = None, *, duration: int = 5, audio: bool = True):
    """USD per clip, model x resolution, from the pricing module (empty where a model lacks the resolution; audio
    only where the model has it). The ``confirmed`` attribute lists the cells the pricing table confirms.

    >>> float(model_price_table([SPICY], duration=4).loc[SPICY, "480p"])
    0.096
    """
    import pandas as pd

    models = model_list(list(models) if models is not None else list(MODELS))
    rows, confirmed = {}, []
    for model in models:
        spec = get_model(model)
        row = {}
        for resolution in RESOLUTIONS:
            if resolution in spec.resolutions:
                q = quote(model, {"resolution": resolution, "duration": duration, "generate_audio": audio})
                row[resolution] = q.usd
                if q.confirmed:
                    confirmed.append((model, resolution))
        rows[model] = row
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(RESOLUTIONS))
    table.index.name = "model"
    table.attrs["confirmed"] = confirmed
    return table


def plot_price(model: str = SPICY):
    """A matplotlib Figure: cost of a clip against duration, one line per resolution, audio on and off. Equal or
    nearly equal prices (480p with audio and 720p without; 720p with audio and 1080p without) would hide each other,
    so each resolution has its own marker (hollow without audio) and each series is nudged a little sideways."""
    import matplotlib.pyplot as plt

    table = price_table(model)
    fig, ax = plt.subplots(figsize=(7, 4))
    markers = dict(zip(RESOLUTIONS, ("o", "s", "^"), strict=True))
    series = [(r, audio, style) for r in RESOLUTIONS for audio, style in ((True, "-"), (False, "--"))]
    for k, (resolution, audio, style) in enumerate(series):
        part = table[(table["resolution"] == resolution) & (table["audio"] == audio)]
        if part.empty:
            continue
        nudge = (k - (len(series) - 1) / 2) * 0.08
        ax.plot(part["duration_s"] + nudge, part["cost_usd"], style, marker=markers[resolution], markersize=5,
                fillstyle="full" if audio else "none", label=f"{resolution}, audio {'on' if audio else 'off'}")
    ax.set_xlabel("duration (s; series nudged apart so equal prices stay visible)")
    ax.set_ylabel("cost per clip (USD)")
    ax.set_title(f"{get_model(model).title}: price by resolution and duration")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_measurements(measured):
    """A matplotlib Figure of :func:`measure_resolutions`: inference time, file size, cost and cost per MP-s."""
    import matplotlib.pyplot as plt

    done = measured[measured["status"] == COMPLETED]
    panels = (("inference_s", "inference (s)"), ("file_mb", "file size (MB)"), ("cost", "cost (USD)"),
              ("usd_per_megapixel_second", "USD per megapixel-second"))
    fig, axes = plt.subplots(1, len(panels), figsize=(13, 3.2))
    for ax, (column, title) in zip(axes, panels, strict=True):
        ax.bar(done["resolution"].astype(str), done[column].astype(float), color="#4c72b0")
        ax.set_title(title, fontsize=10)
        ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


__all__ = ["rank_clips", "results_frame", "measure_resolutions", "measure_models", "model_price_table", "plot_price",
           "plot_measurements",
           "MEASURE_COLUMNS"]
