"""What a clip is and how it is labelled on sheets and tiles: its seed and the fields that differ between clips."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from ..contract import MODELS
from ..status import COMPLETED

# The fields a clip's label may show besides its seed, in this order; only those that differ between clips are shown.
LABEL_FIELDS = ("model", "resolution", "duration", "aspect_ratio", "camera_fixed", "generate_audio", "prompt")
_LABEL_BG = (0, 0, 0)
_LABEL_FG = (255, 255, 255)


@dataclass(frozen=True)
class Clip:
    """A video to show, with what it is: its seed and the fields it was made with."""

    path: str
    seed: int | None = None
    params: dict | None = None

    def label(self, fields: tuple[str, ...] = ()) -> str:
        parts = [f"seed {self.seed}" if self.seed is not None else Path(self.path).name]
        params = self.params or {}
        for name in fields:
            parts.append(_field_text(name, params.get(name)))
        return " · ".join(parts)


def clips_of(results) -> list[Clip]:
    """The clips with a video on disk in a sweep DataFrame, a list of pipeline Results, Clips or paths."""
    clips: list[Clip] = []
    if hasattr(results, "to_dict") and hasattr(results, "columns"):  # a pandas DataFrame
        for row in results.to_dict("records"):
            path = row.get("output_path")
            if row.get("status", COMPLETED) != COMPLETED or not isinstance(path, str) or not path:
                continue
            seed = row.get("seed")
            clips.append(Clip(path, None if seed is None else int(seed),
                              {k: plain_value(row.get(k)) for k in LABEL_FIELDS}))
        return clips
    for item in results:
        if isinstance(item, Clip):
            clips.append(item)
        elif isinstance(item, (str, os.PathLike)):
            clips.append(Clip(str(item)))
        elif hasattr(item, "video_path"):  # a pipeline Result
            clips.append(Clip(str(item.video_path), int(item.seed),
                              {**dict(item.params), "model": getattr(item, "model", None)}))
        else:
            raise TypeError(f"results: expected a sweep DataFrame, Results, Clips or paths, got {type(item).__name__}")
    return clips


def varied_fields(clips: list[Clip]) -> tuple[str, ...]:
    """The label fields whose values differ between ``clips`` (a seed sweep has none)."""
    return tuple(name for name in LABEL_FIELDS
                 if len({repr((c.params or {}).get(name)) for c in clips}) > 1)


def label_patch(text: str, *, max_width: int, height: int) -> Image.Image:
    """White text on a black band, as wide as the text needs (at most ``max_width``)."""
    font = _font(max(10, int(height * 0.75)))
    pad = max(2, height // 6)
    probe_draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    while True:
        left, _, right, _ = probe_draw.textbbox((0, 0), text, font=font)
        if right - left + 2 * pad <= max_width or len(text) <= 4:
            break
        text = text[:-4] + "…"
    width = min(max_width, right - left + 2 * pad)
    patch = Image.new("RGB", (max(1, width), height), _LABEL_BG)
    ImageDraw.Draw(patch).text((pad - left, height // 2), text, font=font, fill=_LABEL_FG, anchor="lm")
    return patch


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _field_text(name: str, value) -> str:
    if name == "model":
        spec = MODELS.get(value) if isinstance(value, str) else None
        return spec.title.replace("Seedance ", "").replace(" Image-to-Video", "") if spec else str(value)
    if name == "duration":
        return f"{value} s"
    if name == "camera_fixed":
        return "fixed camera" if value else "moving camera"
    if name == "generate_audio":
        return "audio on" if value else "audio off"
    if name == "aspect_ratio":
        return str(value) if value else "ratio of the image"
    if name == "prompt":
        text = str(value or "")
        return f'"{text[:24]}…"' if len(text) > 25 else f'"{text}"'
    return str(value)


def plain_value(value):
    """numpy/pandas scalars as plain Python values; NaN and NA as None."""
    if value is None:
        return None
    try:
        if value != value:
            return None
    except (TypeError, ValueError):
        pass
    return value.item() if hasattr(value, "item") and callable(value.item) else value
