"""What a request costs. Pure: no I/O.

The seed's pricing table is exactly linear in seconds: a per-second rate by resolution with audio on, half that with
audio off. Prices the contract does not confirm are returned with ``confirmed=False`` and must be shown as estimates.

>>> estimate_cost(SPICY, {"resolution": "480p", "duration": 4, "generate_audio": False})
0.048
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .contract import FAST, MODELS, RESOLUTIONS, SPICY, STANDARD, V1_PRO_FAST, VideoRequest, get_model, with_defaults

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


EXACT, ESTIMATE, FLOOR = "exact", "estimate", "floor"
_WORST = (EXACT, ESTIMATE, FLOOR)


@dataclass(frozen=True)
class Quote:
    """The cost of one request, and how sure the figure is: ``kind`` "exact" (the vendor's price for these inputs,
    or its confirmed table), "estimate" (our table where the vendor does not confirm it) or "floor" (the catalogue's
    ``base_price``: the least the model costs). ``list_usd`` is the price before a discount, when it differs. The one
    place a price's label is built: every page, table and command shows :meth:`label` or :meth:`short`.

    >>> Quote(0.25, True, "the API's price", list_usd=0.3).label(), Quote(0.1, False).short(), Quote.floor(0.6).label()
    ('$0.25 (list $0.30)', '~$0.10', 'from $0.60')
    """

    usd: float
    confirmed: bool
    source: str = "pricing table"
    kind: str = ""
    list_usd: float | None = None

    def __post_init__(self) -> None:
        if not self.kind:
            object.__setattr__(self, "kind", EXACT if self.confirmed else ESTIMATE)
        object.__setattr__(self, "confirmed", self.kind == EXACT)

    @classmethod
    def floor(cls, usd: float, source: str = "the catalogue's base price") -> Quote:
        return cls(usd, False, source, FLOOR)

    def short(self) -> str:
        """The figure with its mark: "$0.26", "~$0.26" (an estimate) or "from $0.60" (a floor)."""
        text = format_usd(self.usd)
        return {EXACT: text, ESTIMATE: f"~{text}", FLOOR: f"from {text}"}[self.kind]

    def label(self) -> str:
        """:meth:`short`, with "(estimate)" or the list price when a discount applies."""
        if self.kind == ESTIMATE:
            return f"{self.short()} (estimate)"
        if self.kind == EXACT and self.list_usd is not None and abs(self.list_usd - self.usd) > 1e-9:
            return f"{self.short()} (list {format_usd(self.list_usd)})"
        return self.short()

    def times(self, n: int | float) -> Quote:
        """The cost of ``n`` such requests, as sure as this one."""
        list_usd = None if self.list_usd is None else round(self.list_usd * n, 6)
        return Quote(round(self.usd * n, 6), self.confirmed, self.source, self.kind, list_usd)


def total(quotes: Iterable[Quote]) -> Quote:
    """The sum of several quotes, as sure as the least sure of them (an empty sum is an exact $0)."""
    quotes = list(quotes)
    if not quotes:
        return Quote(0.0, True, "nothing to pay")
    kind = max((q.kind for q in quotes), key=_WORST.index)
    lists = [q.list_usd if q.list_usd is not None else q.usd for q in quotes]
    usd = round(sum(q.usd for q in quotes), 6)
    list_usd = round(sum(lists), 6) if any(q.list_usd is not None for q in quotes) else None
    return Quote(usd, kind == EXACT, "sum", kind, list_usd)


def format_usd(usd: float) -> str:
    """Dollars with as many decimals as the figure needs, at least two: $0.26, $0.048."""
    text = f"{usd:.4f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"${whole}.{frac.ljust(2, '0')}"


def quote(model_id: str, params: dict[str, Any]) -> Quote:
    """The cost of one request with ``params`` (omitted fields take the model's defaults), without asking anybody:
    the pricing table for the known models; the catalogue's ``base_price`` as a floor for the others."""
    spec = get_model(model_id)
    if model_id not in MODELS:  # a catalogue's model: only its floor is known offline
        if spec.base_price is not None:
            return Quote.floor(spec.base_price)
        return Quote(0.0, False, "no price known: the API did not answer and the catalogue gives none")
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
