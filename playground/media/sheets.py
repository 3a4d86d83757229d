"""Contact sheets: a labelled grid of evenly spaced frames, one row per clip."""

from __future__ import annotations

from PIL import Image

from .frames import decode_scaled, fit_within, spaced_indices
from .labels import clips_of, label_patch, varied_fields
from .probe import video_size


def contact_sheet(results, frames: int = 6, *, tile_width: int = 256) -> Image.Image:
    """A labelled grid: one row per clip, ``frames`` evenly spaced frames across (first and last included).

    The sheet is exactly ``frames * tile_width`` wide and ``len(clips) * tile_height`` high, where tile_height is
    ``round(tile_width * height / width)`` of the tallest clip; frames of other shapes are letterboxed. Each row's
    first tile carries its label: the seed and the fields that vary between the clips. Rows of failed jobs are left
    out. ``results``: a sweep DataFrame or a list of pipeline Results (or Clips or paths).
    """
    clips = clips_of(results)
    if not clips:
        raise ValueError("results: no completed clip with a video on disk to show")
    if frames < 1:
        raise ValueError(f"frames: {frames} is not allowed; use 1 or more")
    sizes = [video_size(c.path) for c in clips]
    tile_w = int(tile_width)
    tile_h = max(1, round(tile_w * max(h / w for w, h in sizes)))
    fields = varied_fields(clips)
    sheet = Image.new("RGB", (frames * tile_w, len(clips) * tile_h), (24, 24, 24))
    for row, (clip, size) in enumerate(zip(clips, sizes, strict=True)):
        fit = fit_within(size, (tile_w, tile_h))
        thumbs = list(decode_scaled(clip.path, fit))
        if not thumbs:
            raise ValueError(f"{clip.path}: has no frames")
        for col, index in enumerate(spaced_indices(len(thumbs), frames)):
            tile = Image.fromarray(thumbs[index])
            sheet.paste(tile, (col * tile_w + (tile_w - fit[0]) // 2, row * tile_h + (tile_h - fit[1]) // 2))
        label = label_patch(clip.label(fields), max_width=frames * tile_w, height=max(14, tile_h // 8))
        sheet.paste(label, (0, row * tile_h))
    sheet.info["layout"] = {"rows": len(clips), "columns": frames, "tile": (tile_w, tile_h)}
    return sheet

