"""Tiled videos: many clips in one grid, playing in sync."""

from __future__ import annotations

import math
import os
from pathlib import Path

import imageio_ffmpeg
import numpy as np

from .frames import decode_scaled, even, even_size, fit_within
from .labels import clips_of, label_patch, varied_fields
from .probe import video_fps, video_size


def side_by_side(results, out_path: str | os.PathLike, *, columns: int | None = None, max_width: int = 1280,
                 labels: bool = True, crf: int = 23) -> Path:
    """One MP4 tiling the clips in a grid so they play in sync (H.264, yuv420p, even dimensions, no audio).

    Each cell is at most the clip's own size and the whole picture at most ``max_width`` wide; clips of other shapes
    are letterboxed; a clip shorter than the longest holds its last frame. Returns the path, written atomically.
    """
    clips = clips_of(results)
    if not clips:
        raise ValueError("results: no completed clip with a video on disk to tile")
    n = len(clips)
    cols = int(columns) if columns else math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    sizes = [video_size(c.path) for c in clips]
    fps = video_fps(clips[0].path) or 24.0
    cell_w = max(2, min(max(w for w, _ in sizes), max_width // cols) // 2 * 2)  # even, within max_width
    cell_h = even(cell_w * max(h / w for w, h in sizes))
    canvas_size = (cols * cell_w, rows * cell_h)
    fields = varied_fields(clips)
    fits = [even_size(fit_within(size, (cell_w, cell_h))) for size in sizes]
    origins = [((i % cols) * cell_w + (cell_w - f[0]) // 2, (i // cols) * cell_h + (cell_h - f[1]) // 2)
               for i, f in enumerate(fits)]
    patches = [np.asarray(label_patch(c.label(fields), max_width=cell_w, height=max(14, cell_h // 12)))
               for c in clips] if labels else []

    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    readers = [decode_scaled(c.path, f) for c, f in zip(clips, fits, strict=True)]
    cells = [(*origin, (i % cols) * cell_w, (i // cols) * cell_h) for i, origin in enumerate(origins)]
    _write_tiles(out, readers, cells, patches, canvas_size, fps, crf)
    return out


def _write_tiles(out: Path, readers: list, cells: list[tuple[int, int, int, int]], patches: list[np.ndarray],
                 canvas_size: tuple[int, int], fps: float, crf: int) -> None:
    """Encode the readers' frames side by side into ``out`` (atomically): each frame at its cell's origin, its label
    patch at the cell's corner; a reader that ran out holds its last frame."""
    tmp = out.with_name(f".{out.stem}.part{out.suffix}")
    last: list[np.ndarray | None] = [None] * len(readers)
    writer = imageio_ffmpeg.write_frames(
        str(tmp), canvas_size, fps=fps, codec="libx264", pix_fmt_in="rgb24", pix_fmt_out="yuv420p", quality=None,
        macro_block_size=1, output_params=["-preset", "veryfast", "-crf", str(int(crf)), "-movflags", "+faststart"])
    writer.send(None)
    try:
        canvas = np.full((canvas_size[1], canvas_size[0], 3), 16, dtype=np.uint8)
        while True:
            advanced = False
            for i, reader in enumerate(readers):
                frame = next(reader, None)
                if frame is not None:
                    last[i], advanced = frame, True
            if not advanced:
                break
            for i, frame in enumerate(last):
                if frame is None:
                    continue
                x, y, cx, cy = cells[i]
                canvas[y:y + frame.shape[0], x:x + frame.shape[1]] = frame
                if patches:
                    patch = patches[i]
                    canvas[cy:cy + patch.shape[0], cx:cx + patch.shape[1]] = patch
            writer.send(canvas.tobytes())
        writer.close()
        os.replace(tmp, out)
    finally:
        for reader in readers:
            reader.close()
        if tmp.exists():
            writer.close()
            tmp.unlink()

