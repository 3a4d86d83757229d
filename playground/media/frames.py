"""Decoding videos at another size, frame by frame: thumbnails, posters and a motion score.

>>> spaced_indices(96, 4)
[0, 32, 63, 95]
"""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np

from .probe import video_size

log = logging.getLogger(__name__)


def motion_energy(path: str | os.PathLike, *, width: int = 160) -> float:
    """How much the picture moves: the mean absolute change between consecutive frames, 0 (still) to 1.

    Measured on a small grey copy of every frame, so it is cheap and ignores fine noise. A simple, predictable score
    for picking a sweep's liveliest clip.
    """
    w, h = video_size(path)
    size = even_size((width, max(2, round(width * h / w))))
    previous = None
    total, count = 0.0, 0
    for frame in decode_scaled(path, size):
        grey = frame.astype(np.int16).sum(axis=2)
        if previous is not None:
            total += float(np.abs(grey - previous).mean()) / (3 * 255)
            count += 1
        previous = grey
    return total / count if count else 0.0


def poster(path: str | os.PathLike, *, width: int = 320, before_end_s: float = 1.5) -> Path | None:
    """A JPEG thumbnail beside the video (``<name>-poster.jpg``): the frame ``before_end_s`` before its end (its
    first frame is the input image, the same for every clip of a sweep). None when it cannot be made."""
    source = Path(path)
    out = source.with_name(source.stem + "-poster.jpg")
    if out.is_file():
        return out
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
               "-sseof", f"-{before_end_s}", "-i", str(source), "-frames:v", "1", "-vf", f"scale={int(width)}:-2",
               "-q:v", "4", str(out)]
    try:
        done = subprocess.run(command, capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("no poster for %s: %s", source.name, exc)
        return None
    if done.returncode != 0 or not out.is_file():
        log.warning("no poster for %s: %s", source.name, done.stderr.decode(errors="replace")[-200:])
        out.unlink(missing_ok=True)
        return None
    return out


def spaced_indices(count: int, wanted: int) -> list[int]:
    """``wanted`` frame indices spread evenly over ``count`` frames, first and last included.

    >>> spaced_indices(96, 4)
    [0, 32, 63, 95]
    """
    if count <= 0:
        return []
    if wanted == 1:
        return [count // 2]
    return [round(k * (count - 1) / (wanted - 1)) for k in range(wanted)]


class _ScaledReadNotice(logging.Filter):
    """Drops imageio-ffmpeg's warning that frames are read at another size than stored: here that is the point."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("The frame size for reading")


_SCALED_READ_NOTICE = _ScaledReadNotice()


def decode_scaled(path: str | os.PathLike, size: tuple[int, int]):
    """Every frame of ``path`` as RGB arrays of exactly ``size`` (ffmpeg scales them while decoding)."""
    w, h = size
    logging.getLogger("imageio_ffmpeg").addFilter(_SCALED_READ_NOTICE)  # adding the same filter twice is a no-op
    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24",
                                        output_params=["-vf", f"scale={w}:{h}:flags=area", "-an"])
    try:
        next(reader)  # the metadata
        for raw in reader:
            yield np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3)
    finally:
        reader.close()


def fit_within(size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """``size`` scaled to fit inside ``box`` keeping its shape."""
    w, h = size
    scale = min(box[0] / w, box[1] / h)
    return max(1, min(box[0], round(w * scale))), max(1, min(box[1], round(h * scale)))


def even(value: float) -> int:
    """The nearest even whole number (H.264 in yuv420p needs even sides), at least 2."""
    return max(2, round(value / 2) * 2)


def even_size(size: tuple[int, int]) -> tuple[int, int]:
    return even(size[0]), even(size[1])

