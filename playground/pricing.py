"""What a request costs. Pure: no I/O.

The seed's pricing table is exactly linear in seconds: a per-second rate by resolution with audio on, half that with
audio off. Prices the contract does not confirm are returned with ``confirmed=False`` and must be shown as estimates.

>>> estimate_cost(SPICY, {"resolution": "480p", "duration": 4, "generate_audio": False})
0.048
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .contract import FAST, RESOLUTIONS, SPICY, STANDARD, V1_PRO_FAST, VideoRequest, get_model, with_defaults

# USD per second of video with audio on (V, the seed's table).
PER_SECOND_AUDIO_ON: dict[str, float] = {"480p": 0.024, "720p": 0.052, "1080p": 0.104}
AUDIO_OFF_FACTOR = 0.5

# Which (model, resolution) prices the contract confirms; everything else is an estimate at the spicy rates.
_CONFIRMED: dict[str, tuple[str, ...]] = {
    SPICY: RESOLUTIONS,
    STANDARD: ("480p", "720p"),
    FAST: (),
    V1_PRO_FAST: (),
}


@dataclass(frozen=True)
class Quote:
    """The cost of one request, and whether the figure is the vendor's or our estimate."""

    usd: float
    confirmed: bool
    source: str = "pricing table"

    def label(self) -> str:
        text = format_usd(self.usd)
        return text if self.confirmed else f"~{text} (estimate)"


def format_usd(usd: float) -> str:
    """Dollars with as many decimals as the figure needs, at least two: $0.26, $0.048."""
    text = f"{usd:.4f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"${whole}.{frac.ljust(2, '0')}"


def quote(model_id: str, params: dict[str, Any]) -> Quote:
    """The cost of one request with ``params`` (omitted fields take the model's defaults)."""
    spec = get_model(model_id)
    full = with_defaults(model_id, params)
    resolution = full["resolution"]
    duration = int(full["duration"])
    audio = bool(full.get("generate_audio", False)) and spec.has_audio
    rate = PER_SECOND_AUDIO_ON[resolution] * (1.0 if audio else AUDIO_OFF_FACTOR)
    usd = round(rate * duration, 6)
    confirmed = resolution in _CONFIRMED.get(model_id, ())
    return Quote(usd, confirmed, "pricing table" if confirmed else "estimate at the spicy rates")


def price_of(request: VideoRequest) -> Quote:
    """What a built request costs: :func:`quote` of its model and fields."""
    return quote(request.model, dict(request.fields))


def estimate_cost(model_id: str, params: dict[str, Any]) -> float:
    """USD for one request with ``params``; see :func:`quote` for whether it is confirmed."""
    return quote(model_id, params).usd


def price_table(model_id: str = SPICY, durations: tuple[int, ...] | None = None):
    """A pandas DataFrame: one row per resolution x duration x audio, with per-second cost and clips per $10."""
    import pandas as pd

    spec = get_model(model_id)
    dur = spec.param("duration")
    durations = durations or tuple(range(dur.minimum or 4, (dur.maximum or 12) + 1))
    rows = []
    for resolution in spec.resolutions:
        for duration in durations:
            for audio in ((True, False) if spec.has_audio else (False,)):
                q = quote(model_id, {"resolution": resolution, "duration": duration, "generate_audio": audio})
                rows.append({
                    "resolution": resolution,
                    "duration_s": duration,
                    "audio": audio,
                    "cost_usd": q.usd,
                    "usd_per_second": round(q.usd / duration, 6),
                    "clips_per_10_usd": math.floor(10 / q.usd + 1e-9),
                    "confirmed": q.confirmed,
                })
    return pd.DataFrame(rows)


def price_pivot(model: str = SPICY, *, audio: bool = True, value: str = "cost_usd"):
    """The price table as resolution x duration (USD per clip by default; ``value="usd_per_second"`` also works)."""
    table = price_table(model)
    table = table[table["audio"] == audio]
    pivot = table.pivot(index="resolution", columns="duration_s", values=value)
    return pivot.reindex([r for r in RESOLUTIONS if r in pivot.index])
